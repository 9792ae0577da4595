//! Accounts and their connection tokens.

use crate::auth::{self, Principal};
use crate::scim::ScimError;
use crate::store::accounts::TokenInfo;
use crate::store::StoreError;

use super::{store_error, Engine};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("no account '{0}'")]
    NoAccount(String),
    #[error("no live token '{0}' in account '{1}'")]
    NoToken(String, String),
    #[error("invalid account slug '{0}': use lower-case letters, digits and '-'")]
    BadSlug(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Engine {
    /// Creates the account unless it exists. Returns whether it was created.
    pub async fn ensure_account(&self, slug: &str) -> Result<bool, AccountError> {
        if !valid_slug(slug) {
            return Err(AccountError::BadSlug(slug.to_string()));
        }
        let mut tx = self.store.write().await?;
        let (_, created) = tx.ensure_account(slug, &self.now()).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn account_count(&self) -> Result<i64, AccountError> {
        let mut tx = self.store.read().await?;
        Ok(tx.count_accounts().await?)
    }

    /// A new bearer token for a named connection of the account; shown once, stored hashed.
    pub async fn create_token(&self, slug: &str, name: &str) -> Result<String, AccountError> {
        let mut tx = self.store.write().await?;
        let account = tx
            .account_by_slug(slug)
            .await?
            .ok_or_else(|| AccountError::NoAccount(slug.to_string()))?;
        let token = auth::new_token();
        tx.insert_token(
            account.id,
            &auth::new_token_id(),
            name,
            &auth::hash_token(&token),
            &self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    pub async fn revoke_token(&self, slug: &str, id_or_name: &str) -> Result<u64, AccountError> {
        let mut tx = self.store.write().await?;
        let account = tx
            .account_by_slug(slug)
            .await?
            .ok_or_else(|| AccountError::NoAccount(slug.to_string()))?;
        let n = tx
            .revoke_tokens(account.id, id_or_name, &self.now())
            .await?;
        if n == 0 {
            return Err(AccountError::NoToken(
                id_or_name.to_string(),
                slug.to_string(),
            ));
        }
        tx.commit().await?;
        Ok(n)
    }

    pub async fn list_tokens(&self, slug: &str) -> Result<Vec<TokenInfo>, AccountError> {
        let mut tx = self.store.read().await?;
        let account = tx
            .account_by_slug(slug)
            .await?
            .ok_or_else(|| AccountError::NoAccount(slug.to_string()))?;
        Ok(tx.list_tokens(account.id).await?)
    }

    /// The principal a bearer token stands for.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ScimError> {
        let unauthorized = || ScimError::Unauthorized {
            detail: "the bearer token is missing, unknown or revoked".into(),
        };
        let hash = auth::hash_token(token);
        let mut tx = self.store.read().await.map_err(store_error)?;
        let found = tx.token_by_hash(&hash).await.map_err(store_error)?;
        match found {
            Some((account, connection, stored)) if auth::hashes_match(&hash, &stored) => {
                Ok(Principal {
                    account_id: account.id,
                    account: account.slug,
                    connection,
                })
            }
            _ => Err(unauthorized()),
        }
    }
}
