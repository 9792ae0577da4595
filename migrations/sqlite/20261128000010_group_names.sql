-- A group's displayName is unique per account, case-insensitively (Entra matches groups by
-- displayName). `name_key` is the key the unique index holds: the lower-cased name
-- (`display_name_lc`) for every group written from now on.
--
-- Groups that already share a name lose nothing: the oldest of each set (by created, then
-- id) holds the name's key; each later one gets a key of its own, the name, U+0001 and its
-- id (a displayName never holds a control character, so no name can ever take that key).
-- `roster migrate`, `roster serve` and the admin report `group_names` list these groups
-- until they are renamed; a rename or delete hands the freed name to the next of its set.
-- Nullable, so that a replica still running the previous version can keep writing groups
-- while replicas are upgraded one by one.
ALTER TABLE scim_groups ADD COLUMN name_key TEXT;

UPDATE scim_groups SET name_key = display_name_lc;

UPDATE scim_groups SET name_key = display_name_lc || char(1) || id
WHERE EXISTS (
    SELECT 1 FROM scim_groups o
    WHERE o.account_id = scim_groups.account_id
      AND o.display_name_lc = scim_groups.display_name_lc
      AND (o.created < scim_groups.created
           OR (o.created = scim_groups.created AND o.id < scim_groups.id))
);

CREATE UNIQUE INDEX scim_groups_name_key ON scim_groups (account_id, name_key);

-- The groups that share a name with an older one (few, usually none), found without a scan.
CREATE INDEX scim_groups_shared_name ON scim_groups (account_id, display_name_lc)
    WHERE name_key <> display_name_lc;
