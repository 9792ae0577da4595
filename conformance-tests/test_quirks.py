"""The identity-provider quirks SPEC.md §4 says Roster accepts, one test each.

Roster normalises these on the way in and answers canonically, so each test also checks the
canonical spelling and type in what comes back.
"""
from conftest import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    email_of,
    expect_status,
    member_ids,
    patch_body,
    uniq,
)


# --- op names and the Operations key in any case ----------------------------------------------

def test_op_name_capitalised_replace(api, user):
    after = api.patch_read("Users", user["id"], {"op": "Replace", "path": "title", "value": "cap"})
    assert after["title"] == "cap"


def test_op_name_upper_case_add(api, user):
    after = api.patch_read("Users", user["id"], {"op": "ADD", "path": "title", "value": "upper"})
    assert after["title"] == "upper"


def test_op_name_capitalised_remove(api, make):
    u = make.user(title="gone soon")
    after = api.patch_read("Users", u["id"], {"op": "Remove", "path": "title"})
    assert "title" not in after


def test_operations_key_lower_case(api, user):
    r = api.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "title", "value": "lower-key"},
                                                    key="operations"))
    expect_status(r, 200, 204)
    assert api.read("Users", user["id"])["title"] == "lower-key"


def test_operations_key_upper_case(api, user):
    r = api.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "title", "value": "upper-key"},
                                                    key="OPERATIONS"))
    expect_status(r, 200, 204)
    assert api.read("Users", user["id"])["title"] == "upper-key"


# --- unknown query parameters -----------------------------------------------------------------

def test_unknown_query_parameter_ignored_on_list(api, user):
    r = api.get("Users?aadOptscim062020", params={"filter": f'userName eq "{user["userName"]}"'})
    body = expect_status(r, 200)
    assert [x["id"] for x in body["Resources"]] == [user["id"]], "the filter must still apply"


def test_unknown_query_parameter_ignored_on_patch(api, user):
    r = api.patch(f"Users/{user['id']}?aadOptscim062020",
                  patch_body({"op": "replace", "path": "title", "value": "aad"}))
    expect_status(r, 200, 204)
    assert api.read("Users", user["id"])["title"] == "aad"


# --- booleans as strings ----------------------------------------------------------------------

def test_string_false_for_active_in_patch(api, user):
    after = api.patch_read("Users", user["id"], {"op": "Replace", "path": "active", "value": "False"})
    assert after["active"] is False, f"active must come back as the boolean false, got {after['active']!r}"


def test_string_booleans_in_no_path_patch(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "value": {"active": "False"}})
    assert after["active"] is False
    after = api.patch_read("Users", user["id"], {"op": "replace", "value": {"active": "True"}})
    assert after["active"] is True


def test_string_true_for_active_in_post(api, make):
    body = make.user_body(active="True")
    r = api.post("Users", body)
    created = expect_status(r, 201)
    make.track("Users", created["id"])
    assert created["active"] is True


def test_string_boolean_for_sub_attribute_primary(api, make):
    t = uniq("sb")
    u = make.user(emails=[{"value": f"{t}@example.com", "type": "work", "primary": "True"}])
    assert u["emails"][0]["primary"] is True


# --- attribute names in any case --------------------------------------------------------------

def test_attribute_names_in_any_case_on_post(api, make):
    t = uniq("ci")
    body = {
        "schemas": [USER_SCHEMA],
        "UserName": f"{t}@example.com",
        "Name": {"GivenName": "Case", "FamilyName": "Insensitive"},
        "Emails": [{"Value": f"{t}@example.com", "Type": "work", "Primary": True}],
        "Active": True,
    }
    r = api.post("Users", body)
    created = expect_status(r, 201)
    make.track("Users", created["id"])
    assert created.get("userName") == f"{t}@example.com", f"answers use canonical names: {created}"
    assert created.get("name", {}).get("givenName") == "Case"
    assert created.get("emails", [{}])[0].get("primary") is True
    assert "UserName" not in created


def test_sub_attribute_name_in_any_case_in_path(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "path": "name.GivenName", "value": "Mixed"})
    assert after["name"]["givenName"] == "Mixed"


def test_primary_in_any_case_in_patch_value(api, user):
    new = f"{uniq('p')}@home.example.org"
    after = api.patch_read("Users", user["id"], {"op": "add", "path": "emails",
                                                  "value": [{"Value": new, "Type": "home", "Primary": False}]})
    home = email_of(after["emails"], "home")
    assert home and home["value"] == new and home.get("primary") in (False, None), after["emails"]


def test_manager_value_path_in_any_case(api, make):
    boss = make.user()
    u = make.user()
    after = api.patch_read("Users", u["id"], {"op": "add", "path": f"{ENTERPRISE_SCHEMA}:Manager.Value",
                                               "value": boss["id"]})
    assert after[ENTERPRISE_SCHEMA]["manager"]["value"] == boss["id"]


# --- PATCH without path, dotted and URN-prefixed keys ------------------------------------------

def test_no_path_dotted_keys(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "value": {
        "name.givenName": "Dotted", "name.familyName": "Keys"}})
    assert after["name"]["givenName"] == "Dotted"
    assert after["name"]["familyName"] == "Keys"
    assert "name.givenName" not in after


