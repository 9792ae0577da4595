-- Overage: under the seat policy `overage`, a product may hold more seats than its licenses,
-- by a share of them the settings give (`overage_percent`), to be trued up later.
--
-- `allowance` is the extra seats the settings allow a pool now (floor(capacity * percent /
-- 100) under `overage`, else 0), set whenever the settings or the capacity change. A seat is
-- taken only while `assigned < capacity + allowance` (the conditional increment).
-- `kept` is the seats held above `capacity + allowance` since that ceiling was lowered (a
-- smaller percentage, another policy, fewer licenses under `overage`): they stay with their
-- users and are not given again when freed. It is always max(0, assigned - capacity -
-- allowance), so the CHECK below is the ceiling itself, plus nothing once those seats are gone.
-- `over_since` is when `assigned` last went above `capacity` (NULL while it is not): the
-- true-up report's "since".
--
-- SQLite cannot change a CHECK constraint: the table is made again under its own name, with
-- its rows. Nothing references products, and its only index is its primary key.
CREATE TABLE products_next (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    allowance INTEGER NOT NULL DEFAULT 0 CHECK (allowance >= 0),
    kept INTEGER NOT NULL DEFAULT 0 CHECK (kept >= 0),
    -- Seats assigned now; never above capacity + allowance + kept (conditional increments only).
    assigned INTEGER NOT NULL DEFAULT 0 CHECK (assigned >= 0 AND assigned <= capacity + allowance + kept),
    over_since TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);

INSERT INTO products_next (account_id, name, capacity, assigned, created)
SELECT account_id, name, capacity, assigned, created FROM products;

DROP TABLE products;

ALTER TABLE products_next RENAME TO products;
