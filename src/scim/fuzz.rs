//! The SCIM layer's fuzz smoke on the stable toolchain: proptest feeds PatchOp and resource
//! bodies shaped like what identity providers send, and broken the ways they break them,
//! through `patch::parse_request`, `patch::apply`, `resource::normalise` and `finish`.
//! Nothing may panic, bad input is refused with a 4xx (never a 500), what is accepted
//! passes `finish` again, and a patched document is one `normalise` takes as a body.
//! `fuzz/fuzz_targets/{patch,resource}.rs` are the cargo-fuzz (nightly) counterparts.
//!
//! Cases per property: `ROSTER_FUZZ_CASES`, default 256 so that a plain `cargo test` stays
//! fast. CI runs `ROSTER_FUZZ_CASES=20000 cargo test --lib scim::fuzz` (`.ci/run`).

use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::RngAlgorithm;
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::schema::{Registry, ResourceKind};
use super::{patch, resource, Notes};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// A custom extension the fixture's account registered (every kind of attribute).
const CUSTOM: &str = "urn:fuzz:params:scim:schemas:extension:2.0:User";

/// Keys a resource body (or a no-path PATCH value) may hold: every kind of attribute,
/// read-only and unknown ones included, dotted and URN-qualified.
const KEYS: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "meta",
    "meta.version",
    "password",
    "userName",
    "name",
    "name.givenName",
    "name.familyName",
    "name.formatted",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "locale",
    "timezone",
    "active",
    "emails",
    "emails.value",
    "emails.primary",
    "phoneNumbers",
    "addresses",
    "addresses.streetAddress",
    "ims",
    "photos",
    "roles",
    "entitlements",
    "x509Certificates",
    "groups",
    "groups.value",
    "members",
    "members.value",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
    "urn:ietf:params:scim:schemas:core:2.0:User:id",
    "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
    "urn:ietf:params:scim:schemas:core:2.0:Group:members",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:roster:params:scim:schemas:extension:2.0:User",
    "urn:roster:params:scim:schemas:extension:2.0:User:status",
    "urn:roster:params:scim:schemas:extension:2.0:User:seats",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0",
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "manager",
    "department",
    "status",
    "seats",
    CUSTOM,
    "urn:fuzz:params:scim:schemas:extension:2.0:User:costCenter",
    "urn:fuzz:params:scim:schemas:extension:2.0:User:badge",
    "urn:fuzz:params:scim:schemas:extension:2.0:User:tags",
    "urn:fuzz:params:scim:schemas:extension:2.0:User:site",
    "urn:fuzz:params:scim:schemas:extension:2.0:User:site.floor",
    "urn:fuzz:params:scim:schemas:extension:2.0:User:history",
    "urn:fuzz:params:scim:schemas:extension:2.0:User:nope",
    "urn:unregistered:2.0:User:costCenter",
    "costCenter",
];

/// PATCH paths with a value filter, on top of [`KEYS`].
const FILTERED_PATHS: &[&str] = &[
    r#"emails[type eq "work"]"#,
    r#"emails[type eq "work"].value"#,
    r#"emails[primary eq true].value"#,
    r#"emails[value co "@"]"#,
    r#"emails[type eq "work" and primary eq true].display"#,
    r#"emails[not (type eq "home")]"#,
    r#"emails[type pr]"#,
    r#"emails[type eq "work"].bogus"#,
    r#"phoneNumbers[type eq "mobile"].value"#,
    r#"addresses[type eq "work"].streetAddress"#,
    r#"roles[value eq "admin"]"#,
    r#"groups[value eq "g"]"#,
    r#"name[givenName eq "x"]"#,
    r#"userName[value eq "x"]"#,
    r#"members[value eq "x"]"#,
    r#"members[value eq "a" or value eq "b"]"#,
    r#"members[value ne "x"]"#,
    r#"members[display eq "x"]"#,
    r#"members[value eq "x"].display"#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "m"]"#,
];

/// Sub-attribute names, right and wrong, for filters and element objects.
const SUBS: &[&str] = &[
    "value",
    "type",
    "primary",
    "display",
    "$ref",
    "givenName",
    "familyName",
    "streetAddress",
    "displayName",
    "bogus",
];

const OPS: &[&str] = &["add", "replace", "remove"];

const FILTER_OPS: &[&str] = &[
    "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "xx",
];

