//! Typed admin inputs are checked with `validator` derives where they enter (the HTTP edge,
//! the command line); this module holds the checks they share and turns a failed check into
//! an [`EngineError`] naming the field, with the code the derive declared.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde_json::Value;
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

use super::error::{EngineError, ErrorCode};

/// Product names: lower-case letters, digits, `-` and `_`, starting with a letter or digit,
/// up to 63 characters.
pub fn valid_product(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// `validator` check: a product name.
pub fn product_name(name: &str) -> Result<(), ValidationError> {
    if valid_product(name) {
        Ok(())
    } else {
        Err(ValidationError::new("invalid_product"))
    }
}

/// `validator` check: a connection name, not blank once trimmed, at most 100 characters.
pub fn connection_name(name: &str) -> Result<(), ValidationError> {
    let trimmed = name.trim();
    if !trimmed.is_empty() && trimmed.len() <= 100 {
        Ok(())
    } else {
        Err(ValidationError::new("invalid_value"))
    }
}

/// A typed request body: its fields (so an unknown one is named), its shape (serde) and its
/// checks (validator).
pub trait Input: DeserializeOwned + Validate {
    const FIELDS: &'static [&'static str];
}

/// Turns a JSON body into a checked input. An unknown field, a wrong type or a failed check
/// is a 400 naming the field.
pub fn parse<T: Input>(body: Value) -> Result<T, EngineError> {
    let Some(obj) = body.as_object() else {
        return Err(EngineError::refused(
            ErrorCode::InvalidJson,
            "send a JSON object",
        ));
    };
    if let Some(unknown) = obj.keys().find(|k| !T::FIELDS.contains(&k.as_str())) {
        return Err(EngineError::invalid(
            ErrorCode::UnknownField,
            unknown,
            format!(
                "unknown field '{unknown}'; the fields are {}",
                T::FIELDS.join(", ")
            ),
        ));
    }
    let typed: T = serde_path_to_error::deserialize(body).map_err(|e| {
        let field = e.path().to_string();
        let message = e.inner().to_string();
        if field == "." {
            EngineError::refused(ErrorCode::InvalidJson, message)
        } else {
            EngineError::invalid(
                ErrorCode::InvalidValue,
                &field,
                format!("{field}: {message}"),
            )
        }
    })?;
    validated(typed)
}

/// Checks a typed input; the first failing field becomes the error.
pub fn validated<T: Validate>(input: T) -> Result<T, EngineError> {
    match input.validate() {
        Ok(()) => Ok(input),
        Err(errors) => Err(first_error(&errors)),
    }
}

fn first_error(errors: &ValidationErrors) -> EngineError {
    let mut fields: Vec<(&str, &ValidationErrorsKind)> = errors
        .errors()
        .iter()
        .map(|(k, v)| (k.as_ref(), v))
        .collect();
    // Deterministic: the same bad input always names the same field.
    fields.sort_by_key(|(k, _)| *k);
    for (field, kind) in fields {
        match kind {
            ValidationErrorsKind::Field(list) => {
                if let Some(e) = list.first() {
                    let message = e
                        .message
                        .clone()
                        .unwrap_or_else(|| Cow::Owned(format!("{field} is not valid")));
                    return EngineError::invalid(code_named(&e.code), field, message);
                }
            }
            ValidationErrorsKind::Struct(inner) => return first_error(inner),
            ValidationErrorsKind::List(items) => {
                if let Some(inner) = items.values().next() {
                    return first_error(inner);
                }
            }
        }
    }
    EngineError::refused(ErrorCode::InvalidValue, "the request is not valid")
}

/// The [`ErrorCode`] a derive named with `code = "..."`; a check that named none is an
/// invalid value.
fn code_named(code: &str) -> ErrorCode {
    [
        ErrorCode::InvalidProduct,
        ErrorCode::InvalidEmail,
        ErrorCode::InvalidFilter,
        ErrorCode::InvalidRule,
        ErrorCode::InvalidUser,
    ]
    .into_iter()
    .find(|c| c.as_str() == code)
    .unwrap_or(ErrorCode::InvalidValue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_names() {
        for ok in ["meeting", "a", "web-inar_2", "9lives"] {
            assert!(valid_product(ok), "{ok}");
        }
        for bad in ["", "Meeting", "-x", "_x", "a b", &"x".repeat(64)] {
            assert!(!valid_product(bad), "{bad}");
        }
    }

    #[derive(Validate)]
    struct Probe {
        #[validate(custom(function = "product_name", message = "a product name"))]
        product: String,
        #[validate(range(min = 0, max = 10, message = "0 to 10"))]
        seats: i64,
    }

    #[test]
    fn a_failed_check_names_its_field_and_code() {
        let e = validated(Probe {
            product: "Bad".into(),
            seats: 1,
        })
        .err();
        assert_eq!(
            e,
            Some(EngineError::invalid(
                ErrorCode::InvalidProduct,
                "product",
                "a product name"
            ))
        );
        let e = validated(Probe {
            product: "ok".into(),
            seats: 11,
        })
        .err();
        assert_eq!(
            e,
            Some(EngineError::invalid(
                ErrorCode::InvalidValue,
                "seats",
                "0 to 10"
            ))
        );
    }
}
