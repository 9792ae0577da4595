#![no_main]
//! Any bytes as a POST/PUT body for a user and for a group: normalising must not panic, a
//! refusal is a 4xx (never a 500), and what normalises passes `finish` again.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use roster::scim::{resource, Registry, ResourceKind};
use serde_json::Value;

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| Registry::load().expect("schemas load"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let reg = registry();
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let mut notes = vec![];
        match resource::normalise(reg, kind, &body, &mut notes) {
            Ok(mut n) => {
                if let Err(e) = resource::finish(reg, kind, &mut n.doc) {
                    panic!("finish after normalise ({kind:?}): {e}");
                }
            }
            Err(e) => assert!(
                (400..500).contains(&e.status()),
                "normalise ({kind:?}): {e}"
            ),
        }
    }
});
