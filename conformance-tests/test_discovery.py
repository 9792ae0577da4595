"""Discovery (RFC 7644 §4, RFC 7643 §5-7) and the HTTP surface: endpoint names in any case,
trailing slashes, application/json, /Me."""
import pytest

from conftest import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    LIST_SCHEMA,
    SCIM_JSON,
    SPC_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    assert_scim_json,
    expect_status,
    patch_body,
)


def attr(schema, name):
    for a in schema.get("attributes", []):
        if a.get("name", "").lower() == name.lower():
            return a
    return None


# --- ServiceProviderConfig ----------------------------------------------------------------------

def test_service_provider_config_shape(spc):
    assert SPC_SCHEMA in spc.get("schemas", [])
    for feature in ("patch", "bulk", "filter", "changePassword", "sort", "etag"):
        assert isinstance(spc.get(feature, {}).get("supported"), bool), f"{feature}.supported must be a boolean"
    assert isinstance(spc.get("authenticationSchemes"), list) and spc["authenticationSchemes"], (
        "authenticationSchemes must list the bearer scheme")


def test_service_provider_config_advertises_what_roster_implements(spc):
    for feature in ("patch", "bulk", "filter", "sort", "etag"):
        assert spc[feature]["supported"] is True, f"{feature} is implemented and must be advertised"
    assert isinstance(spc["filter"].get("maxResults"), int) and spc["filter"]["maxResults"] > 0
    assert isinstance(spc["bulk"].get("maxOperations"), int) and spc["bulk"]["maxOperations"] > 0
    assert isinstance(spc["bulk"].get("maxPayloadSize"), int) and spc["bulk"]["maxPayloadSize"] > 0


def test_change_password_not_supported(spc):
    assert spc["changePassword"]["supported"] is False, "Roster never changes passwords (SPEC §3.6)"


# --- ResourceTypes ------------------------------------------------------------------------------

def test_resource_types_list(api):
    body = api.list("ResourceTypes")
    assert LIST_SCHEMA in body.get("schemas", [])
    by_name = {r.get("name"): r for r in body.get("Resources", [])}
    assert {"User", "Group"} <= set(by_name), f"User and Group resource types expected: {list(by_name)}"
    user = by_name["User"]
    assert user["endpoint"] == "/Users"
    assert user["schema"] == USER_SCHEMA
    assert ENTERPRISE_SCHEMA in [e.get("schema") for e in user.get("schemaExtensions", [])]
    assert by_name["Group"]["endpoint"] == "/Groups"
    assert by_name["Group"]["schema"] == GROUP_SCHEMA


def test_resource_type_by_id(api):
    body = expect_status(api.get("ResourceTypes/User"), 200)
    assert body.get("name") == "User" and body.get("endpoint") == "/Users"


# --- Schemas ------------------------------------------------------------------------------------

def test_schemas_list(api):
    body = api.list("Schemas")
    ids = {s.get("id") for s in body.get("Resources", [])}
    assert {USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA} <= ids, f"missing core schemas: {ids}"
    assert type(body.get("totalResults")) is int


@pytest.mark.parametrize("schema_id", [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA])
def test_schema_by_id(api, schema_id):
    body = expect_status(api.get(f"Schemas/{schema_id}"), 200)
    assert body.get("id") == schema_id
    assert body.get("attributes"), "a schema lists its attributes"


def test_user_schema_username_characteristics(api):
    body = expect_status(api.get(f"Schemas/{USER_SCHEMA}"), 200)
    user_name = attr(body, "userName")
    assert user_name, "userName must be described"
    assert user_name.get("required") is True
    assert user_name.get("caseExact") is False
    assert user_name.get("uniqueness") == "server"


def test_user_schema_password_if_advertised_is_never_returned(api):
    body = expect_status(api.get(f"Schemas/{USER_SCHEMA}"), 200)
    pw = attr(body, "password")
    if pw is not None:
        assert pw.get("returned") == "never"
        assert pw.get("mutability") == "writeOnly"


def test_group_schema_members(api):
    body = expect_status(api.get(f"Schemas/{GROUP_SCHEMA}"), 200)
    members = attr(body, "members")
    assert members and members.get("multiValued") is True
    assert {s.get("name") for s in members.get("subAttributes", [])} >= {"value"}


def test_enterprise_schema_manager_and_department(api):
    body = expect_status(api.get(f"Schemas/{ENTERPRISE_SCHEMA}"), 200)
    assert attr(body, "department"), "department must be described"
    manager = attr(body, "manager")
    assert manager and manager.get("type") == "complex"


def test_unknown_schema_is_404(api):
    assert_scim_error(api.get("Schemas/urn:example:no:such:schema"), 404)


# --- endpoint spelling ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["users", "USERS/", "Users/", "groups", "GROUPS/"])
def test_resource_endpoints_in_any_case_and_trailing_slash(api, path):
    body = expect_status(api.get(path, params={"count": 1}), 200)
    assert LIST_SCHEMA in body.get("schemas", []), f"/{path} should be the list endpoint: {body}"


def test_lower_case_endpoint_for_one_resource(api, user):
    body = expect_status(api.get(f"users/{user['id']}"), 200)
    assert body["id"] == user["id"]


def test_post_to_lower_case_endpoint(api, make):
    r = api.post("users/", make.user_body())
    created = expect_status(r, 201)
    make.track("Users", created["id"])


# --- media types --------------------------------------------------------------------------------

def test_accept_application_json(api, user):
    r = api.get(f"Users/{user['id']}", headers={"Accept": "application/json"})
    body = expect_status(r, 200)
    assert body["id"] == user["id"]
    assert_scim_json(r)


def test_post_with_application_json_body(api, make):
    r = api.post("Users", make.user_body(), headers={"Content-Type": "application/json",
                                                     "Accept": "application/json"})
    created = expect_status(r, 201)
    make.track("Users", created["id"])


def test_patch_with_application_json_body(api, user):
    r = api.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "title", "value": "json"}),
                  headers={"Content-Type": "application/json"})
    expect_status(r, 200, 204)
    assert api.read("Users", user["id"])["title"] == "json"


def test_accept_with_charset_and_wildcards(api):
    r = api.get("ServiceProviderConfig", headers={"Accept": f"{SCIM_JSON}; charset=utf-8, */*;q=0.1"})
    expect_status(r, 200)


# --- /Me ------------------------------------------------------------------------------------------

def test_me_is_answered_honestly_for_an_idp_token(api):
    # an IdP connection token has no user behind it: 501 Not Implemented (RFC 7644 §3.11)
    assert_scim_error(api.get("Me"), 501)
