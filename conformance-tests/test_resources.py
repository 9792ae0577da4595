"""Create, read, replace and delete of Users and Groups (RFC 7644 §3.3-3.6), and
passwords, which Roster accepts but never stores or returns (SPEC §3.6)."""
from conftest import (
    GROUP_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    expect_status,
    find_key,
    member_ids,
    patch_body,
    uniq,
)


# --- users ----------------------------------------------------------------------------------------

def test_create_user_response(api, make):
    body = make.user_body(displayName="Created User")
    r = api.post("Users", body)
    created = expect_status(r, 201)
    make.track("Users", created["id"])
    assert created["id"], "a server-assigned id"
    assert USER_SCHEMA in created["schemas"]
    assert created["userName"] == body["userName"]
    meta = created.get("meta", {})
    assert meta.get("resourceType") == "User"
    assert meta.get("created") and meta.get("lastModified")
    assert meta.get("location", "").endswith(f"/Users/{created['id']}")
    assert r.headers.get("Location") == meta["location"], "Location header equals meta.location"


def test_read_back_what_was_created(api, make):
    u = make.user(displayName="Read Back", title="Tester")
    got = api.read("Users", u["id"])
    for k in ("userName", "displayName", "title", "name", "emails", "active"):
        assert got.get(k) == u.get(k), f"{k}: POST answered {u.get(k)!r}, GET answers {got.get(k)!r}"


def test_put_replaces_the_resource(api, make):
    u = make.user(title="Will vanish", displayName="Old")
    body = make.user_body(userName=u["userName"], displayName="New", without=("title",))
    out = expect_status(api.put(f"Users/{u['id']}", body), 200)
    assert out["id"] == u["id"]
    assert out["displayName"] == "New"
    assert "title" not in out, "PUT replaces: attributes left out are cleared"
    assert "title" not in api.read("Users", u["id"])


def test_delete_user_is_204_without_body(api, make):
    u = make.user()
    r = api.delete(f"Users/{u['id']}")
    assert r.status_code == 204, f"expected 204, got {r.status_code}: {r.text[:300]}"
    assert not r.content
    assert_scim_error(api.get(f"Users/{u['id']}"), 404)


def test_deleted_user_leaves_groups(api, make):
    u1, u2 = make.user(), make.user()
    g = make.group(members=[u1["id"], u2["id"]])
    expect_status(api.delete(f"Users/{u1['id']}"), 204)
    assert member_ids(api.read("Groups", g["id"])) == [u2["id"]]


def test_create_again_after_delete_is_a_new_user(api, make):
    u = make.user()
    expect_status(api.delete(f"Users/{u['id']}"), 204)
    again = make.user(userName=u["userName"], emails=u["emails"])
    assert again["id"] != u["id"]


def test_external_id_need_not_be_unique(api, make):
    ext = uniq("shared-ext-")
    a = make.user(externalId=ext)
    b = make.user(externalId=ext)
    assert a["externalId"] == b["externalId"] == ext


def test_deactivated_user_stays_readable(api, make):
    u = make.user(active=False)
    assert u["active"] is False
    assert api.read("Users", u["id"])["active"] is False


# --- groups ---------------------------------------------------------------------------------------

def test_create_group_with_members(api, make):
    u = make.user()
    r = api.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": uniq("Team "),
                            "members": [{"value": u["id"]}]})
    g = expect_status(r, 201)
    make.track("Groups", g["id"])
    assert GROUP_SCHEMA in g["schemas"]
    assert g["meta"]["resourceType"] == "Group"
    assert member_ids(g) == [u["id"]]
    assert r.headers.get("Location") == g["meta"]["location"]


def test_put_group_replaces_members(api, make):
    u1, u2 = make.user(), make.user()
    g = make.group(members=[u1["id"]])
    out = expect_status(api.put(f"Groups/{g['id']}", {
        "schemas": [GROUP_SCHEMA], "displayName": g["displayName"], "members": [{"value": u2["id"]}]}), 200)
    assert member_ids(out) == [u2["id"]]
    assert member_ids(api.read("Groups", g["id"])) == [u2["id"]]


def test_delete_group(api, make):
    g = make.group()
    expect_status(api.delete(f"Groups/{g['id']}"), 204)
    assert_scim_error(api.get(f"Groups/{g['id']}"), 404)


# --- passwords ------------------------------------------------------------------------------------

def assert_no_password(resp, secret):
    assert secret not in resp.text, f"the password appears in {resp.request.method} {resp.request.url}"
    if resp.content:
        assert not find_key(resp.json(), "password"), f"a password attribute is returned: {resp.text[:500]}"


def test_post_with_password_succeeds_and_hides_it(api, make):
    secret = uniq("Secret-Pw-")
    r = api.post("Users", make.user_body(password=secret))
    created = expect_status(r, 201)
    make.track("Users", created["id"])
    assert_no_password(r, secret)
    assert_no_password(api.get(f"Users/{created['id']}"), secret)
    assert_no_password(api.get("Users", params={"filter": f'userName eq "{created["userName"]}"'}), secret)


def test_password_not_returned_even_when_asked(api, make):
    secret = uniq("Asked-Pw-")
    created = make.user(password=secret)
    assert_no_password(api.get(f"Users/{created['id']}", params={"attributes": "password,userName"}), secret)


def test_put_with_password_hides_it(api, make):
    u = make.user()
    secret = uniq("Put-Pw-")
    r = api.put(f"Users/{u['id']}", make.user_body(userName=u["userName"], password=secret))
    expect_status(r, 200)
    assert_no_password(r, secret)


def test_patch_with_password_hides_it(api, user):
    secret = uniq("Patch-Pw-")
    r = api.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "password", "value": secret}))
    # Roster drops the password (SPEC §3.6), so the PATCH succeeds.
    expect_status(r, 200, 204)
    assert_no_password(r, secret)
    assert_no_password(api.get(f"Users/{user['id']}"), secret)
