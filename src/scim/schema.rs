//! The schema registry: the JSON documents in `schemas/`, read once, are the only description
//! of every attribute (type, case, mutability, `returned`) and of discovery.

use serde::Deserialize;
use serde_json::Value;

use super::error::ScimError;
use super::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, ROSTER_USER_SCHEMA, USER_SCHEMA};
use super::{LICENSE_SCHEMA, ROSTER_LICENSE_SCHEMA};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// Whether values of an attribute must be unique (RFC 7643 §2.2). Roster enforces `server` in
/// the database (userName; custom attributes through their indexed values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: AttrType,
    pub multi_valued: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    #[serde(default)]
    pub uniqueness: Uniqueness,
    #[serde(default)]
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    pub fn sub(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub id: String,
    pub attributes: Vec<Attribute>,
    /// The document as served by `/Schemas`.
    pub doc: Value,
    /// An extension an account registered (`POST /admin/v1/schemas`), not a built-in one.
    pub custom: bool,
}

impl Schema {
    pub(crate) fn from_doc(doc: Value) -> Result<Schema, String> {
        #[derive(Deserialize)]
        struct Shape {
            id: String,
            attributes: Vec<Attribute>,
        }
        let shape: Shape = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
        Ok(Schema {
            id: shape.id,
            attributes: shape.attributes,
            doc,
            custom: false,
        })
    }

    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// The two resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }
}

/// Where an attribute path leads.
#[derive(Debug, Clone, Copy)]
pub enum Target<'r> {
    /// An attribute, with a sub-attribute when the path names one.
    Attr(Resolved<'r>),
    /// A whole extension, as in a PATCH path of just the extension's URN.
    Extension(&'r Schema),
}

#[derive(Debug, Clone, Copy)]
pub struct Resolved<'r> {
    /// The extension URN when the attribute belongs to one (its key in the document).
    pub ext: Option<&'r str>,
    pub attr: &'r Attribute,
    pub sub: Option<&'r Attribute>,
    /// `id`, `externalId` or `meta`: held in columns, not in the document.
    pub common: bool,
}

/// The schemas of one account: the built-in ones (`Registry::load`), plus the extensions the
/// account registered (`Registry::with_custom`). Without an account (discovery called with
/// no credential) it is the built-in set.
#[derive(Debug, Clone)]
pub struct Registry {
    user: Schema,
    group: Schema,
    /// User extensions: enterprise, then Roster's own, then the account's.
    user_extensions: Vec<Schema>,
    /// The account's group extensions.
    group_extensions: Vec<Schema>,
    common: Schema,
    resource_types: Value,
    service_provider_config: Value,
    /// The read-only License resource type (`/Licenses`): its core schema, then Roster's
    /// extension with the pool's counts.
    licenses: Vec<Schema>,
}

const USER_JSON: &str = include_str!("../../schemas/User.json");
const GROUP_JSON: &str = include_str!("../../schemas/Group.json");
const ENTERPRISE_JSON: &str = include_str!("../../schemas/EnterpriseUser.json");
const ROSTER_USER_JSON: &str = include_str!("../../schemas/RosterUser.json");
const COMMON_JSON: &str = include_str!("../../schemas/common.json");
const RESOURCE_TYPES_JSON: &str = include_str!("../../schemas/ResourceTypes.json");
const SPC_JSON: &str = include_str!("../../schemas/ServiceProviderConfig.json");
const LICENSE_JSON: &str = include_str!("../../schemas/License.json");
const ROSTER_LICENSE_JSON: &str = include_str!("../../schemas/RosterLicense.json");

