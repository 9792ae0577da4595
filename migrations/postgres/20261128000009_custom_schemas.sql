-- Custom schema extensions per account (RFC 7643 §7 documents an account registers for its
-- users or groups), the values of their attributes indexed for filters and rules, and the
-- attributes identity providers send that no schema defines.

CREATE TABLE custom_schemas (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    -- The schema's id (a URN) as registered, and lower-cased for lookups.
    urn TEXT NOT NULL,
    urn_lc TEXT NOT NULL,
    -- 'User' or 'Group'.
    resource_type TEXT NOT NULL,
    doc TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (account_id, urn_lc)
);

-- Bumped by every registration and removal: a replica rebuilds its copy of the account's
-- schemas when the number it sees with a credential is not the one it holds.
ALTER TABLE accounts ADD COLUMN schemas_version BIGINT NOT NULL DEFAULT 0;

-- One row per value of a custom extension attribute (a singular attribute, one sub-attribute
-- of a singular complex attribute, or one element of a multi-valued simple attribute).
-- `attr` is the lower-cased path (`urn:...:name` or `urn:...:name.sub`); `value` is
-- lower-cased when the attribute is not caseExact, RFC 3339 UTC for a dateTime, 'true' or
-- 'false' for a boolean; `num` holds numbers. Filters and rules on these attributes read
-- this table through its indexes instead of parsing every document.
CREATE TABLE ext_values (
    account_id BIGINT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    value TEXT,
    num DOUBLE PRECISION,
    -- 1 when the attribute's uniqueness is 'server': the partial index below enforces it.
    uniq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX ext_values_owner ON ext_values (account_id, resource_id, attr);
CREATE INDEX ext_values_value ON ext_values (account_id, attr, value);
CREATE INDEX ext_values_num ON ext_values (account_id, attr, num);
CREATE UNIQUE INDEX ext_values_unique ON ext_values (account_id, attr, value) WHERE uniq = 1;

-- Attributes a connection sent that no schema of the account defines: ignored with a note,
-- and counted here for GET /admin/v1/reports/unmapped.
CREATE TABLE unmapped_attributes (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    connection TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    attribute TEXT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (account_id, connection, resource_type, attribute)
);
