"""Listing: sorting (RFC 7644 §3.4.2.3), pagination (§3.4.2.4), attributes and
excludedAttributes (§3.4.2.5, §3.9), and POST .search (§3.4.3)."""
import pytest

from conftest import (
    ENTERPRISE_SCHEMA,
    LIST_SCHEMA,
    SEARCH_SCHEMA,
    USER_SCHEMA,
    Factory,
    assert_scim_error,
    expect_status,
    uniq,
)

WORDS = ["delta", "alpha", "echo", "charlie", "bravo"]  # created in this order
SORTED = sorted(WORDS)


class Five:
    def __init__(self, make):
        self.tag = t = uniq("p")
        self.users = {}
        for i, w in enumerate(WORDS):
            # familyName sorts in the reverse order of userName
            self.users[w] = make.user(
                userName=f"{t}-{w}@example.com",
                name={"givenName": w.title(), "familyName": f"{chr(ord('z') - SORTED.index(w))}-{t}"},
                schemas=[USER_SCHEMA, ENTERPRISE_SCHEMA],
                **{ENTERPRISE_SCHEMA: {"department": f"dept-{i}", "costCenter": "cc"}},
            )
        self.scope = f'userName sw "{t}"'

    def words(self, body):
        return [r["userName"].split("@")[0].split("-", 1)[1] for r in body.get("Resources") or []]


@pytest.fixture(scope="module")
def five(api):
    make = Factory(api)
    try:
        yield Five(make)
    finally:
        make.cleanup()


def listing(api, five, **params):
    params.setdefault("filter", five.scope)
    body = api.list("Users", **params)
    assert body.get("schemas") == [LIST_SCHEMA], f"not a ListResponse: {body}"
    return body


# --- sorting ----------------------------------------------------------------------------------

def test_sort_by_username_defaults_to_ascending(api, five):
    assert five.words(listing(api, five, sortBy="userName")) == SORTED


def test_sort_ascending(api, five):
    assert five.words(listing(api, five, sortBy="userName", sortOrder="ascending")) == SORTED


def test_sort_descending(api, five):
    assert five.words(listing(api, five, sortBy="userName", sortOrder="descending")) == SORTED[::-1]


def test_sort_by_attribute_name_in_any_case(api, five):
    assert five.words(listing(api, five, sortBy="USERNAME")) == SORTED


def test_sort_by_sub_attribute(api, five):
    # familyName order is the reverse of userName order
    assert five.words(listing(api, five, sortBy="name.familyName")) == SORTED[::-1]


# --- pagination -------------------------------------------------------------------------------

def test_page_window(api, five):
    body = listing(api, five, sortBy="userName", startIndex=2, count=2)
    assert five.words(body) == SORTED[1:3]
    assert body["totalResults"] == 5
    assert body["itemsPerPage"] == 2
    assert body["startIndex"] == 2


def test_paging_fields_are_integers(api, five):
    body = listing(api, five, startIndex=1, count=3)
    for k in ("totalResults", "itemsPerPage", "startIndex"):
        assert type(body.get(k)) is int, f"{k} must be a JSON integer, got {body.get(k)!r}"


def test_count_zero_gives_total_only(api, five):
    body = listing(api, five, count=0)
    assert body["totalResults"] == 5
    assert not body.get("Resources"), "count=0 must return no resources"
    if "itemsPerPage" in body:
        assert body["itemsPerPage"] == 0


def test_negative_count_is_zero(api, five):
    # RFC 7644 §3.4.2.4: a negative count SHALL be interpreted as 0
    body = listing(api, five, count=-3)
    assert body["totalResults"] == 5
    assert not body.get("Resources")


def test_start_index_below_one_is_one(api, five):
    body = listing(api, five, sortBy="userName", startIndex=0, count=1)
    assert five.words(body) == SORTED[:1]
    assert body["startIndex"] == 1


def test_start_index_past_the_end(api, five):
    body = listing(api, five, startIndex=50, count=10)
    assert body["totalResults"] == 5
    assert not body.get("Resources")


def test_walking_pages_returns_each_once(api, five):
    seen = []
    start = 1
    while start <= 5:
        body = listing(api, five, sortBy="userName", startIndex=start, count=2)
        page = five.words(body)
        assert page, f"empty page at startIndex={start}"
        seen += page
        start += len(page)
    assert seen == SORTED


# --- attributes / excludedAttributes ----------------------------------------------------------

def test_attributes_on_get(api, five):
    uid = five.users["alpha"]["id"]
    body = expect_status(api.get(f"Users/{uid}", params={"attributes": "userName"}), 200)
    assert body["id"] == uid and USER_SCHEMA in body["schemas"], "id and schemas are always returned"
    assert body["userName"].startswith(five.tag)
    for absent in ("emails", "name", "active"):
        assert absent not in body, f"{absent} returned although attributes=userName"


