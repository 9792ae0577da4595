//! The engine's errors. [`ErrorCode`] is the one table of stable, machine-readable codes and
//! the status each earns: the admin API answers with them and the sync log records them.
//! [`EngineError`] is what an admin operation fails with; [`Fail`] is what a SCIM request
//! fails with (an RFC 7644 error, and the conflict to record once it has rolled back).

use serde::Serialize;

use crate::scim::{ScimError, ScimType};
use crate::store::conflicts::NewConflict;
use crate::store::{StoreError, UniqueKey};

/// Every code the admin API answers with and the sync log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400: the request is wrong; the field says where when one is to blame.
    InvalidJson,
    InvalidSyntax,
    InvalidValue,
    InvalidProduct,
    InvalidEmail,
    InvalidFilter,
    InvalidPath,
    InvalidRule,
    InvalidSchema,
    InvalidSetting,
    InvalidCsv,
    InvalidUser,
    InvalidRequest,
    UnknownField,
    UnknownGroup,
    UnknownColumns,
    MissingColumn,
    ReadOnly,
    NoTarget,
    // 401, 403, 404, 405, 408
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    // 409: the request is fine, the account's state refuses it.
    Uniqueness,
    EmailInUse,
    NoSeat,
    SeatsInUse,
    SchemaInUse,
    /// A hold already released or discarded.
    HoldClosed,
    // 412
    ChangedMeanwhile,
    // 413, 415, 429, 501, 503, 500
    TooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    NotImplemented,
    /// The write collided with others (a deadlock, a serialization failure) and still did
    /// after the engine ran it again.
    Unavailable,
    /// No connection came free in time: the server is overloaded.
    Busy,
    Internal,
}