/// Strings providers send where a typed value belongs, and strings that break things.
const WORDS: &[&str] = &[
    "",
    " ",
    "true",
    "False",
    "TRUE",
    "yes",
    "0",
    "null",
    "2024-05-13T04:42:34Z",
    "2024-13-45T99:99:99Z",
    "bjensen@example.com",
    "work",
    "home",
    "u1",
    "\u{0}",
    "\u{7f}\u{1b}[31m",
    "\u{200b}\u{feff}\u{fffd}",
    "e\u{301}\u{1F600}",
    "\"]) or (",
    "\\",
];

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    " ",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "\"\"",
    "\"Operations\"",
    "\"op\"",
    "\"Add\"",
    "\"remove\"",
    "\"path\"",
    "\"value\"",
    "\"members\"",
    "\"userName\"",
    "\"displayName\"",
    "\"emails\"",
    "\"active\"",
    "\"emails[type eq \\\"work\\\"].value\"",
    "\"\\u0000\"",
    "\"\\ud83d\\ude00\"",
];

type Document = Map<String, Value>;

struct Fixture {
    reg: Registry,
    user: Document,
    group: Document,
}

/// The registry, and a user and a group as the store would hold them.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let builtin = Registry::load().expect("the schemas load");
        let custom = super::extension::check(
            &json!({"id": CUSTOM, "attributes": [
                {"name": "costCenter", "type": "string", "uniqueness": "server"},
                {"name": "badge", "type": "integer"},
                {"name": "since", "type": "dateTime"},
                {"name": "flag", "type": "boolean", "required": false},
                {"name": "tags", "type": "string", "multiValued": true, "caseExact": true},
                {"name": "site", "type": "complex", "subAttributes": [
                    {"name": "city", "type": "string"}, {"name": "floor", "type": "decimal"}]},
                {"name": "history", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"}, {"name": "type", "type": "string"}]}
            ]}),
            None,
            &builtin,
        )
        .expect("the custom extension is valid");
        let reg = builtin.with_custom(vec![(custom.kind, custom.schema)]);
        let doc = |kind, body: Value| {
            resource::normalise(&reg, kind, &body, &mut Notes::default())
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
                ENTERPRISE: {"department": "Sales", "manager": {"value": "m1"}},
                CUSTOM: {"costCenter": "R&D", "badge": 7, "tags": ["a", "b"], "site": {"city": "Oslo"},
                         "history": [{"value": "x", "type": "t"}]}
            }),
        );
        let group = doc(
            ResourceKind::Group,
            json!({"displayName": "Sales", "externalId": "g-1"}),
        );
        Fixture { reg, user, group }
    })
}

/// `ROSTER_FUZZ_CASES` cases per property (default 256).
fn config() -> ProptestConfig {
    let cases = std::env::var("ROSTER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        // ChaCha, the default, dominates an unoptimised test build's time; any RNG will do.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

/// Flips the ASCII case of the characters `mask` selects.
fn random_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if (mask >> (i % 64)) & 1 == 1 {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

// The strategies are boxed: unboxed, their nested types give proptest stack frames big
// enough to overflow a test thread in a debug build.

/// A name as written, or in random case half the time.
fn cased(names: &'static [&'static str]) -> BoxedStrategy<String> {
    (select(names), any::<u64>(), any::<bool>())
        .prop_map(
            |(n, mask, flip)| {
                if flip {
                    random_case(n, mask)
                } else {
                    n.into()
                }
            },
        )
        .boxed()
}

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(WORDS).prop_map(String::from),
        2 => cased(KEYS),
        3 => any::<String>(),
        1 => "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{2028}\\u{202e}]{0,12}",
        // Over the grammar's 64 KiB limit, and some way under it.
        1 => (0usize..70_000, select(&["x", "(", "emails[", "é", "a.b"][..]))
            .prop_map(|(n, unit)| unit.repeat(n / unit.len().max(1))),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Not finite becomes null.
        any::<f64>().prop_map(Value::from),
        select(&[0i64, 1, -1, i64::MIN, i64::MAX][..]).prop_map(Value::from),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => number(),
        3 => text().prop_map(Value::String),
    ]
    .boxed()
}

fn object(pairs: Vec<(String, Value)>) -> Value {
    Value::Object(pairs.into_iter().collect())
}

/// Any JSON, a few levels deep, with keys that are often real attribute names.
fn json() -> BoxedStrategy<Value> {
    let key = || prop_oneof![2 => cased(KEYS), 2 => cased(SUBS), 1 => text()];
    let nested = leaf().prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key(), inner), 0..6).prop_map(object),
        ]
    });
    prop_oneof![
        8 => nested,
        // Deep nesting, up to serde_json's own recursion limit for a body.
        1 => (leaf(), 0usize..127, any::<bool>()).prop_map(|(mut v, depth, arrays)| {
            for _ in 0..depth {
                v = if arrays { json!([v]) } else { json!({ "value": v }) };
            }
            v
        }),
    ]
    .boxed()
}

