"""ETags and conditional requests (RFC 7644 §3.14): meta.version, the ETag header,
If-Match (412 when stale) and If-None-Match (304 when current)."""
from conftest import assert_scim_error, expect_status, patch_body, uniq


def current_version(api, resource, rid):
    r = api.get(f"{resource}/{rid}")
    body = expect_status(r, 200)
    version = body.get("meta", {}).get("version")
    assert version, f"meta.version missing: {body.get('meta')}"
    return version


def stale_version(api, resource, rid):
    """A version that was current once, made stale by a change."""
    old = current_version(api, resource, rid)
    attr = "title" if resource == "Users" else "displayName"
    value = uniq("changed-") if resource == "Users" else uniq("Group changed ")
    api.patch_read(resource, rid, {"op": "replace", "path": attr, "value": value})
    new = current_version(api, resource, rid)
    assert new != old, "meta.version did not change after a modification"
    return old


def test_version_and_etag_header_on_get(api, user):
    r = api.get(f"Users/{user['id']}")
    body = expect_status(r, 200)
    version = body["meta"].get("version")
    assert version, "meta.version must be present"
    assert r.headers.get("ETag") == version, (
        f"ETag header {r.headers.get('ETag')!r} must equal meta.version {version!r}"
    )


def test_etag_header_on_create(api, make):
    body = make.user_body()
    r = api.post("Users", body)
    created = expect_status(r, 201)
    make.track("Users", created["id"])
    assert r.headers.get("ETag") == created["meta"]["version"]


def test_group_has_version(api, group):
    r = api.get(f"Groups/{group['id']}")
    body = expect_status(r, 200)
    assert body["meta"].get("version")
    assert r.headers.get("ETag") == body["meta"]["version"]


def test_version_changes_on_put(api, make, user):
    before = current_version(api, "Users", user["id"])
    body = make.user_body(userName=user["userName"], title=uniq("t"))
    expect_status(api.put(f"Users/{user['id']}", body), 200)
    assert current_version(api, "Users", user["id"]) != before


def test_if_none_match_current_is_304(api, user):
    version = current_version(api, "Users", user["id"])
    r = api.get(f"Users/{user['id']}", headers={"If-None-Match": version})
    assert r.status_code == 304, f"expected 304 Not Modified, got {r.status_code}: {r.text[:300]}"
    assert not r.content, "a 304 carries no body"


def test_if_none_match_stale_is_200(api, user):
    old = stale_version(api, "Users", user["id"])
    r = api.get(f"Users/{user['id']}", headers={"If-None-Match": old})
    body = expect_status(r, 200)
    assert body["id"] == user["id"]


def test_if_match_stale_put_is_412(api, make, user):
    old = stale_version(api, "Users", user["id"])
    body = make.user_body(userName=user["userName"], title="should-not-stick")
    r = api.put(f"Users/{user['id']}", body, headers={"If-Match": old})
    assert_scim_error(r, 412)
    assert api.read("Users", user["id"]).get("title") != "should-not-stick"


def test_if_match_stale_patch_is_412(api, user):
    old = stale_version(api, "Users", user["id"])
    r = api.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "title", "value": "nope"}),
                  headers={"If-Match": old})
    assert_scim_error(r, 412)
    assert api.read("Users", user["id"]).get("title") != "nope"


def test_if_match_stale_delete_is_412(api, user):
    old = stale_version(api, "Users", user["id"])
    r = api.delete(f"Users/{user['id']}", headers={"If-Match": old})
    assert_scim_error(r, 412)
    expect_status(api.get(f"Users/{user['id']}"), 200)


def test_if_match_stale_group_patch_is_412(api, group):
    old = stale_version(api, "Groups", group["id"])
    r = api.patch(f"Groups/{group['id']}", patch_body({"op": "replace", "path": "displayName", "value": "x"}),
                  headers={"If-Match": old})
    assert_scim_error(r, 412)


def test_if_match_current_put_succeeds(api, make, user):
    version = current_version(api, "Users", user["id"])
    body = make.user_body(userName=user["userName"], title="put-ok")
    r = api.put(f"Users/{user['id']}", body, headers={"If-Match": version})
    out = expect_status(r, 200)
    assert out["title"] == "put-ok"
    assert out["meta"]["version"] != version


def test_if_match_current_patch_succeeds(api, user):
    version = current_version(api, "Users", user["id"])
    r = api.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "title", "value": "patch-ok"}),
                  headers={"If-Match": version})
    expect_status(r, 200, 204)
    assert api.read("Users", user["id"])["title"] == "patch-ok"


def test_if_match_current_delete_succeeds(api, user):
    version = current_version(api, "Users", user["id"])
    r = api.delete(f"Users/{user['id']}", headers={"If-Match": version})
    expect_status(r, 204)
    assert_scim_error(api.get(f"Users/{user['id']}"), 404)