impl ErrorCode {
    /// The HTTP status of a failure with this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson
            | ErrorCode::InvalidSyntax
            | ErrorCode::InvalidValue
            | ErrorCode::InvalidProduct
            | ErrorCode::InvalidEmail
            | ErrorCode::InvalidFilter
            | ErrorCode::InvalidPath
            | ErrorCode::InvalidRule
            | ErrorCode::InvalidSchema
            | ErrorCode::InvalidSetting
            | ErrorCode::InvalidCsv
            | ErrorCode::InvalidUser
            | ErrorCode::InvalidRequest
            | ErrorCode::UnknownField
            | ErrorCode::UnknownGroup
            | ErrorCode::UnknownColumns
            | ErrorCode::MissingColumn
            | ErrorCode::ReadOnly
            | ErrorCode::NoTarget => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::Uniqueness
            | ErrorCode::EmailInUse
            | ErrorCode::NoSeat
            | ErrorCode::SeatsInUse
            | ErrorCode::SchemaInUse
            | ErrorCode::HoldClosed => 409,
            ErrorCode::ChangedMeanwhile => 412,
            ErrorCode::TooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::NotImplemented => 501,
            ErrorCode::Unavailable | ErrorCode::Busy => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The code as it is written on the wire and in the sync log.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidSyntax => "invalid_syntax",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::InvalidProduct => "invalid_product",
            ErrorCode::InvalidEmail => "invalid_email",
            ErrorCode::InvalidFilter => "invalid_filter",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidRule => "invalid_rule",
            ErrorCode::InvalidSchema => "invalid_schema",
            ErrorCode::InvalidSetting => "invalid_setting",
            ErrorCode::InvalidCsv => "invalid_csv",
            ErrorCode::InvalidUser => "invalid_user",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::UnknownGroup => "unknown_group",
            ErrorCode::UnknownColumns => "unknown_columns",
            ErrorCode::MissingColumn => "missing_column",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::NoTarget => "no_target",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Uniqueness => "uniqueness",
            ErrorCode::EmailInUse => "email_in_use",
            ErrorCode::NoSeat => "no_seat",
            ErrorCode::SeatsInUse => "seats_in_use",
            ErrorCode::SchemaInUse => "schema_in_use",
            ErrorCode::HoldClosed => "hold_closed",
            ErrorCode::ChangedMeanwhile => "changed_meanwhile",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::NotImplemented => "not_implemented",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code of a SCIM failure: the same in the admin API and in the sync log.
    pub fn of_scim(e: &ScimError) -> ErrorCode {
        match e {
            ScimError::BadRequest { scim_type, .. } => match scim_type {
                ScimType::InvalidFilter => ErrorCode::InvalidFilter,
                ScimType::InvalidPath => ErrorCode::InvalidPath,
                ScimType::InvalidSyntax => ErrorCode::InvalidSyntax,
                ScimType::Mutability => ErrorCode::ReadOnly,
                ScimType::NoTarget => ErrorCode::NoTarget,
                ScimType::TooMany => ErrorCode::InvalidRequest,
                ScimType::InvalidValue
                | ScimType::Uniqueness
                | ScimType::InvalidVers
                | ScimType::Sensitive => ErrorCode::InvalidValue,
            },
            ScimError::Invalid { .. } => ErrorCode::InvalidRequest,
            ScimError::Unauthorized { .. } => ErrorCode::Unauthorized,
            ScimError::Forbidden { .. } => ErrorCode::Forbidden,
            ScimError::NotFound { .. } => ErrorCode::NotFound,
            ScimError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ScimError::Conflict { .. } => ErrorCode::Uniqueness,
            ScimError::EmailInUse { .. } => ErrorCode::EmailInUse,
            ScimError::NoSeat { .. } => ErrorCode::NoSeat,
            ScimError::PreconditionFailed { .. } => ErrorCode::ChangedMeanwhile,
            ScimError::PayloadTooLarge { .. } => ErrorCode::TooLarge,
            ScimError::UnsupportedMediaType { .. } => ErrorCode::UnsupportedMediaType,
            ScimError::RequestTimeout { .. } => ErrorCode::RequestTimeout,
            ScimError::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            ScimError::NotImplemented { .. } => ErrorCode::NotImplemented,
            ScimError::Unavailable {
                retry_after_secs, ..
            } => {
                if *retry_after_secs == BUSY_RETRY_AFTER {
                    ErrorCode::Busy
                } else {
                    ErrorCode::Unavailable
                }
            }
            ScimError::Internal { .. } => ErrorCode::Internal,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An admin operation's failure: a code (which decides the status), words for people, and
/// the field to blame when there is one; or an internal failure whose cause is logged and
/// never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{message}")]
    Refused {
        code: ErrorCode,
        message: String,
        field: Option<String>,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// A refusal that names no field.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        EngineError::Refused {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A refusal blamed on one field of the request.
    pub fn invalid(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        EngineError::Refused {
            code,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::Forbidden, message)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        EngineError::Internal(cause.to_string())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::Refused { code, .. } => *code,
            EngineError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// `Retry-After` of a write the database gave up to let another through: running it again
/// at once can succeed, so the engine does, a few times, before answering with it.
pub const CONTENTION_RETRY_AFTER: u64 = 1;
/// `Retry-After` when no connection came free in time: running it again at once would
/// wait as long, so the client is told to come back.
pub const BUSY_RETRY_AFTER: u64 = 5;

/// A write that broke a unique key, in words for the client; anything else is internal.
pub(crate) fn scim_of_store(e: StoreError) -> ScimError {
    match e {
        StoreError::Unique(UniqueKey::UserName) => {
            ScimError::uniqueness("userName is already taken in this account")
        }
        StoreError::Unique(UniqueKey::Email) => ScimError::EmailInUse {
            detail: "the email address is already in use by another account".into(),
        },
        StoreError::Unique(UniqueKey::GroupName) => ScimError::uniqueness(
            "displayName is already taken by another group in this account (names compare case-insensitively)",
        ),
        StoreError::Unique(UniqueKey::ExtValue) => ScimError::uniqueness(
            "another resource of this account already holds this value of a unique custom attribute",
        ),
        StoreError::Unique(UniqueKey::AccountSlug | UniqueKey::Other) => {
            ScimError::uniqueness("a resource with this value already exists")
        }
        StoreError::Contention(_) => ScimError::Unavailable {
            detail: "the write collided with others at the same moment: retry".into(),
            retry_after_secs: CONTENTION_RETRY_AFTER,
        },
        StoreError::Busy => ScimError::Unavailable {
            detail: "the server is busy with other writes: retry shortly".into(),
            retry_after_secs: BUSY_RETRY_AFTER,
        },
        other @ (StoreError::BadUrl(_)
        | StoreError::Sqlx(_)
        | StoreError::Sqlite(_)
        | StoreError::Migrate(_)
        | StoreError::Corrupt(_)) => ScimError::internal(other.to_string()),
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        scim_of_store(e)
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::from(scim_of_store(e))
    }
}

impl From<ScimError> for EngineError {
    fn from(e: ScimError) -> Self {
        match e {
            ScimError::Internal { detail } => EngineError::Internal(detail),
            other => EngineError::refused(ErrorCode::of_scim(&other), other.public_detail()),
        }
    }
}

/// A failed SCIM request, and the conflict to record for the admin once it has rolled back.
#[derive(Debug)]
pub struct Fail {
    pub error: ScimError,
    pub conflict: Option<NewConflict>,
}

impl From<ScimError> for Fail {
    fn from(error: ScimError) -> Self {
        Fail {
            error,
            conflict: None,
        }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::from(scim_of_store(e))
    }
}

impl From<Fail> for EngineError {
    fn from(f: Fail) -> Self {
        EngineError::from(f.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_written_as_serde_writes_them() {
        for code in [
            ErrorCode::InvalidJson,
            ErrorCode::EmailInUse,
            ErrorCode::SeatsInUse,
            ErrorCode::MethodNotAllowed,
            ErrorCode::ChangedMeanwhile,
            ErrorCode::Internal,
        ] {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::String(code.as_str().into()))
            );
        }
    }

    #[test]
    fn a_scim_failure_keeps_its_status_as_an_admin_failure() {
        for e in [
            ScimError::invalid_filter("x"),
            ScimError::not_found("x"),
            ScimError::uniqueness("x"),
            ScimError::EmailInUse { detail: "x".into() },
            ScimError::NoSeat { detail: "x".into() },
            ScimError::MethodNotAllowed {
                detail: "x".into(),
                allow: "GET",
            },
            ScimError::PayloadTooLarge { detail: "x".into() },
        ] {
            assert_eq!(ErrorCode::of_scim(&e).status(), e.status(), "{e}");
        }
    }

    #[test]
    fn a_busy_or_contended_store_is_503_with_retry_after() {
        for (e, code) in [
            (StoreError::Busy, ErrorCode::Busy),
            (
                StoreError::Contention("deadlock".into()),
                ErrorCode::Unavailable,
            ),
        ] {
            let scim = scim_of_store(e);
            assert_eq!(scim.status(), 503);
            assert!(matches!(scim, ScimError::Unavailable { .. }));
            assert_eq!(ErrorCode::of_scim(&scim), code);
        }
    }

    #[test]
    fn unique_keys_become_the_right_conflict() {
        assert_eq!(
            ErrorCode::of_scim(&scim_of_store(StoreError::Unique(UniqueKey::Email))),
            ErrorCode::EmailInUse
        );
        assert_eq!(
            ErrorCode::of_scim(&scim_of_store(StoreError::Unique(UniqueKey::UserName))),
            ErrorCode::Uniqueness
        );
        let group = scim_of_store(StoreError::Unique(UniqueKey::GroupName));
        assert_eq!(group.status(), 409);
        assert_eq!(group.scim_type(), Some(crate::scim::ScimType::Uniqueness));
        assert!(group.public_detail().contains("displayName"));
    }
}
