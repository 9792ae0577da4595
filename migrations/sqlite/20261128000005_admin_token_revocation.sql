-- Admin tokens can be revoked: one by its id (kept until it would have expired), or every
-- token of an account issued up to a moment.
ALTER TABLE accounts ADD COLUMN admin_tokens_after INTEGER NOT NULL DEFAULT 0;

CREATE TABLE revoked_admin_tokens (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    jti TEXT NOT NULL,
    expires INTEGER NOT NULL,
    revoked_at TEXT NOT NULL,
    PRIMARY KEY (account_id, jti)
);
