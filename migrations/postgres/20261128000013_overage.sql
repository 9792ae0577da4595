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
ALTER TABLE products
    ADD COLUMN allowance BIGINT NOT NULL DEFAULT 0 CHECK (allowance >= 0),
    ADD COLUMN kept BIGINT NOT NULL DEFAULT 0 CHECK (kept >= 0),
    ADD COLUMN over_since TEXT;

-- The constraint the table was made with (CHECK (assigned >= 0 AND assigned <= capacity)),
-- replaced by one that counts the allowance.
ALTER TABLE products DROP CONSTRAINT products_check;
ALTER TABLE products ADD CONSTRAINT products_assigned_ceiling
    CHECK (assigned >= 0 AND assigned <= capacity + allowance + kept);
