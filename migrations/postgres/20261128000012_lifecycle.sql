-- Lifecycle safety: what `delete_action`, `purge_suspended_after_days` and
-- `deprovision_guard` need.
--
-- `suspended_at`: since when a user is suspended (NULL while active); the purge counts from
-- it. Users suspended before this migration get their last change, the best time known.
-- `idp_deleted_at`: when the identity provider deleted the user while `delete_action` was
-- `suspend`: the user is kept, suspended, for admins, and the identity provider no longer
-- sees it. `deleted_key` is what makes room for its userName: '' for every other user, the
-- user's id once the identity provider deleted it. The userName index holds it, so the
-- identity provider may create a (new) user of that name again, while lookups by userName
-- still find both.
-- `held`: the hold (below) in which a deprovisioning of the user waits for an admin.
-- Nullable or with a default, so that a replica still running the previous version can keep
-- writing users while replicas are upgraded one by one.
ALTER TABLE users ADD COLUMN suspended_at TEXT;
ALTER TABLE users ADD COLUMN idp_deleted_at TEXT;
ALTER TABLE users ADD COLUMN deleted_key TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN held TEXT;

UPDATE users SET suspended_at = last_modified WHERE active = 0;

DROP INDEX users_user_name;
CREATE UNIQUE INDEX users_user_name ON users (account_id, user_name_lc, deleted_key);

-- The purge's candidates: suspended users, oldest suspension first.
CREATE INDEX users_suspended ON users (account_id, suspended_at) WHERE suspended_at IS NOT NULL;

-- Each connection's recent deprovisionings (suspensions and deletions of users, applied or
-- held), which the guard counts over its window; rows older than the longest window (7 days)
-- are pruned hourly.
CREATE TABLE deprovisions (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    connection TEXT NOT NULL,
    id TEXT NOT NULL,
    at TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- 'applied' or 'held'
    outcome TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX deprovisions_window ON deprovisions (account_id, connection, at);

-- One row per connection whose deprovisionings the guard has counted: every guarded
-- deprovisioning writes it first, so that (on PostgreSQL) the deprovisionings of one
-- connection are counted one transaction at a time, on every replica.
CREATE TABLE deprovision_guard (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    connection TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (account_id, connection)
);

-- A hold: the deprovisionings of one connection's burst, held for an admin to release or
-- discard.
CREATE TABLE holds (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    connection TEXT NOT NULL,
    -- 'open', 'released' or 'discarded'
    status TEXT NOT NULL,
    opened TEXT NOT NULL,
    last_held TEXT NOT NULL,
    max_users BIGINT NOT NULL,
    window_minutes BIGINT NOT NULL,
    closed TEXT,
    closed_by TEXT,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX holds_connection ON holds (account_id, connection, status);

-- The changes a hold keeps, in the order they came (`seq`).
CREATE TABLE held_changes (
    account_id BIGINT NOT NULL,
    hold_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    -- 'suspend' (active=false), 'delete', or 'delete_as_suspend' (a DELETE while
    -- delete_action was 'suspend')
    change TEXT NOT NULL,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    -- 'pending', 'applied', 'skipped' (nothing left to do when released), 'discarded', or
    -- 'superseded' (the identity provider set the user active again meanwhile)
    state TEXT NOT NULL,
    done TEXT,
    PRIMARY KEY (account_id, hold_id, seq)
);
CREATE INDEX held_changes_user ON held_changes (account_id, user_id, state);
