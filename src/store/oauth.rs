//! OAuth client secrets of connections (stored hashed), and the lookups that turn an access
//! token's secret id back into its connection: a revoked secret, or a revoked connection,
//! finds nothing.

use sqlx::Row;

use super::accounts::{Account, ConnectionSettings};
use super::sql::Sql;
use super::{ReadConn, Result, WriteTx};

/// A live secret of a client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSecret {
    pub account_id: i64,
    pub connection: String,
    pub id: String,
    pub hash: String,
}

/// Who a live secret belongs to, with the connection's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretOwner {
    pub account: Account,
    pub connection: String,
    pub settings: ConnectionSettings,
    /// Seconds an access token lives (None: the default).
    pub token_ttl_seconds: Option<i64>,
}

/// A secret as the admin API lists it (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub connection: String,
    pub client_id: String,
    pub id: String,
    pub created: String,
    pub revoked: Option<String>,
}

impl ReadConn {
    /// The live secrets of a client id (one or two during a rotation).
    pub async fn client_secrets(&mut self, client_id: &str) -> Result<Vec<ClientSecret>> {
        let mut sql = Sql::new(
            "SELECT account_id, connection, id, hash FROM oauth_secrets WHERE client_id = ",
        );
        sql.bind_text(client_id).push(" AND revoked IS NULL");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(ClientSecret {
                    account_id: r.try_get(0)?,
                    connection: r.try_get(1)?,
                    id: r.try_get(2)?,
                    hash: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The owner of a live secret, with its connection's settings; None once the secret (or
    /// its connection) is revoked.
    pub async fn secret_owner(
        &mut self,
        account: i64,
        secret: &str,
    ) -> Result<Option<SecretOwner>> {
        let mut sql = Sql::new(
            "SELECT a.id, a.slug, o.connection, s.rate_limit_per_second, s.allowed_networks, \
             s.token_ttl_seconds, a.schemas_version FROM oauth_secrets o JOIN accounts a ON a.id = o.account_id \
             LEFT JOIN connection_settings s ON s.account_id = o.account_id AND s.name = o.connection \
             WHERE o.account_id = ",
        );
        sql.bind_int(account)
            .push(" AND o.id = ")
            .bind_text(secret)
            .push(" AND o.revoked IS NULL");
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some(SecretOwner {
                account: Account {
                    id: r.try_get(0)?,
                    slug: r.try_get(1)?,
                    schemas_version: r.try_get(6)?,
                },
                connection: r.try_get(2)?,
                settings: ConnectionSettings {
                    rate_limit_per_second: r.try_get(3)?,
                    allowed_networks: r
                        .try_get::<Option<String>, _>(4)?
                        .unwrap_or_else(|| "[]".into()),
                },
                token_ttl_seconds: r.try_get(5)?,
            }),
            None => None,
        })
    }

    /// Every secret of the account, live and revoked, oldest first.
    pub async fn list_secrets(&mut self, account: i64) -> Result<Vec<SecretInfo>> {
        let mut sql = Sql::new(
            "SELECT connection, client_id, id, created, revoked FROM oauth_secrets WHERE account_id = ",
        );
        sql.bind_int(account).push(" ORDER BY created, id");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(SecretInfo {
                    connection: r.try_get(0)?,
                    client_id: r.try_get(1)?,
                    id: r.try_get(2)?,
                    created: r.try_get(3)?,
                    revoked: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// The client id of a connection that has one.
    pub async fn client_id_of(&mut self, account: i64, connection: &str) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT client_id FROM oauth_secrets WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND connection = ")
            .bind_text(connection)
            .push(" LIMIT 1");
        self.fetch_text(&sql).await
    }
}

impl WriteTx {
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_secret(
        &mut self,
        account: i64,
        connection: &str,
        client_id: &str,
        id: &str,
        hash: &str,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO oauth_secrets (account_id, connection, client_id, id, hash, created) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(connection)
            .push(", ")
            .bind_text(client_id)
            .push(", ")
            .bind_text(id)
            .push(", ")
            .bind_text(hash)
            .push(", ")
            .bind_text(now)
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    /// Revokes one live secret of a connection (`Some`), or all of them (`None`); returns how
    /// many.
    pub async fn revoke_secrets(
        &mut self,
        account: i64,
        connection: &str,
        id: Option<&str>,
        now: &str,
    ) -> Result<u64> {
        let mut sql = Sql::new("UPDATE oauth_secrets SET revoked = ");
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND connection = ")
            .bind_text(connection)
            .push(" AND revoked IS NULL");
        if let Some(id) = id {
            sql.push(" AND id = ").bind_text(id);
        }
        self.execute(&sql).await
    }

    /// Sets how long a connection's access tokens live (None: the default).
    pub async fn set_token_ttl(
        &mut self,
        account: i64,
        connection: &str,
        ttl: Option<i64>,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO connection_settings (account_id, name, token_ttl_seconds, updated) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(connection)
            .push(", ")
            .bind(ttl.map_or(super::sql::Arg::NullInt, super::sql::Arg::Int))
            .push(", ")
            .bind_text(now)
            .push(
                ") ON CONFLICT (account_id, name) DO UPDATE SET token_ttl_seconds = excluded.token_ttl_seconds, updated = excluded.updated",
            );
        self.execute(&sql).await?;
        Ok(())
    }
}

/// A connection that trusts JWTs its identity provider signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtTrust {
    pub account: Account,
    pub connection: String,
    pub audience: String,
    pub jwks_url: String,
    pub settings: ConnectionSettings,
}

impl ReadConn {
    /// The connections that trust tokens of this issuer.
    pub async fn jwt_trusts(&mut self, issuer: &str) -> Result<Vec<JwtTrust>> {
        let mut sql = Sql::new(
            "SELECT a.id, a.slug, s.name, s.jwt_audience, s.jwks_url, s.rate_limit_per_second, \
             s.allowed_networks, a.schemas_version FROM connection_settings s JOIN accounts a ON a.id = s.account_id \
             WHERE s.jwt_issuer = ",
        );
        sql.bind_text(issuer)
            .push(" AND s.jwt_audience IS NOT NULL AND s.jwks_url IS NOT NULL");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(JwtTrust {
                    account: Account {
                        id: r.try_get(0)?,
                        slug: r.try_get(1)?,
                        schemas_version: r.try_get(7)?,
                    },
                    connection: r.try_get(2)?,
                    audience: r.try_get(3)?,
                    jwks_url: r.try_get(4)?,
                    settings: ConnectionSettings {
                        rate_limit_per_second: r.try_get(5)?,
                        allowed_networks: r.try_get(6)?,
                    },
                })
            })
            .collect()
    }

    /// The account's connections that trust JWTs: name and since when.
    pub async fn jwt_connections(&mut self, account: i64) -> Result<Vec<(String, String)>> {
        let mut sql = Sql::new("SELECT name, updated FROM connection_settings WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND jwt_issuer IS NOT NULL ORDER BY name");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Whether a connection trusts its identity provider's JWTs.
    pub async fn trusts_jwts(&mut self, account: i64, connection: &str) -> Result<bool> {
        let mut sql = Sql::new("SELECT COUNT(*) FROM connection_settings WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND name = ")
            .bind_text(connection)
            .push(" AND jwt_issuer IS NOT NULL");
        Ok(self.fetch_count(&sql).await? > 0)
    }
}

impl WriteTx {
    /// Ends a connection's trust in its identity provider's JWTs; returns whether it had one.
    pub async fn end_jwt_trust(
        &mut self,
        account: i64,
        connection: &str,
        now: &str,
    ) -> Result<u64> {
        let mut sql = Sql::new(
            "UPDATE connection_settings SET jwt_issuer = NULL, jwt_audience = NULL, jwks_url = NULL, updated = ",
        );
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND name = ")
            .bind_text(connection)
            .push(" AND jwt_issuer IS NOT NULL");
        self.execute(&sql).await
    }

    /// Makes a connection trust JWTs of an issuer for an audience, with keys from a URL.
    pub async fn put_jwt_trust(
        &mut self,
        account: i64,
        connection: &str,
        issuer: &str,
        audience: &str,
        jwks_url: &str,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO connection_settings (account_id, name, jwt_issuer, jwt_audience, jwks_url, updated) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(connection)
            .push(", ")
            .bind_text(issuer)
            .push(", ")
            .bind_text(audience)
            .push(", ")
            .bind_text(jwks_url)
            .push(", ")
            .bind_text(now)
            .push(
                ") ON CONFLICT (account_id, name) DO UPDATE SET jwt_issuer = excluded.jwt_issuer, \
                 jwt_audience = excluded.jwt_audience, jwks_url = excluded.jwks_url, updated = excluded.updated",
            );
        self.execute(&sql).await?;
        Ok(())
    }
}
