"""Account isolation (SPEC §3.4, §8): a token of one account never reads, changes or learns
of another account's users. Uses the roster CLI on the server's own database to make a second
account and token; skipped when ROSTER_BIN / ROSTER_DATABASE_URL are not given."""
import os
import subprocess

import pytest

from conftest import Api, assert_scim_error, expect_status, patch_body, uniq


def roster(*args):
    cmd = [os.environ["ROSTER_BIN"], "--database", os.environ["ROSTER_DATABASE_URL"], *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}: {p.stderr[-1000:]}"
    return p.stdout.strip()


@pytest.fixture(scope="module")
def other(base_url):
    if not (os.environ.get("ROSTER_BIN") and os.environ.get("ROSTER_DATABASE_URL")):
        pytest.skip("ROSTER_BIN and ROSTER_DATABASE_URL are needed to create a second account")
    name = uniq("other")
    roster("account", "create", name)
    token = roster("token", "create", "--account", name, "--name", "tenancy-test")
    assert token and len(token.split()) == 1, f"token create should print only the token, got {token!r}"
    return Api(base_url, token)


def test_other_account_cannot_find_user(other, user):
    body = other.filter("Users", f'userName eq "{user["userName"]}"')
    assert body["totalResults"] == 0


def test_other_account_gets_404_for_user(other, user):
    assert_scim_error(other.get(f"Users/{user['id']}"), 404)


def test_other_account_cannot_change_or_delete_user(api, other, user):
    r = other.patch(f"Users/{user['id']}", patch_body({"op": "replace", "path": "title", "value": "hijacked"}))
    assert_scim_error(r, 404)
    assert_scim_error(other.delete(f"Users/{user['id']}"), 404)
    assert api.read("Users", user["id"]).get("title") != "hijacked"


def test_email_in_use_in_other_account_is_409_without_leaking(other, user):
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user["userName"], "emails": user["emails"]}
    r = other.post("Users", body)
    if r.status_code == 201:
        other.delete(f"Users/{r.json()['id']}")
    err = assert_scim_error(r, 409, "uniqueness")
    assert user["id"] not in r.text, f"the error must not reveal the other account's user: {err}"


def test_new_account_lists_nothing_of_ours(other, user):
    body = expect_status(other.get("Users", params={"count": 200}), 200)
    assert user["id"] not in {r["id"] for r in body.get("Resources") or []}