def test_attributes_sub_attribute(api, five):
    uid = five.users["alpha"]["id"]
    body = expect_status(api.get(f"Users/{uid}", params={"attributes": "name.givenName"}), 200)
    assert body.get("name") == {"givenName": "Alpha"}, body
    assert "userName" not in body


def test_attributes_name_in_any_case(api, five):
    uid = five.users["alpha"]["id"]
    body = expect_status(api.get(f"Users/{uid}", params={"attributes": "USERNAME"}), 200)
    assert "userName" in body, "attribute names in responses keep their schema spelling"
    assert "emails" not in body


def test_attributes_urn_qualified(api, five):
    uid = five.users["alpha"]["id"]
    body = expect_status(api.get(f"Users/{uid}", params={"attributes": f"{USER_SCHEMA}:userName"}), 200)
    assert "userName" in body and "emails" not in body


def test_attributes_extension_attribute(api, five):
    uid = five.users["alpha"]["id"]
    body = expect_status(api.get(f"Users/{uid}", params={"attributes": f"{ENTERPRISE_SCHEMA}:department"}), 200)
    assert body.get(ENTERPRISE_SCHEMA) == {"department": "dept-1"}, body
    assert "userName" not in body


def test_excluded_attributes(api, five):
    uid = five.users["alpha"]["id"]
    body = expect_status(api.get(f"Users/{uid}", params={"excludedAttributes": "emails,name"}), 200)
    assert "emails" not in body and "name" not in body
    assert body["userName"].startswith(five.tag)


def test_excluded_attributes_cannot_remove_id_or_schemas(api, five):
    uid = five.users["alpha"]["id"]
    body = expect_status(api.get(f"Users/{uid}", params={"excludedAttributes": "id,schemas"}), 200)
    assert body.get("id") == uid, "id is returned always"
    assert USER_SCHEMA in body.get("schemas", []), "schemas is returned always"


def test_attributes_on_list(api, five):
    body = listing(api, five, attributes="userName")
    assert len(body["Resources"]) == 5
    for r in body["Resources"]:
        assert "id" in r and "userName" in r
        assert "emails" not in r and "name" not in r


def test_group_excluded_members_on_get(api, make):
    u = make.user()
    g = make.group(members=[u["id"]])
    body = expect_status(api.get(f"Groups/{g['id']}", params={"excludedAttributes": "members"}), 200)
    assert "members" not in body
    assert body["displayName"] == g["displayName"] and body["id"] == g["id"]


def test_group_excluded_members_on_list(api, make):
    u = make.user()
    g = make.group(members=[u["id"]])
    body = api.list("Groups", filter=f'displayName eq "{g["displayName"]}"', excludedAttributes="members")
    assert [r["id"] for r in body["Resources"]] == [g["id"]]
    assert "members" not in body["Resources"][0]


def test_group_attributes_display_name_only(api, make):
    u = make.user()
    g = make.group(members=[u["id"]])
    body = expect_status(api.get(f"Groups/{g['id']}", params={"attributes": "displayName"}), 200)
    assert body["displayName"] == g["displayName"]
    assert "members" not in body


# --- POST .search ----------------------------------------------------------------------------

def search(api, path, **req):
    body = {"schemas": [SEARCH_SCHEMA], **req}
    r = api.post(path, body)
    out = expect_status(r, 200)
    assert out.get("schemas") == [LIST_SCHEMA], f"not a ListResponse: {out}"
    return out


def test_users_search(api, five):
    body = search(api, "Users/.search", filter=five.scope, sortBy="userName", startIndex=2, count=2)
    assert five.words(body) == SORTED[1:3]
    assert body["totalResults"] == 5


def test_users_search_with_attributes(api, five):
    body = search(api, "Users/.search", filter=five.scope, attributes=["userName"])
    assert len(body["Resources"]) == 5
    assert all("emails" not in r and "userName" in r for r in body["Resources"])


def test_users_search_with_excluded_attributes(api, five):
    body = search(api, "Users/.search", filter=five.scope, excludedAttributes=["emails"])
    assert all("emails" not in r and "userName" in r for r in body["Resources"])


def test_users_search_descending(api, five):
    body = search(api, "Users/.search", filter=five.scope, sortBy="userName", sortOrder="descending")
    assert five.words(body) == SORTED[::-1]


def test_groups_search(api, make):
    g = make.group()
    body = search(api, "Groups/.search", filter=f'displayName eq "{g["displayName"]}"')
    assert [r["id"] for r in body["Resources"]] == [g["id"]]


def test_root_search(api, five):
    name = five.users["charlie"]["userName"]
    body = search(api, ".search", filter=f'userName eq "{name}"')
    assert [r["id"] for r in body["Resources"]] == [five.users["charlie"]["id"]]


def test_search_with_invalid_filter_is_400(api):
    r = api.post("Users/.search", {"schemas": [SEARCH_SCHEMA], "filter": 'userName zz "a"'})
    assert_scim_error(r, 400, "invalidFilter")
