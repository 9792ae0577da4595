//! The SCIM error (RFC 7644 §3.12): an HTTP status, an optional `scimType` and a detail an
//! admin can act on. `http/` turns it into the response body.

use std::fmt;

/// RFC 7644 §3.12, Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

/// What went wrong, by the status it earns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimError {
    /// 400 with a `scimType`.
    BadRequest {
        scim_type: ScimType,
        detail: String,
    },
    /// 400 without a `scimType` (none of Table 9 fits).
    Invalid {
        detail: String,
    },
    Unauthorized {
        detail: String,
    },
    Forbidden {
        detail: String,
    },
    NotFound {
        detail: String,
    },
    /// 405: the endpoint exists, but not for this method; `allow` lists the methods it
    /// takes (the `Allow` header).
    MethodNotAllowed {
        detail: String,
        allow: &'static str,
    },
    /// 409, `uniqueness`.
    Conflict {
        detail: String,
    },
    /// 409, `uniqueness`: the email belongs to a user of another account (one person, one
    /// account). The same answer on the wire as [`ScimError::Conflict`]; apart so that the
    /// sync log and the admin API can tell the two without reading the detail.
    EmailInUse {
        detail: String,
    },
    /// 409 without a `scimType`: no free seat and the account refuses to waitlist.
    NoSeat {
        detail: String,
    },
    /// 408: the request body stopped arriving.
    RequestTimeout {
        detail: String,
    },
    /// 412: `If-Match` named another version.
    PreconditionFailed {
        detail: String,
    },
    /// 413: payload or operation count over the advertised limit.
    PayloadTooLarge {
        detail: String,
    },
    /// 415: a body in a media type other than JSON.
    UnsupportedMediaType {
        detail: String,
    },
    /// 429
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// 503: the server is too busy to take the write now; `Retry-After` says when to try.
    Unavailable {
        detail: String,
        retry_after_secs: u64,
    },
    /// 501
    NotImplemented {
        detail: String,
    },
    /// 500; the detail is never shown to the client.
    Internal {
        detail: String,
    },
}

impl ScimError {
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError::BadRequest {
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidFilter, detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidPath, detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::NoTarget, detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::Mutability, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError::NotFound {
            detail: detail.into(),
        }
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError::Conflict {
            detail: detail.into(),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ScimError::Internal {
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ScimError::BadRequest { .. } | ScimError::Invalid { .. } => 400,
            ScimError::Unauthorized { .. } => 401,
            ScimError::Forbidden { .. } => 403,
            ScimError::NotFound { .. } => 404,
            ScimError::MethodNotAllowed { .. } => 405,
            ScimError::Conflict { .. }
            | ScimError::EmailInUse { .. }
            | ScimError::NoSeat { .. } => 409,
            ScimError::RequestTimeout { .. } => 408,
            ScimError::PreconditionFailed { .. } => 412,
            ScimError::PayloadTooLarge { .. } => 413,
            ScimError::UnsupportedMediaType { .. } => 415,
            ScimError::TooManyRequests { .. } => 429,
            ScimError::NotImplemented { .. } => 501,
            ScimError::Unavailable { .. } => 503,
            ScimError::Internal { .. } => 500,
        }
    }

    pub fn scim_type(&self) -> Option<ScimType> {
        match self {
            ScimError::BadRequest { scim_type, .. } => Some(*scim_type),
            ScimError::Conflict { .. } | ScimError::EmailInUse { .. } => Some(ScimType::Uniqueness),
            ScimError::Invalid { .. }
            | ScimError::Unauthorized { .. }
            | ScimError::Forbidden { .. }
            | ScimError::NotFound { .. }
            | ScimError::MethodNotAllowed { .. }
            | ScimError::NoSeat { .. }
            | ScimError::RequestTimeout { .. }
            | ScimError::PreconditionFailed { .. }
            | ScimError::PayloadTooLarge { .. }
            | ScimError::UnsupportedMediaType { .. }
            | ScimError::TooManyRequests { .. }
            | ScimError::NotImplemented { .. }
            | ScimError::Unavailable { .. }
            | ScimError::Internal { .. } => None,
        }
    }

    /// The detail a client may see: internal errors say nothing of their cause.
    pub fn public_detail(&self) -> &str {
        match self {
            ScimError::Internal { .. } => "internal server error",
            ScimError::BadRequest { detail, .. }
            | ScimError::Invalid { detail }
            | ScimError::Unauthorized { detail }
            | ScimError::Forbidden { detail }
            | ScimError::NotFound { detail }
            | ScimError::MethodNotAllowed { detail, .. }
            | ScimError::Conflict { detail }
            | ScimError::EmailInUse { detail }
            | ScimError::NoSeat { detail }
            | ScimError::RequestTimeout { detail }
            | ScimError::PreconditionFailed { detail }
            | ScimError::PayloadTooLarge { detail }
            | ScimError::UnsupportedMediaType { detail }
            | ScimError::TooManyRequests { detail, .. }
            | ScimError::Unavailable { detail, .. }
            | ScimError::NotImplemented { detail } => detail,
        }
    }

    /// The RFC 7644 §3.12 body.
    pub fn to_body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "schemas": [crate::scim::ERROR_SCHEMA],
            "status": self.status().to_string(),
            "detail": self.public_detail(),
        });
        if let (Some(t), Some(obj)) = (self.scim_type(), body.as_object_mut()) {
            obj.insert("scimType".into(), t.as_str().into());
        }
        body
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = match self {
            ScimError::Internal { detail } => detail.as_str(),
            other => other.public_detail(),
        };
        match self.scim_type() {
            Some(t) => write!(f, "{} {}: {detail}", self.status(), t.as_str()),
            None => write!(f, "{}: {detail}", self.status()),
        }
    }
}

impl std::error::Error for ScimError {}