impl Registry {
    /// Reads the documents compiled into the binary from `schemas/`.
    pub fn load() -> Result<Registry, String> {
        let parse = |name: &str, text: &str| -> Result<Value, String> {
            serde_json::from_str(text).map_err(|e| format!("schemas/{name}: {e}"))
        };
        let schema = |name: &str, text: &str| -> Result<Schema, String> {
            Schema::from_doc(parse(name, text)?).map_err(|e| format!("schemas/{name}: {e}"))
        };
        let mut common = parse("common.json", COMMON_JSON)?;
        if let Some(obj) = common.as_object_mut() {
            obj.insert("id".into(), "common".into());
        }
        let registry = Registry {
            user: schema("User.json", USER_JSON)?,
            group: schema("Group.json", GROUP_JSON)?,
            user_extensions: vec![
                schema("EnterpriseUser.json", ENTERPRISE_JSON)?,
                schema("RosterUser.json", ROSTER_USER_JSON)?,
            ],
            group_extensions: vec![],
            common: Schema::from_doc(common).map_err(|e| format!("schemas/common.json: {e}"))?,
            resource_types: parse("ResourceTypes.json", RESOURCE_TYPES_JSON)?,
            service_provider_config: parse("ServiceProviderConfig.json", SPC_JSON)?,
            licenses: vec![
                schema("License.json", LICENSE_JSON)?,
                schema("RosterLicense.json", ROSTER_LICENSE_JSON)?,
            ],
        };
        let ids = [
            USER_SCHEMA,
            GROUP_SCHEMA,
            ENTERPRISE_USER_SCHEMA,
            ROSTER_USER_SCHEMA,
        ];
        let loaded = [&registry.user, &registry.group]
            .into_iter()
            .chain(registry.user_extensions.iter());
        for (schema, id) in loaded.zip(ids) {
            if schema.id != id {
                return Err(format!("schema {} should have id {id}", schema.id));
            }
        }
        for (schema, id) in registry
            .licenses
            .iter()
            .zip([LICENSE_SCHEMA, ROSTER_LICENSE_SCHEMA])
        {
            if schema.id != id {
                return Err(format!("schema {} should have id {id}", schema.id));
            }
        }
        Ok(registry)
    }