def test_no_path_urn_prefixed_keys(api, user):
    after = api.patch_read("Users", user["id"], {"op": "replace", "value": {
        f"{ENTERPRISE_SCHEMA}:department": "Finance",
        f"{ENTERPRISE_SCHEMA}:employeeNumber": "E-42"}})
    ext = after.get(ENTERPRISE_SCHEMA, {})
    assert ext.get("department") == "Finance" and ext.get("employeeNumber") == "E-42", after


# --- group membership ---------------------------------------------------------------------------

def test_remove_members_with_value_list_removes_only_those(api, make):
    u1, u2, u3 = make.user(), make.user(), make.user()
    g = make.group(members=[u1["id"], u2["id"], u3["id"]])
    after = api.patch_read("Groups", g["id"], {"op": "Remove", "path": "members", "value": [{"value": u1["id"]}]})
    assert member_ids(after) == sorted([u2["id"], u3["id"]]), "only the listed member may be removed"


def test_no_path_group_replace_without_members_keeps_members(api, make):
    u = make.user()
    g = make.group(members=[u["id"]])
    name = uniq("Renamed ")
    after = api.patch_read("Groups", g["id"], {"op": "Replace", "value": {"id": g["id"], "displayName": name}})
    assert after["displayName"] == name
    assert member_ids(after) == [u["id"]], "a replace without members must leave members alone"


def test_re_adding_a_member_is_a_no_op(api, make):
    u = make.user()
    g = make.group(members=[u["id"]])
    after = api.patch_read("Groups", g["id"], {"op": "Add", "path": "members", "value": [{"value": u["id"]}]})
    assert [m["value"] for m in after["members"]] == [u["id"]], "the member must be listed once"


# --- filtered add on an absent element ---------------------------------------------------------

def test_filtered_add_creates_absent_email(api, make):
    u = make.user(without=("emails",))
    addr = f"{uniq('fa')}@example.com"
    after = api.patch_read("Users", u["id"], {"op": "add", "path": 'emails[type eq "work"].value', "value": addr})
    work = email_of(after.get("emails"), "work")
    assert work and work["value"] == addr, f"emails[type eq \"work\"] should be created: {after.get('emails')}"


def test_filtered_replace_creates_absent_email(api, make):
    t = uniq("fr")
    u = make.user(emails=[{"value": f"{t}@home.example.org", "type": "home"}])
    addr = f"{t}@work.example.com"
    after = api.patch_read("Users", u["id"], {"op": "replace", "path": 'emails[type eq "work"].value', "value": addr})
    assert email_of(after["emails"], "work")["value"] == addr
    assert email_of(after["emails"], "home")["value"] == f"{t}@home.example.org"


# --- enterprise manager as a bare string ----------------------------------------------------------

def test_manager_bare_string_in_patch(api, make):
    boss = make.user()
    u = make.user()
    after = api.patch_read("Users", u["id"], {"op": "Add", "path": f"{ENTERPRISE_SCHEMA}:manager",
                                               "value": boss["id"]})
    assert after[ENTERPRISE_SCHEMA]["manager"].get("value") == boss["id"], after.get(ENTERPRISE_SCHEMA)


def test_manager_bare_string_in_post(api, make):
    boss = make.user()
    u = make.user(schemas=[USER_SCHEMA, ENTERPRISE_SCHEMA], **{ENTERPRISE_SCHEMA: {"manager": boss["id"]}})
    assert u[ENTERPRISE_SCHEMA]["manager"].get("value") == boss["id"], u.get(ENTERPRISE_SCHEMA)
    again = api.read("Users", u["id"])
    assert again[ENTERPRISE_SCHEMA]["manager"].get("value") == boss["id"]


# --- read-only or unknown sub-attributes in members ----------------------------------------------

def test_member_display_and_null_ref_ignored_on_post(api, make):
    u = make.user()
    body = {"schemas": [GROUP_SCHEMA], "displayName": uniq("Grp "),
            "members": [{"value": u["id"], "display": "whatever the IdP thinks", "$ref": None}]}
    r = api.post("Groups", body)
    created = expect_status(r, 201)
    make.track("Groups", created["id"])
    assert member_ids(api.read("Groups", created["id"])) == [u["id"]]


def test_member_display_and_null_ref_ignored_on_patch(api, make):
    u = make.user()
    g = make.group()
    after = api.patch_read("Groups", g["id"], {"op": "add", "path": "members",
                                                "value": [{"value": u["id"], "display": "x", "$ref": None}]})
    assert member_ids(after) == [u["id"]]


# --- add on a singular attribute ------------------------------------------------------------------

def test_add_on_set_singular_attribute_replaces(api, make):
    u = make.user(displayName="Before")
    after = api.patch_read("Users", u["id"], {"op": "add", "path": "displayName", "value": "After"})
    assert after["displayName"] == "After"


def test_add_without_path_on_set_singular_attribute_replaces(api, make):
    u = make.user(title="Old title")
    after = api.patch_read("Users", u["id"], {"op": "add", "value": {"title": "New title"}})
    assert after["title"] == "New title"