/// Values shaped like attribute values: elements of multi-valued attributes, members,
/// extension objects, booleans as strings.
fn shaped() -> BoxedStrategy<Value> {
    let element = || vec((cased(SUBS), leaf()), 0..5).prop_map(object);
    prop_oneof![
        element(),
        vec(prop_oneof![3 => element(), 1 => leaf()], 0..5).prop_map(Value::Array),
        vec(
            prop_oneof![
                text().prop_map(|id| json!({ "value": id })),
                text().prop_map(Value::String),
                json(),
            ],
            0..5
        )
        .prop_map(Value::Array),
        vec((cased(KEYS), prop_oneof![leaf(), json()]), 0..6).prop_map(object),
        select(&["true", "false", "True", "FALSE", "yes", ""][..]).prop_map(Value::from),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<Value> {
    prop_oneof![json(), shaped()].boxed()
}

/// A filtered path built from parts: `attr[sub op literal].sub`, often broken.
fn built_path() -> BoxedStrategy<String> {
    let literal = prop_oneof![
        text().prop_map(|s| Value::String(s).to_string()),
        select(&["true", "false", "null", "42", "-1.5e3", "1e400", "\"", "x"][..])
            .prop_map(String::from),
    ];
    (
        cased(KEYS),
        cased(SUBS),
        select(FILTER_OPS),
        literal,
        proptest::option::of(cased(SUBS)),
        any::<bool>(),
    )
        .prop_map(|(attr, sub, op, lit, tail, close)| {
            let mut p = format!("{attr}[{sub} {op} {lit}");
            if close {
                p.push(']');
            }
            if let Some(t) = tail {
                p.push('.');
                p.push_str(&t);
            }
            p
        })
        .boxed()
}

/// A value filter at the grammar's limits: up to 1000 terms, nested up to 64 deep.
fn long_filter_path() -> BoxedStrategy<String> {
    (
        select(&["emails", "members", "roles", "phoneNumbers"][..]),
        1usize..1100,
        select(&[" or ", " and ", " OR "][..]),
        select(
            &[
                "value eq \"u\"",
                "type eq \"work\"",
                "primary eq true",
                "value pr",
            ][..],
        ),
        0usize..70,
        proptest::option::of(cased(SUBS)),
    )
        .prop_map(|(attr, terms, join, term, depth, tail)| {
            let chain = vec![term; terms].join(join);
            let open = "not (".repeat(depth);
            let close = ")".repeat(depth);
            let tail = tail.map(|t| format!(".{t}")).unwrap_or_default();
            format!("{attr}[{open}{chain}{close}]{tail}")
        })
        .boxed()
}

fn path() -> BoxedStrategy<String> {
    prop_oneof![
        8 => cased(KEYS),
        6 => cased(FILTERED_PATHS),
        3 => built_path(),
        1 => long_filter_path(),
        1 => (cased(KEYS), text()).prop_map(|(p, junk)| format!("{p}{junk}")),
        1 => text(),
    ]
    .boxed()
}

/// A field of an operation: present under its name in some case, or absent once in
/// `1 + present` times.
fn field(
    name: &'static str,
    present: u32,
    v: impl Strategy<Value = Value> + 'static,
) -> BoxedStrategy<Option<(String, Value)>> {
    let name = (any::<u64>(), any::<bool>()).prop_map(move |(mask, flip)| {
        if flip {
            random_case(name, mask)
        } else {
            name.to_string()
        }
    });
    prop_oneof![1 => Just(None), present => (name, v).prop_map(Some)].boxed()
}

/// One operation: mostly well-formed, so that the operations after it run too.
fn operation() -> BoxedStrategy<Value> {
    let op = prop_oneof![24 => cased(OPS).prop_map(Value::String), 1 => leaf()];
    let path = prop_oneof![
        16 => path().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => leaf(),
    ];
    let shaped_op = (
        field("op", 24, op),
        field("path", 6, path),
        field("value", 12, value()),
        proptest::option::of((text(), leaf())),
    )
        .prop_map(|(op, path, value, junk)| {
            object(
                op.into_iter()
                    .chain(path)
                    .chain(value)
                    .chain(junk)
                    .collect(),
            )
        });
    prop_oneof![32 => shaped_op, 1 => json()].boxed()
}

fn patch_body() -> BoxedStrategy<Value> {
    let with_ops = |key: BoxedStrategy<String>, ops: BoxedStrategy<Value>| {
        (key, ops, any::<bool>()).prop_map(|(key, ops, schemas)| {
            let mut body = Map::new();
            if schemas {
                body.insert(
                    "schemas".into(),
                    json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]),
                );
            }
            body.insert(key, ops);
            Value::Object(body)
        })
    };
    let well_formed = prop_oneof![
        4 => Just("Operations".to_string()),
        1 => any::<u64>().prop_map(|m| random_case("Operations", m)),
    ]
    .boxed();
    prop_oneof![
        24 => with_ops(well_formed, vec(operation(), 1..6).prop_map(Value::Array).boxed()),
        1 => with_ops(Just("Operations".into()).boxed(), json()),
        1 => with_ops(text(), vec(operation(), 1..3).prop_map(Value::Array).boxed()),
        1 => json(),
    ]
    .boxed()
}

