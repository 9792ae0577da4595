-- Outbound events: the outbox, webhook endpoints and their delivery attempts.
--
-- `event_sequences`: each account's last event sequence. A change takes the next numbers
-- with one UPDATE at the end of its transaction, so the row stays locked until it commits
-- (PostgreSQL) and sequence order is commit order: a reader that has seen N has seen every
-- event below N.
CREATE TABLE event_sequences (
    account_id BIGINT NOT NULL PRIMARY KEY REFERENCES accounts (id),
    last BIGINT NOT NULL
);

-- One row per event, written in the transaction of the change it tells of. `data` is the
-- envelope's `data` (JSON text).
CREATE TABLE events (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    sequence BIGINT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, sequence)
);
CREATE INDEX events_occurred ON events (account_id, occurred_at);

-- Webhook endpoints. `events`: the subscribed types (JSON array). `secret`: the signing
-- secret (`whsec_` + base64), shown once when made. `cursor`: the last sequence this
-- endpoint has been given (or skipped, not subscribed); the next event is the first above
-- it, so a crash before the cursor moves sends that event again (at least once). `state`:
-- 'active', or 'failing' once the head event has failed for 24 hours (deliveries stop
-- until an admin retries or replays). `lease_owner`/`lease_until`: the replica delivering
-- to it now; another replica takes it over only once the lease has run out.
CREATE TABLE webhooks (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'active',
    cursor BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    failing_since TEXT,
    next_attempt_at TEXT,
    last_error TEXT,
    lease_owner TEXT,
    lease_until TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX webhooks_account ON webhooks (account_id, created);

-- Every attempt to deliver an event to an endpoint: what the receiver answered (status, the
-- first KiB of its body), how long it took, or why nothing was answered.
CREATE TABLE webhook_deliveries (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    type TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status BIGINT,
    latency_ms BIGINT NOT NULL,
    response TEXT,
    error TEXT,
    manual BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, at);
