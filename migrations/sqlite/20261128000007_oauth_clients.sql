-- OAuth 2.0 client credentials for connections whose identity provider asks for them
-- (Microsoft Entra's gallery): a connection's client id, and its secrets, stored hashed as
-- tokens are; several can be live at once so that rotation needs no downtime. Access tokens
-- are JWTs Roster signs; each names the secret that minted it, so revoking the secret (or the
-- connection) ends its tokens at once.
CREATE TABLE oauth_secrets (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    connection TEXT NOT NULL,
    client_id TEXT NOT NULL,
    id TEXT NOT NULL,
    hash TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX oauth_secrets_client ON oauth_secrets (client_id);

-- How long a connection's access tokens live (NULL: one hour).
ALTER TABLE connection_settings ADD COLUMN token_ttl_seconds INTEGER;
