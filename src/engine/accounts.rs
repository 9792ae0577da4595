//! Accounts: made by slug, counted, and found by slug for every operation that names one.

use crate::store::accounts::Account;

use super::error::{EngineError, ErrorCode};
use super::Engine;

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Engine {
    /// Creates the account unless it exists. Returns whether it was created.
    pub async fn ensure_account(&self, slug: &str) -> Result<bool, EngineError> {
        if !valid_slug(slug) {
            return Err(EngineError::invalid(
                ErrorCode::InvalidValue,
                "account",
                format!("invalid account slug '{slug}': use lower-case letters, digits and '-'"),
            ));
        }
        let mut tx = self.store.write().await?;
        let (_, created) = tx.ensure_account(slug, &self.now()).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Every account's slug and user count (`roster account list`).
    pub async fn accounts(&self) -> Result<Vec<(String, i64)>, EngineError> {
        Ok(self.store.read().await?.list_accounts().await?)
    }

    pub async fn account_count(&self) -> Result<i64, EngineError> {
        Ok(self.store.read().await?.count_accounts().await?)
    }

    /// The account with this slug, or `not_found`.
    pub(crate) async fn account(&self, slug: &str) -> Result<Account, EngineError> {
        self.store
            .read()
            .await?
            .account_by_slug(slug)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("no account '{slug}'")))
    }
}
