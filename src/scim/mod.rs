//! The SCIM protocol: the schema registry, resource documents and their normalisation,
//! PATCH, filters resolved against the schema, projection, list and bulk messages, errors.
//! No storage and no HTTP here.

pub mod bulk;
pub mod email;
pub mod error;
pub mod extension;
#[cfg(test)]
mod fuzz;
pub mod license;
pub mod limits;
pub mod list;
pub mod patch;
pub mod projection;
pub mod query;
pub mod resource;
mod roles;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use schema::{Registry, ResourceKind};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ROSTER_USER_SCHEMA: &str = "urn:roster:params:scim:schemas:extension:2.0:User";
/// The read-only License resource type: Roster's core schema and its pool-count extension.
pub const LICENSE_SCHEMA: &str = "urn:roster:params:scim:schemas:core:2.0:License";
pub const ROSTER_LICENSE_SCHEMA: &str = "urn:roster:params:scim:schemas:extension:2.0:License";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// What normalisation rewrote or dropped on the way in, in words for the sync log, plus the
/// attributes no schema of the account defines (counted per connection for the report of
/// unmapped attributes). Reads as the list of its lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notes {
    lines: Vec<String>,
    unmapped: Vec<String>,
}

impl Notes {
    pub fn push(&mut self, line: String) {
        self.lines.push(line);
    }

    /// An attribute (as the client named it) that no schema defines: ignored, with a note
    /// that says how to keep it.
    pub fn unmapped(&mut self, attribute: &str) {
        self.lines.push(format!(
            "ignored '{attribute}': no schema of this account defines it; to keep it, register a schema extension that does (POST /admin/v1/schemas)"
        ));
        if !self.unmapped.iter().any(|a| a == attribute) {
            self.unmapped.push(attribute.to_string());
        }
    }

    pub fn unmapped_attributes(&self) -> &[String] {
        &self.unmapped
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

impl std::ops::Deref for Notes {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.lines
    }
}

impl Extend<String> for Notes {
    fn extend<T: IntoIterator<Item = String>>(&mut self, iter: T) {
        self.lines.extend(iter);
    }
}
