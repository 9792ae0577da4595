"""Filters (RFC 7644 §3.4.2.2): every operator, logic and grouping, value paths,
URN-qualified and case-insensitive names, caseExact per schema, dates, and errors.

Three users share a random tag; every filter is scoped to that tag so other users on the
server never match.
"""
import pytest

from conftest import (
    ENTERPRISE_SCHEMA,
    LIST_SCHEMA,
    USER_SCHEMA,
    Factory,
    assert_scim_error,
    expect_status,
    uniq,
)


class Family:
    def __init__(self, make):
        self.tag = t = uniq("f")
        self.alice = make.user(
            userName=f"{t}-alice@example.com",
            externalId=f"Ext-{t}-A",
            title="Engineer",
            name={"givenName": "Alice", "familyName": f"Anderson{t}"},
            emails=[
                {"value": f"alice.{t}@work.example.com", "type": "work", "primary": True},
                {"value": f"alice.{t}@home.example.org", "type": "home"},
            ],
            schemas=[USER_SCHEMA, ENTERPRISE_SCHEMA],
            **{ENTERPRISE_SCHEMA: {"department": f"dept-{t}"}},
        )
        self.bob = make.user(
            userName=f"{t}-bob@example.com",
            externalId=f"ext-{t}-b",
            active=False,
            name={"givenName": "Bob", "familyName": f"Brown{t}"},
            emails=[{"value": f"bob.{t}@work.example.com", "type": "work", "primary": True}],
        )
        self.carol = make.user(
            userName=f"{t}-carol@example.com",
            title="Manager",
            name={"givenName": "Carol", "familyName": f"Clark{t}"},
            emails=[{"value": f"carol.{t}@home.example.org", "type": "home", "primary": True}],
        )
        self.scope = f'userName sw "{t}"'

    def by_name(self, *names):
        return {getattr(self, n)["id"] for n in names}


@pytest.fixture(scope="module")
def fam(api):
    make = Factory(api)
    try:
        yield Family(make)
    finally:
        make.cleanup()


def found(api, flt, resource="Users"):
    body = api.filter(resource, flt)
    assert LIST_SCHEMA in body.get("schemas", []), f"not a ListResponse: {body}"
    got = {r["id"] for r in (body.get("Resources") or [])}
    assert body["totalResults"] == len(got), f"filter {flt!r}: totalResults disagrees with Resources: {body}"
    return got


def check(api, fam, flt, *expected):
    got = found(api, flt)
    want = fam.by_name(*expected)
    assert got == want, f"filter {flt!r}: expected {sorted(expected)}, got ids {sorted(got)}"


# --- comparison operators --------------------------------------------------------------------

def test_eq(api, fam):
    check(api, fam, f'userName eq "{fam.alice["userName"]}"', "alice")


def test_eq_username_is_case_insensitive(api, fam):
    check(api, fam, f'userName eq "{fam.alice["userName"].upper()}"', "alice")


def test_eq_external_id_is_case_exact(api, fam):
    check(api, fam, f'externalId eq "{fam.alice["externalId"]}"', "alice")
    check(api, fam, f'externalId eq "{fam.alice["externalId"].lower()}"')


def test_ne(api, fam):
    check(api, fam, f'{fam.scope} and userName ne "{fam.alice["userName"]}"', "bob", "carol")


def test_ne_is_case_insensitive_for_username(api, fam):
    check(api, fam, f'{fam.scope} and userName ne "{fam.alice["userName"].upper()}"', "bob", "carol")


def test_co(api, fam):
    check(api, fam, f'{fam.scope} and userName co "arol@"', "carol")


def test_co_is_case_insensitive_for_username(api, fam):
    check(api, fam, f'userName co "{fam.tag}-ALI"', "alice")


def test_sw(api, fam):
    check(api, fam, f'userName sw "{fam.tag}-b"', "bob")


def test_ew(api, fam):
    check(api, fam, f'{fam.scope} and userName ew "-carol@example.com"', "carol")


def test_gt(api, fam):
    check(api, fam, f'{fam.scope} and userName gt "{fam.alice["userName"]}"', "bob", "carol")


def test_ge(api, fam):
    check(api, fam, f'{fam.scope} and userName ge "{fam.bob["userName"]}"', "bob", "carol")


def test_lt(api, fam):
    check(api, fam, f'{fam.scope} and userName lt "{fam.bob["userName"]}"', "alice")


def test_le(api, fam):
    check(api, fam, f'{fam.scope} and userName le "{fam.bob["userName"]}"', "alice", "bob")


def test_pr(api, fam):
    check(api, fam, f"{fam.scope} and title pr", "alice", "carol")


def test_like_wildcards_are_literal(api, fam):
    # co/sw/ew must not treat % or _ as wildcards
    check(api, fam, f'{fam.scope} and userName co "%"')
    check(api, fam, f'userName sw "{fam.tag}_"')


def test_escaped_quote_in_value_is_valid(api, fam):
    check(api, fam, f'{fam.scope} and userName eq "a\\"b"')


def test_boolean_eq(api, fam):
    check(api, fam, f"{fam.scope} and active eq false", "bob")
    check(api, fam, f"{fam.scope} and active eq true", "alice", "carol")


def test_id_eq(api, fam):
    check(api, fam, f'id eq "{fam.carol["id"]}"', "carol")


# --- logical operators and grouping ------------------------------------------------------------

def test_and(api, fam):
    check(api, fam, f'{fam.scope} and title eq "Manager"', "carol")


