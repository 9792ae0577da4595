-- Drift: when an identity provider last created, changed or read (by id) each user and
-- group. Set on SCIM create, replace and patch by a connection (never by an admin acting
-- through the same code), and on a GET by id at most once an hour (through the batched
-- writer of reads' sync-log entries). NULL: no identity provider has touched it. Nullable,
-- so that a replica still running the previous version keeps writing while replicas are
-- upgraded one by one.
ALTER TABLE users ADD COLUMN last_seen_by_idp TEXT;
ALTER TABLE scim_groups ADD COLUMN last_seen_by_idp TEXT;

-- What the sync log still remembers: a connection's latest successful create, change or
-- read of the resource (its entries older than sync_log_retention_days are gone).
UPDATE users SET last_seen_by_idp = (
    SELECT MAX(l.at) FROM sync_log l
    WHERE l.account_id = users.account_id
      AND l.resource_id = users.id
      AND l.resource_type = 'User'
      AND substr(l.actor, 1, 11) = 'connection:'
      AND l.status IN ('success', 'warning', 'skipped')
      AND l.action IN ('create', 'update', 'disable', 'enable', 'read')
);
UPDATE scim_groups SET last_seen_by_idp = (
    SELECT MAX(l.at) FROM sync_log l
    WHERE l.account_id = scim_groups.account_id
      AND l.resource_id = scim_groups.id
      AND l.resource_type = 'Group'
      AND substr(l.actor, 1, 11) = 'connection:'
      AND l.status IN ('success', 'warning', 'skipped')
      AND l.action IN ('create', 'update', 'disable', 'enable', 'read')
);

-- The drift report reads each connection's entry times over a range: the index on
-- (account_id, actor) gains `at`, and still serves every query the old one did.
DROP INDEX sync_log_actor;
CREATE INDEX sync_log_actor_at ON sync_log (account_id, actor, at);
