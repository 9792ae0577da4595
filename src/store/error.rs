//! What can go wrong in the store. A unique violation is classified once, here, into the key
//! it broke, so no caller ever reads a database's message text.

/// The unique keys of the schema a write can collide with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    /// `users (account_id, user_name_lc, deleted_key)`: a userName taken in the account (by a
    /// user the identity provider has not deleted).
    UserName,
    /// `identities (email_lc)`: an email one account already holds.
    Email,
    /// `accounts (slug)`.
    AccountSlug,
    /// `scim_groups (account_id, name_key)`: a group displayName taken in the account.
    GroupName,
    /// `ext_values (account_id, attr, value) WHERE uniq = 1`: a value of a custom attribute
    /// whose uniqueness is `server`, held by another resource.
    ExtValue,
    /// Any other key (a primary key of a row written twice).
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique key violated: {0:?}")]
    Unique(UniqueKey),
    /// No connection came free in time (on SQLite: the one writer stayed busy).
    #[error("the database is busy: no connection came free in time")]
    Busy,
    /// The database gave up the transaction to let another one through (a deadlock, a
    /// serialization failure, a lock wait over the limit); running it again can succeed.
    #[error("the transaction lost a race with another one: {0}")]
    Contention(String),
    #[error("unsupported database URL: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Sqlx(sqlx::Error),
    /// An error of the SQLite writer's own connection (src/store/direct.rs).
    #[error("SQLite: {0}")]
    Sqlite(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document is not valid JSON: {0}")]
    Corrupt(String),
}

/// SQLSTATEs (PostgreSQL) after which the same transaction, run again, can succeed:
/// serialization failure, deadlock, lock wait timeout.
const CONTENTION_STATES: [&str; 3] = ["40001", "40P01", "55P03"];

/// SQLite result codes of the same kind: SQLITE_BUSY and SQLITE_LOCKED (and their
/// extended codes, which keep the primary code in the low byte).
fn sqlite_contention(code: &str) -> bool {
    code.parse::<i64>()
        .map(|c| matches!(c & 0xff, 5 | 6))
        .unwrap_or(false)
}

impl From<sqlx::Error> for StoreError {
    /// Every database error is classified here, once: a broken unique key, contention
    /// that a retry can get past, a pool that stayed busy, or anything else.
    fn from(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::PoolTimedOut => return StoreError::Busy,
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    return StoreError::Unique(unique_key(db.constraint(), db.message()));
                }
                if let Some(code) = db.code() {
                    if CONTENTION_STATES.contains(&code.as_ref()) || sqlite_contention(&code) {
                        return StoreError::Contention(db.message().to_string());
                    }
                }
            }
            _ => {}
        }
        StoreError::Sqlx(e)
    }
}

/// PostgreSQL names the constraint; SQLite names none and reports the columns instead
/// (`UNIQUE constraint failed: users.account_id, users.user_name_lc`), so its column list is
/// the key there. Both map to the same [`UniqueKey`].
pub(super) fn unique_key(constraint: Option<&str>, message: &str) -> UniqueKey {
    if let Some(name) = constraint {
        return match name {
            "users_user_name" => UniqueKey::UserName,
            "identities_pkey" => UniqueKey::Email,
            "accounts_slug_key" => UniqueKey::AccountSlug,
            "scim_groups_name_key" => UniqueKey::GroupName,
            "ext_values_unique" => UniqueKey::ExtValue,
            _ => UniqueKey::Other,
        };
    }
    let columns = message
        .split_once("constraint failed:")
        .map(|(_, cols)| cols.trim())
        .unwrap_or_default();
    match columns {
        "users.account_id, users.user_name_lc"
        | "users.account_id, users.user_name_lc, users.deleted_key" => UniqueKey::UserName,
        "identities.email_lc" => UniqueKey::Email,
        "accounts.slug" => UniqueKey::AccountSlug,
        "scim_groups.account_id, scim_groups.name_key" => UniqueKey::GroupName,
        "ext_values.account_id, ext_values.attr, ext_values.value" => UniqueKey::ExtValue,
        _ => UniqueKey::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_name_the_same_keys() {
        for (constraint, message, key) in [
            (Some("users_user_name"), "", UniqueKey::UserName),
            (Some("identities_pkey"), "", UniqueKey::Email),
            (Some("accounts_slug_key"), "", UniqueKey::AccountSlug),
            (Some("seats_pkey"), "", UniqueKey::Other),
            (Some("scim_groups_name_key"), "", UniqueKey::GroupName),
            (
                None,
                "UNIQUE constraint failed: scim_groups.account_id, scim_groups.name_key",
                UniqueKey::GroupName,
            ),
            (Some("ext_values_unique"), "", UniqueKey::ExtValue),
            (
                None,
                "UNIQUE constraint failed: ext_values.account_id, ext_values.attr, ext_values.value",
                UniqueKey::ExtValue,
            ),
            (
                None,
                "UNIQUE constraint failed: users.account_id, users.user_name_lc",
                UniqueKey::UserName,
            ),
            (
                None,
                "UNIQUE constraint failed: users.account_id, users.user_name_lc, users.deleted_key",
                UniqueKey::UserName,
            ),
            (
                None,
                "UNIQUE constraint failed: identities.email_lc",
                UniqueKey::Email,
            ),
            (
                None,
                "UNIQUE constraint failed: accounts.slug",
                UniqueKey::AccountSlug,
            ),
            (None, "something else", UniqueKey::Other),
        ] {
            assert_eq!(
                unique_key(constraint, message),
                key,
                "{constraint:?} {message}"
            );
        }
    }
}