def test_or(api, fam):
    a, c = fam.alice["userName"], fam.carol["userName"]
    check(api, fam, f'userName eq "{a}" or userName eq "{c}"', "alice", "carol")


def test_not(api, fam):
    check(api, fam, f"{fam.scope} and not (title pr)", "bob")


def test_and_binds_tighter_than_or(api, fam):
    a, b = fam.alice["userName"], fam.bob["userName"]
    # bob or (alice and <false>)  -> bob;  a left-to-right parse would give nothing
    check(api, fam, f'userName eq "{b}" or userName eq "{a}" and title eq "nope-{fam.tag}"', "bob")


def test_grouping_overrides_precedence(api, fam):
    a, b = fam.alice["userName"], fam.bob["userName"]
    check(api, fam, f'(userName eq "{b}" or userName eq "{a}") and title pr', "alice")


def test_nested_not_and_grouping(api, fam):
    check(api, fam, f'{fam.scope} and not (active eq false or title eq "Manager")', "alice")


# --- attribute paths --------------------------------------------------------------------------

def test_value_path_with_and(api, fam):
    check(api, fam, f'emails[type eq "work" and value co ".{fam.tag}@work"]', "alice", "bob")


def test_value_path_combined_with_other_filter(api, fam):
    check(api, fam, f'{fam.scope} and emails[type eq "home"] and title eq "Engineer"', "alice")


def test_multi_valued_sub_attribute(api, fam):
    check(api, fam, f'emails.value eq "bob.{fam.tag}@work.example.com"', "bob")


def test_emails_value_is_case_insensitive(api, fam):
    check(api, fam, f'emails.value eq "BOB.{fam.tag}@WORK.example.com"', "bob")


def test_complex_sub_attribute(api, fam):
    check(api, fam, f'name.familyName eq "Anderson{fam.tag}"', "alice")


def test_urn_qualified_core_attribute(api, fam):
    check(api, fam, f'{USER_SCHEMA}:userName eq "{fam.alice["userName"]}"', "alice")


def test_urn_qualified_extension_attribute(api, fam):
    check(api, fam, f'{ENTERPRISE_SCHEMA}:department eq "dept-{fam.tag}"', "alice")


@pytest.mark.parametrize("variant", [
    'USERNAME eq "{u}"',
    'userName EQ "{u}"',
    'userName eq "{u}" AND title PR',
    'NAME.FAMILYNAME eq "{f}" Or userName eq "{u}"',
])
def test_case_insensitive_names_and_operators(api, fam, variant):
    flt = variant.format(u=fam.alice["userName"], f=fam.alice["name"]["familyName"])
    check(api, fam, flt, "alice")


# --- dates ------------------------------------------------------------------------------------

def test_last_modified_gt_and_lt(api, fam):
    check(api, fam, f'{fam.scope} and meta.lastModified gt "2000-01-01T00:00:00Z"', "alice", "bob", "carol")
    check(api, fam, f'{fam.scope} and meta.lastModified lt "2999-01-01T00:00:00Z"', "alice", "bob", "carol")


def test_last_modified_excludes_out_of_range(api, fam):
    check(api, fam, f'{fam.scope} and meta.lastModified lt "2000-01-01T00:00:00Z"')
    check(api, fam, f'{fam.scope} and meta.lastModified gt "2999-01-01T00:00:00Z"')


def test_created_ge_own_timestamp(api, fam):
    created = fam.alice["meta"]["created"]
    got = found(api, f'{fam.scope} and meta.created ge "{created}"')
    assert fam.alice["id"] in got, f"meta.created ge {created} should include the user created then"


# --- results and errors -----------------------------------------------------------------------

def test_no_match_is_200_with_zero_results(api):
    r = api.get("Users", params={"filter": f'userName eq "{uniq("nobody")}@example.com"'})
    body = expect_status(r, 200)
    assert body["schemas"] == [LIST_SCHEMA]
    assert body["totalResults"] == 0
    assert not body.get("Resources"), "Resources must be empty or absent when nothing matched"


@pytest.mark.parametrize("flt", [
    'userName xx "a"',
    "userName eq",
    '(userName eq "a"',
    'userName eq "a")',
    'userName eq "unterminated',
    'userName eq "a" and',
    'emails[type eq "work"',
    'not userName eq "a"',
])
def test_invalid_filter_is_400_invalid_filter(api, flt):
    r = api.get("Users", params={"filter": flt})
    assert_scim_error(r, 400, "invalidFilter")


def test_ordering_operator_on_boolean_is_invalid_filter(api):
    # RFC 7644 §3.4.2.2: gt/ge/lt/le on a boolean SHALL be a 400 invalidFilter
    assert_scim_error(api.get("Users", params={"filter": "active gt true"}), 400, "invalidFilter")


def test_invalid_filter_on_groups(api):
    assert_scim_error(api.get("Groups", params={"filter": 'displayName zz "x"'}), 400, "invalidFilter")


# --- groups -----------------------------------------------------------------------------------

def test_group_display_name_eq(api, make):
    g = make.group()
    body = api.filter("Groups", f'displayName eq "{g["displayName"]}"')
    assert [r["id"] for r in body.get("Resources") or []] == [g["id"]]


def test_group_members_value_eq(api, make):
    u = make.user()
    g = make.group(members=[u["id"]])
    make.group()  # a second group the filter must not return
    body = api.filter("Groups", f'members.value eq "{u["id"]}"')
    assert [r["id"] for r in body.get("Resources") or []] == [g["id"]]
