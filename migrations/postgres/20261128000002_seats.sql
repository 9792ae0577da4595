-- License pools and seats, the waitlist, mapping rules, account settings, conflicts, and
-- the server's own signing secret.

CREATE TABLE products (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    capacity BIGINT NOT NULL CHECK (capacity >= 0),
    -- Seats assigned now; never above capacity (conditional increments only).
    assigned BIGINT NOT NULL DEFAULT 0 CHECK (assigned >= 0 AND assigned <= capacity),
    created TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE seats (
    account_id BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    product TEXT NOT NULL,
    -- 'assigned' or 'waitlisted'
    state TEXT NOT NULL,
    -- 'rule' (follows the mapping rules) or 'manual' (moved here by a transfer)
    source TEXT NOT NULL DEFAULT 'rule',
    since TEXT NOT NULL,
    -- First come, first served among the waitlisted.
    queue_seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, user_id, product)
);
CREATE INDEX seats_waitlist ON seats (account_id, product, state, queue_seq);

CREATE TABLE account_settings (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id),
    doc TEXT NOT NULL
);

CREATE TABLE rules (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    product TEXT NOT NULL,
    group_id TEXT,
    filter TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX rules_group ON rules (account_id, group_id);

CREATE TABLE conflicts (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    -- 'email_in_use' or 'no_seat'
    kind TEXT NOT NULL,
    -- What identifies the same conflict on a retry: the email, or userName and product.
    dedupe_key TEXT NOT NULL,
    user_id TEXT,
    user_name TEXT,
    email TEXT,
    product TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 1,
    -- 'open' or 'resolved'
    status TEXT NOT NULL,
    resolved_at TEXT,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX conflicts_open ON conflicts (account_id, status, kind, dedupe_key);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
