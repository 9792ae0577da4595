-- Accounts, connection tokens, users, their emails, groups and memberships.
-- Every table leads with account_id, and so does every index.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);

CREATE TABLE tokens (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- SHA-256 of the token, hex; the token itself is never stored.
    hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE users (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    user_name_lc TEXT NOT NULL,
    external_id TEXT,
    display_name TEXT,
    display_name_lc TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL,
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX users_user_name ON users (account_id, user_name_lc);
CREATE INDEX users_external_id ON users (account_id, external_id);
CREATE INDEX users_display_name ON users (account_id, display_name_lc);
CREATE INDEX users_created ON users (account_id, created);
CREATE INDEX users_last_modified ON users (account_id, last_modified);

CREATE TABLE user_emails (
    account_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT,
    value_lc TEXT,
    type TEXT,
    primary_ INTEGER NOT NULL DEFAULT 0,
    display TEXT,
    PRIMARY KEY (account_id, user_id, position)
);
CREATE INDEX user_emails_value ON user_emails (account_id, value_lc);

CREATE TABLE scim_groups (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    display_name_lc TEXT NOT NULL,
    external_id TEXT,
    version INTEGER NOT NULL,
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX scim_groups_display_name ON scim_groups (account_id, display_name_lc);
CREATE INDEX scim_groups_external_id ON scim_groups (account_id, external_id);
CREATE INDEX scim_groups_created ON scim_groups (account_id, created);
CREATE INDEX scim_groups_last_modified ON scim_groups (account_id, last_modified);

CREATE TABLE group_members (
    account_id INTEGER NOT NULL,
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    member_type TEXT NOT NULL,
    PRIMARY KEY (account_id, group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (account_id, member_id);

-- One person, one account: an email (or an email-shaped userName) belongs to at most one
-- account. Users of that account may share it; no other account may use it.
CREATE TABLE identities (
    email_lc TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL
);
CREATE INDEX identities_account ON identities (account_id);
