-- The sync log: one row per SCIM request or admin action, written in the same transaction as
-- the change it describes. Ids sort by time.
CREATE TABLE sync_log (
    account_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    user_name TEXT,
    user_name_lc TEXT,
    -- create, update, disable, enable, delete, read, list, import, settings, licenses, rule,
    -- transfer, connection, other
    action TEXT NOT NULL,
    -- success, failure, skipped, warning
    status TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    scim_type TEXT,
    detail TEXT,
    error_code TEXT,
    recommended_action TEXT,
    notes TEXT NOT NULL,
    changes TEXT NOT NULL,
    seat_changes TEXT NOT NULL,
    steps TEXT NOT NULL,
    latency_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX sync_log_at ON sync_log (account_id, at);
CREATE INDEX sync_log_resource ON sync_log (account_id, resource_id);
CREATE INDEX sync_log_user_name ON sync_log (account_id, user_name_lc);
CREATE INDEX sync_log_actor ON sync_log (account_id, actor);

-- Seat changes, one row each, for reports (freed in the last 30 days, ...).
CREATE TABLE seat_events (
    account_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    product TEXT NOT NULL,
    user_id TEXT NOT NULL,
    change TEXT NOT NULL
);
CREATE INDEX seat_events_product ON seat_events (account_id, product, at);