fn resource_body() -> BoxedStrategy<Value> {
    // The required attributes often present, so that accepted bodies are common too.
    let required = |name: &'static str| {
        prop_oneof![
            3 => text().prop_map(Value::String).prop_map(Some),
            1 => leaf().prop_map(Some),
            1 => Just(None),
        ]
        .prop_map(move |v| v.map(|v| (name.to_string(), v)))
    };
    let attr_value = prop_oneof![
        3 => select(WORDS).prop_map(Value::from),
        2 => shaped(),
        2 => value(),
    ];
    let attrs = vec((cased(KEYS), attr_value), 0..6);
    prop_oneof![
        8 => (required("userName"), required("displayName"), attrs).prop_map(
            |(user_name, display_name, attrs)| {
                object(user_name.into_iter().chain(display_name).chain(attrs).collect())
            }
        ),
        1 => json(),
    ]
    .boxed()
}

/// Bad input is the client's fault: a 4xx.
fn is_4xx(what: &str, e: &ScimError) -> Result<(), TestCaseError> {
    prop_assert!(
        (400..500).contains(&e.status()),
        "{} gave {} for bad input",
        what,
        e
    );
    Ok(())
}

/// Parses `body` and applies it to each document; each result passes `finish` again and
/// is a document `normalise` accepts.
fn check_patch(body: &Value, docs: &[(ResourceKind, &Document)]) -> Result<(), TestCaseError> {
    let reg = &fixture().reg;
    let mut notes = Notes::default();
    let ops = match patch::parse_request(body, &mut notes) {
        Ok(ops) => ops,
        Err(e) => return is_4xx("parse_request", &e),
    };
    for (kind, doc) in docs {
        match patch::apply(reg, *kind, doc, &ops, &mut notes) {
            Ok(mut applied) => {
                if let Err(e) = resource::finish(reg, *kind, &mut applied.doc) {
                    prop_assert!(false, "finish refused an applied {:?}: {}", kind, e);
                }
                // What PATCH stores, a PUT of the same document would take: no value of the
                // wrong type, nothing outside the schema.
                let doc = Value::Object(applied.doc);
                if let Err(e) = resource::normalise(reg, *kind, &doc, &mut Notes::default()) {
                    prop_assert!(
                        false,
                        "{:?} {} after PATCH is refused as a body: {}",
                        kind,
                        doc,
                        e
                    );
                }
            }
            Err(e) => is_4xx("apply", &e)?,
        }
    }
    Ok(())
}

/// Normalises `body` as each kind; what is accepted passes `finish` again.
fn check_resource(body: &Value) -> Result<Vec<(ResourceKind, Document)>, TestCaseError> {
    let reg = &fixture().reg;
    let mut accepted = vec![];
    for kind in [ResourceKind::User, ResourceKind::Group] {
        match resource::normalise(reg, kind, body, &mut Notes::default()) {
            Ok(mut n) => {
                if let Err(e) = resource::finish(reg, kind, &mut n.doc) {
                    prop_assert!(false, "finish refused a normalised {:?}: {}", kind, e);
                }
                // Indexing a custom attribute's values refuses (a 400) only an over-long one.
                if let Err(e) = super::extension::indexed_values(reg, kind, &n.doc) {
                    prop_assert!(e.contains("at most"), "indexing refused {:?}: {}", kind, e);
                }
                accepted.push((kind, n.doc));
            }
            Err(e) => is_4xx("normalise", &e)?,
        }
    }
    Ok(accepted)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn patch_never_panics_nor_500s(body in patch_body()) {
        let f = fixture();
        check_patch(&body, &[(ResourceKind::User, &f.user), (ResourceKind::Group, &f.group)])?;
    }

    #[test]
    fn resource_never_panics_nor_500s(body in resource_body()) {
        check_resource(&body)?;
    }

    /// PATCH on whatever normalisation accepted, not only on the tidy fixtures.
    #[test]
    fn patch_on_normalised_resources(res in resource_body(), body in patch_body()) {
        let accepted = check_resource(&res)?;
        let docs: Vec<_> = accepted.iter().map(|(k, d)| (*k, d)).collect();
        check_patch(&body, &docs)?;
    }

    /// Bytes as the HTTP layer reads them: JSON tokens in any order, and stray bytes.
    #[test]
    fn token_soup_never_panics(parts in vec(prop_oneof![
        8 => select(JSON_TOKENS).prop_map(|t| t.as_bytes().to_vec()),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ], 0..48)) {
        if let Ok(body) = serde_json::from_slice::<Value>(&parts.concat()) {
            let f = fixture();
            check_patch(&body, &[(ResourceKind::User, &f.user), (ResourceKind::Group, &f.group)])?;
            check_resource(&body)?;
        }
    }
}
