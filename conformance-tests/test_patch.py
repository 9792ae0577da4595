"""PATCH (RFC 7644 §3.5.2): add, replace and remove with and without paths, value-filter
paths, sub-attributes, extension attributes and group membership.

A successful PATCH may answer 200 with the resource or 204 (§3.5.2); with `attributes`
in the request it must answer 200. Tests read the resource back either way.
"""
from datetime import datetime

from conftest import (
    ENTERPRISE_SCHEMA,
    USER_SCHEMA,
    email_of,
    expect_status,
    member_ids,
    patch_body,
    uniq,
)


def two_email_user(make):
    t = uniq("e")
    return make.user(emails=[
        {"value": f"{t}@work.example.com", "type": "work", "primary": True},
        {"value": f"{t}@home.example.org", "type": "home"},
    ])


# --- users: paths -----------------------------------------------------------------------------

def test_replace_with_path(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "path": "displayName", "value": "Replaced Name"})
    assert after["displayName"] == "Replaced Name"


def test_replace_sub_attribute_keeps_siblings(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "path": "name.familyName", "value": "Newfamily"})
    assert after["name"]["familyName"] == "Newfamily"
    assert after["name"]["givenName"] == user["name"]["givenName"]


def test_add_to_multi_valued_appends(api, user):
    new = f"{uniq('h')}@home.example.org"
    after = api.patch_read("Users", user["id"], {"op": "add", "path": "emails",
                                                  "value": [{"value": new, "type": "home"}]})
    values = sorted(e["value"] for e in after["emails"])
    assert values == sorted([user["emails"][0]["value"], new])


def test_replace_multi_valued_replaces_all(api, user):
    new = f"{uniq('r')}@other.example.org"
    after = api.patch_read("Users", user["id"], {"op": "replace", "path": "emails",
                                                  "value": [{"value": new, "type": "other"}]})
    assert [e["value"] for e in after["emails"]] == [new]


def test_remove_with_path(api, make):
    u = make.user(title="To be removed")
    after = api.patch_read("Users", u["id"], {"op": "remove", "path": "title"})
    assert "title" not in after


def test_remove_sub_attribute(api, user):
    after = api.patch_read("Users", user["id"], {"op": "remove", "path": "name.givenName"})
    assert "givenName" not in after.get("name", {})
    assert after["name"]["familyName"] == user["name"]["familyName"]


def test_replace_value_filter_sub_attribute(api, make):
    u = two_email_user(make)
    new = f"{uniq('w')}@work.example.com"
    after = api.patch_read("Users", u["id"], {"op": "replace", "path": 'emails[type eq "work"].value', "value": new})
    assert email_of(after["emails"], "work")["value"] == new
    assert email_of(after["emails"], "home")["value"] == email_of(u["emails"], "home")["value"]


def test_remove_by_value_filter(api, make):
    u = two_email_user(make)
    after = api.patch_read("Users", u["id"], {"op": "remove", "path": 'emails[type eq "home"]'})
    assert [e["type"] for e in after["emails"]] == ["work"]


def test_replace_extension_attribute_by_urn_path(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "path": f"{ENTERPRISE_SCHEMA}:department",
                                                  "value": "Research"})
    assert after[ENTERPRISE_SCHEMA]["department"] == "Research"
    assert ENTERPRISE_SCHEMA in after["schemas"], "schemas must list the extension once it has a value"


def test_replace_manager_complex_value(api, make):
    boss = make.user()
    u = make.user()
    after = api.patch_read("Users", u["id"], {"op": "replace", "path": f"{ENTERPRISE_SCHEMA}:manager",
                                               "value": {"value": boss["id"]}})
    assert after[ENTERPRISE_SCHEMA]["manager"]["value"] == boss["id"]


def test_replace_active_false_keeps_user_listed(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "path": "active", "value": False})
    assert after["active"] is False
    listed = api.filter("Users", f'userName eq "{user["userName"]}"')
    assert listed["totalResults"] == 1 and listed["Resources"][0]["active"] is False


