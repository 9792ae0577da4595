#![no_main]
//! Any bytes as a PatchOp body, applied to a fixed user and a fixed group: parsing and
//! applying must not panic, a refusal is a 4xx (never a 500), and what applies passes
//! `finish` again and is a document `normalise` takes as a body.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use roster::scim::{patch, resource, Registry, ResourceKind};
use serde_json::{json, Map, Value};

struct Fixture {
    reg: Registry,
    user: Map<String, Value>,
    group: Map<String, Value>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let reg = Registry::load().expect("schemas load");
        let doc = |kind, body: Value| {
            resource::normalise(&reg, kind, &body, &mut vec![])
                .expect("the fixture is valid")
                .doc
        };
        let user = doc(
            ResourceKind::User,
            json!({
                "userName": "bjensen@example.com",
                "externalId": "ext-1",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "displayName": "Babs",
                "active": true,
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": true},
                    {"value": "babs@home.example", "type": "home"}
                ],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
                "roles": [{"value": "admin"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "department": "Sales",
                    "manager": {"value": "m1"}
                }
            }),
        );
        let group = doc(
            ResourceKind::Group,
            json!({"displayName": "Sales", "externalId": "g-1"}),
        );
        Fixture { reg, user, group }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let f = fixture();
    let mut notes = vec![];
    let ops = match patch::parse_request(&body, &mut notes) {
        Ok(ops) => ops,
        Err(e) => {
            assert!((400..500).contains(&e.status()), "parse_request: {e}");
            return;
        }
    };
    for (kind, doc) in [
        (ResourceKind::User, &f.user),
        (ResourceKind::Group, &f.group),
    ] {
        match patch::apply(&f.reg, kind, doc, &ops, &mut notes) {
            Ok(mut applied) => {
                if let Err(e) = resource::finish(&f.reg, kind, &mut applied.doc) {
                    panic!("finish after apply ({kind:?}): {e}");
                }
                // What PATCH stores, a PUT of the same document would take.
                let doc = Value::Object(applied.doc);
                if let Err(e) = resource::normalise(&f.reg, kind, &doc, &mut vec![]) {
                    panic!("{kind:?} {doc} after PATCH is refused as a body: {e}");
                }
            }
            Err(e) => assert!((400..500).contains(&e.status()), "apply ({kind:?}): {e}"),
        }
    }
});
