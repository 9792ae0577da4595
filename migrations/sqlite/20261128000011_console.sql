-- The admin console: one-time sign-in links, sessions, and CSV uploads kept between an
-- import's dry run and its confirmation. Held in the database so any replica serves any
-- session. Only SHA-256 hashes of link and session secrets are stored.

CREATE TABLE console_links (
    hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    -- 'admin' or 'auditor'
    role TEXT NOT NULL,
    subject TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    -- Set once, when the link is used: a link signs in at most once.
    used TEXT
);

CREATE TABLE console_sessions (
    hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The token every form that changes something must carry.
    csrf TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    ended TEXT
);
CREATE INDEX console_sessions_account ON console_sessions (account_id);

CREATE TABLE console_uploads (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    session_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created TEXT NOT NULL
);

-- Each product's counts once a day (the last of the day wins), for the console's 30-day
-- charts; written hourly by every replica (an idempotent upsert).
CREATE TABLE seat_daily (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    product TEXT NOT NULL,
    day TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    assigned INTEGER NOT NULL,
    waitlisted INTEGER NOT NULL,
    PRIMARY KEY (account_id, product, day)
);