def test_operations_apply_in_order(api, user):
    after = api.patch_read("Users", user["id"],
                           {"op": "add", "path": "title", "value": "first"},
                           {"op": "replace", "path": "title", "value": "second"})
    assert after["title"] == "second"


# --- users: no path ---------------------------------------------------------------------------

def test_replace_without_path_merges_complex(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "value": {
        "displayName": "No Path", "name": {"givenName": "Newgiven"}}})
    assert after["displayName"] == "No Path"
    assert after["name"]["givenName"] == "Newgiven"
    assert after["name"]["familyName"] == user["name"]["familyName"], (
        "sub-attributes not in the value are left unchanged (RFC 7644 §3.5.2.3)")


def test_add_without_path(api, user):
    new = f"{uniq('n')}@home.example.org"
    after = api.patch_read("Users", user["id"], {"op": "add", "value": {
        "title": "Added", "emails": [{"value": new, "type": "home"}]}})
    assert after["title"] == "Added"
    assert {e["value"] for e in after["emails"]} == {user["emails"][0]["value"], new}


# --- responses --------------------------------------------------------------------------------

def test_patch_response_is_200_with_resource_or_204(api, user):
    r = api.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "title", "value": "resp"}))
    body = expect_status(r, 200, 204)
    if r.status_code == 200:
        assert body["id"] == user["id"] and body["title"] == "resp", body
        assert USER_SCHEMA in body["schemas"]
    else:
        assert not r.content, "204 has no body"


def test_patch_with_attributes_must_be_200(api, user):
    r = api.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "title", "value": "proj"}),
                  params={"attributes": "title"})
    body = expect_status(r, 200)
    assert body["id"] == user["id"]
    assert body["title"] == "proj"
    assert "emails" not in body, "the response honours attributes="


def test_patch_updates_last_modified_and_version(api, user):
    before = api.read("Users", user["id"])["meta"]
    after = api.patch_read("Users", user["id"], {"op": "replace", "path": "title", "value": uniq("lm")})["meta"]

    def ts(s):
        return datetime.fromisoformat(s.replace("Z", "+00:00"))

    assert ts(after["lastModified"]) >= ts(before["lastModified"])
    assert after["created"] == before["created"]
    if before.get("version"):
        assert after.get("version") != before["version"]


# --- groups -----------------------------------------------------------------------------------

def test_group_add_members(api, make):
    u1, u2 = make.user(), make.user()
    g = make.group()
    after = api.patch_read("Groups", g["id"], {"op": "add", "path": "members",
                                                "value": [{"value": u1["id"]}, {"value": u2["id"]}]})
    assert member_ids(after) == sorted([u1["id"], u2["id"]])


def test_group_remove_one_member_by_filter(api, make):
    u1, u2 = make.user(), make.user()
    g = make.group(members=[u1["id"], u2["id"]])
    after = api.patch_read("Groups", g["id"], {"op": "remove", "path": f'members[value eq "{u1["id"]}"]'})
    assert member_ids(after) == [u2["id"]]


def test_group_replace_members(api, make):
    u1, u2 = make.user(), make.user()
    g = make.group(members=[u1["id"]])
    after = api.patch_read("Groups", g["id"], {"op": "replace", "path": "members", "value": [{"value": u2["id"]}]})
    assert member_ids(after) == [u2["id"]]


def test_group_remove_all_members(api, make):
    u1, u2 = make.user(), make.user()
    g = make.group(members=[u1["id"], u2["id"]])
    after = api.patch_read("Groups", g["id"], {"op": "remove", "path": "members"})
    assert not after.get("members"), "remove of members without a filter or value clears them"


def test_group_replace_display_name(api, group):
    name = uniq("Renamed ")
    after = api.patch_read("Groups", group["id"], {"op": "replace", "path": "displayName", "value": name})
    assert after["displayName"] == name
