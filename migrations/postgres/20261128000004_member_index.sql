-- The groups of a user: a covering index, so the planner never prefers scanning the
-- primary key (account_id, group_id, member_id) for a member lookup.
DROP INDEX group_members_member;
CREATE INDEX group_members_member ON group_members (account_id, member_id, group_id, member_type);
