//! The SCIM protocol: the schema registry, resource documents and their normalisation,
//! PATCH, filters resolved against the schema, projection, list and bulk messages, errors.
//! No storage and no HTTP here.

pub mod bulk;
pub mod email;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod limits;
pub mod list;
pub mod patch;
pub mod projection;
pub mod query;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use schema::{Registry, ResourceKind};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ROSTER_USER_SCHEMA: &str = "urn:roster:params:scim:schemas:extension:2.0:User";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// What normalisation rewrote or dropped on the way in, in words for the sync log.
pub type Notes = Vec<String>;