    pub fn core(&self, kind: ResourceKind) -> &Schema {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    /// This registry with an account's extensions added after the built-in ones.
    pub fn with_custom(&self, custom: Vec<(ResourceKind, Schema)>) -> Registry {
        let mut reg = self.clone();
        for (kind, mut schema) in custom {
            schema.custom = true;
            match kind {
                ResourceKind::User => reg.user_extensions.push(schema),
                ResourceKind::Group => reg.group_extensions.push(schema),
            }
        }
        reg
    }

    pub fn extensions(&self, kind: ResourceKind) -> &[Schema] {
        match kind {
            ResourceKind::User => &self.user_extensions,
            ResourceKind::Group => &self.group_extensions,
        }
    }

    /// The account's own extensions of `kind`.
    pub fn custom(&self, kind: ResourceKind) -> impl Iterator<Item = &Schema> {
        self.extensions(kind).iter().filter(|s| s.custom)
    }

    /// Whether `urn` is an extension the account registered.
    pub fn is_custom(&self, kind: ResourceKind, urn: &str) -> bool {
        self.extension(kind, urn).is_some_and(|s| s.custom)
    }

    /// Any schema of this registry, built-in or registered, by id (any case).
    pub fn schema(&self, id: &str) -> Option<&Schema> {
        self.all_schemas().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    pub fn extension(&self, kind: ResourceKind, urn: &str) -> Option<&Schema> {
        self.extensions(kind)
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    pub fn common_attr(&self, name: &str) -> Option<&Attribute> {
        self.common.attr(name)
    }

    pub fn schema_docs(&self) -> Vec<&Value> {
        self.all_schemas().map(|s| &s.doc).collect()
    }

    fn all_schemas(&self) -> impl Iterator<Item = &Schema> {
        [&self.user, &self.group]
            .into_iter()
            .chain(self.user_extensions.iter())
            .chain(self.group_extensions.iter())
            .chain(self.licenses.iter())
    }

    pub fn schema_doc(&self, id: &str) -> Option<&Value> {
        self.schema(id).map(|s| &s.doc)
    }

    /// The resource types, each listing the account's extensions in `schemaExtensions`.
    pub fn resource_type_docs(&self) -> Vec<Value> {
        let mut docs: Vec<Value> = self.resource_types.as_array().cloned().unwrap_or_default();
        for doc in &mut docs {
            let kind = match doc.get("id").and_then(Value::as_str) {
                Some("User") => ResourceKind::User,
                Some("Group") => ResourceKind::Group,
                _ => continue,
            };
            let added: Vec<Value> = self
                .custom(kind)
                .map(|s| serde_json::json!({ "schema": s.id, "required": false }))
                .collect();
            if added.is_empty() {
                continue;
            }
            if let Some(Value::Array(exts)) = doc.get_mut("schemaExtensions") {
                exts.extend(added);
            }
        }
        docs
    }

    /// The License resource type's schemas: core, then Roster's extension.
    pub fn license_schemas(&self) -> &[Schema] {
        &self.licenses
    }

    pub fn service_provider_config(&self) -> &Value {
        &self.service_provider_config
    }

    fn spc_number(&self, section: &str, key: &str, fallback: u64) -> u64 {
        self.service_provider_config
            .get(section)
            .and_then(|s| s.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(fallback)
    }

    /// The most resources one list response holds (`filter.maxResults`).
    pub fn max_results(&self) -> u64 {
        self.spc_number("filter", "maxResults", 1000)
    }

    pub fn bulk_max_operations(&self) -> u64 {
        self.spc_number("bulk", "maxOperations", 1000)
    }

    pub fn bulk_max_payload(&self) -> u64 {
        self.spc_number("bulk", "maxPayloadSize", 1_048_576)
    }

    /// Resolves `[uri:]name[.sub]` against the resource type: case-insensitive names, the
    /// core schema for unqualified names (then the common attributes, then a unique match
    /// in an extension), an extension's URN for qualified ones.
    pub fn resolve(
        &self,
        kind: ResourceKind,
        uri: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Result<Target<'_>, ScimError> {
        let unknown = || {
            let shown = match (uri, sub) {
                (Some(u), Some(s)) => format!("{u}:{name}.{s}"),
                (Some(u), None) => format!("{u}:{name}"),
                (None, Some(s)) => format!("{name}.{s}"),
                (None, None) => name.to_string(),
            };
            ScimError::invalid_path(format!("'{shown}' is not an attribute of {}", kind.name()))
        };
        let core = self.core(kind);
        let (ext, attr, common) = match uri {
            // Common attributes first: `externalId` is also listed in the core schemas (for
            // discovery) but lives in a column.
            Some(u) if u.eq_ignore_ascii_case(&core.id) => match self.common.attr(name) {
                Some(a) => (None, a, true),
                None => match core.attr(name) {
                    Some(a) => (None, a, false),
                    None => return Err(unknown()),
                },
            },
            Some(u) => {
                let full = format!("{u}:{name}");
                if let (Some(schema), None) = (self.extension(kind, &full), sub) {
                    return Ok(Target::Extension(schema));
                }
                let schema = self.extension(kind, u).ok_or_else(unknown)?;
                let attr = schema.attr(name).ok_or_else(unknown)?;
                (Some(schema.id.as_str()), attr, false)
            }
            None => {
                if let Some(a) = self.common.attr(name) {
                    (None, a, true)
                } else if let Some(a) = core.attr(name) {
                    (None, a, false)
                } else {
                    let mut found = self
                        .extensions(kind)
                        .iter()
                        .filter_map(|s| s.attr(name).map(|a| (s, a)));
                    match (found.next(), found.next()) {
                        (Some((s, a)), None) => (Some(s.id.as_str()), a, false),
                        _ => return Err(unknown()),
                    }
                }
            }
        };
        let sub = match sub {
            None => None,
            Some(s) => Some(attr.sub(s).ok_or_else(unknown)?),
        };
        Ok(Target::Attr(Resolved {
            ext,
            attr,
            sub,
            common,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_load_and_resolve() {
        let r = Registry::load().unwrap();
        let Target::Attr(res) = r
            .resolve(ResourceKind::User, None, "USERNAME", None)
            .unwrap()
        else {
            panic!("userName is an attribute")
        };
        assert_eq!(res.attr.name, "userName");
        let Target::Attr(res) = r
            .resolve(
                ResourceKind::User,
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                "Manager",
                Some("Value"),
            )
            .unwrap()
        else {
            panic!("manager.value is an attribute")
        };
        assert_eq!(res.ext, Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(res.sub.map(|s| s.name.as_str()), Some("value"));
        assert!(matches!(
            r.resolve(
                ResourceKind::User,
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0"),
                "User",
                None
            ),
            Ok(Target::Extension(_))
        ));
        assert!(r.resolve(ResourceKind::User, None, "nope", None).is_err());
        assert!(r
            .resolve(ResourceKind::Group, None, "members", Some("value"))
            .is_ok());
        assert_eq!(r.max_results(), 1000);
        assert!(r.schema_doc(USER_SCHEMA).is_some());
        assert_eq!(r.resource_type_docs().len(), 3);
        assert!(r.schema_doc(LICENSE_SCHEMA).is_some());
    }

    #[test]
    fn external_id_is_served_in_the_core_schemas_and_resolves_to_its_column() {
        let r = Registry::load().unwrap();
        for (kind, id) in [
            (ResourceKind::User, USER_SCHEMA),
            (ResourceKind::Group, GROUP_SCHEMA),
        ] {
            let served = r.schema_doc(id).unwrap()["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == "externalId")
                .cloned()
                .unwrap();
            assert_eq!(served["caseExact"], true);
            assert_eq!(served["mutability"], "readWrite");
            assert_eq!(served["returned"], "default");
            assert_eq!(served["uniqueness"], "none");
            for uri in [None, Some(id)] {
                let Target::Attr(res) = r.resolve(kind, uri, "EXTERNALID", None).unwrap() else {
                    panic!("externalId is an attribute")
                };
                assert!(res.common, "{kind:?} {uri:?}");
                assert_eq!(res.attr.name, "externalId");
            }
        }
    }
}
