-- Per-connection limits: a rate limit (NULL: the server's --rate-limit) and the networks
-- requests may come from (a JSON array of CIDRs; empty: anywhere). Keyed by the connection's
-- name, as tokens are, so a connection's settings outlive the rotation of its tokens.
CREATE TABLE connection_settings (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    rate_limit_per_second INTEGER,
    allowed_networks TEXT NOT NULL DEFAULT '[]',
    updated TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- Requests refused with 429, per connection and day (UTC), for the sync report; the sync
-- log holds at most one entry per connection per minute with the count.
CREATE TABLE throttle_counts (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    day TEXT NOT NULL,
    throttled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day, name)
);
