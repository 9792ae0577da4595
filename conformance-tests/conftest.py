"""Fixtures and helpers for Roster's black-box SCIM 2.0 suite.

The suite talks HTTP to a running server only. It reads:
  ROSTER_BASE_URL      SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2 (required)
  ROSTER_TOKEN         bearer token of the account under test (optional for servers without auth)
  ROSTER_BIN           the roster binary (only the tenancy tests use it)
  ROSTER_DATABASE_URL  the database the server runs on (only the tenancy tests use it)

Every resource a test creates has a uuid-based name and is deleted afterwards, so the tests
run in any order, any number of times, against one server.
"""
import json
import os
import uuid

import pytest
import requests

SCIM_JSON = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"

TIMEOUT = float(os.environ.get("ROSTER_HTTP_TIMEOUT", "20"))


def uniq(prefix="t"):
    """A name no other test (or earlier run) uses."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def media_type(resp):
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


def assert_scim_json(resp):
    assert media_type(resp) == SCIM_JSON, (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code}: "
        f"Content-Type is {resp.headers.get('Content-Type')!r}, expected {SCIM_JSON}"
    )


def describe(resp):
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text[:800]}"


def expect_status(resp, *codes):
    """Assert the status is one of codes; return the parsed body (or None for an empty one)."""
    assert resp.status_code in codes, f"expected HTTP {' or '.join(map(str, codes))}; {describe(resp)}"
    if resp.status_code in (204, 304) or not resp.content:
        return None
    assert_scim_json(resp)
    return resp.json()


def assert_scim_error(resp, status, scim_type=None):
    """RFC 7644 §3.12: an error body with the Error schema, status as a string, and scimType.

    scim_type may be one string or a collection of acceptable values.
    """
    assert resp.status_code == status, f"expected HTTP {status}; {describe(resp)}"
    assert_scim_json(resp)
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"error response is not JSON; {describe(resp)}")
    assert body.get("schemas") == [ERROR_SCHEMA], f"error body schemas wrong: {body}"
    assert body.get("status") == str(status), (
        f"error body status must be the string {str(status)!r}, got {body.get('status')!r}"
    )
    if scim_type is not None:
        allowed = {scim_type} if isinstance(scim_type, str) else set(scim_type)
        assert body.get("scimType") in allowed, (
            f"scimType should be {' or '.join(sorted(allowed))}, got {body.get('scimType')!r}: {body}"
        )
    return body


def find_key(obj, name):
    """True when a key equal to name (case-insensitively) appears anywhere in obj."""
    if isinstance(obj, dict):
        return any(k.lower() == name.lower() or find_key(v, name) for k, v in obj.items())
    if isinstance(obj, list):
        return any(find_key(v, name) for v in obj)
    return False


def ids_of(body):
    return [r["id"] for r in (body.get("Resources") or [])]


def member_ids(group):
    return sorted(m["value"] for m in (group.get("members") or []))


def patch_body(*ops, key="Operations"):
    return {"schemas": [PATCH_SCHEMA], key: list(ops)}


def email_of(emails, typ):
    for e in emails or []:
        if e.get("type") == typ:
            return e
    return None


class Api:
    """requests.Session bound to the SCIM base URL, with auth, SCIM media types and timeouts."""

    def __init__(self, base_url, token):
        self.base = base_url.rstrip("/")
        self.token = token
        self.s = requests.Session()
        self.s.headers["Accept"] = SCIM_JSON
        if token:
            self.s.headers["Authorization"] = f"Bearer {token}"

    def url(self, path):
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base + "/" + path.lstrip("/")

    def request(self, method, path, json_body=None, data=None, headers=None, params=None, auth=True):
        hdrs = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body)
        if data is not None:
            hdrs.setdefault("Content-Type", SCIM_JSON)
        if not auth:
            # a bare request: no session headers at all except the ones given
            hdrs.setdefault("Accept", SCIM_JSON)
            return requests.request(method, self.url(path), data=data, headers=hdrs,
                                    params=params, timeout=TIMEOUT)
        return self.s.request(method, self.url(path), data=data, headers=hdrs,
                              params=params, timeout=TIMEOUT)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, json_body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, json_body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, json_body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # small conveniences
    def list(self, resource, **params):
        r = self.get(resource, params=params)
        return expect_status(r, 200)

    def filter(self, resource, flt, **params):
        params["filter"] = flt
        return self.list(resource, **params)

    def read(self, resource, rid):
        return expect_status(self.get(f"{resource}/{rid}"), 200)

    def patch_read(self, resource, rid, *ops, **kw):
        """PATCH, accept 200 or 204 (RFC 7644 §3.5.2), return the resource as read afterwards."""
        r = self.patch(f"{resource}/{rid}", patch_body(*ops), **kw)
        expect_status(r, 200, 204)
        return self.read(resource, rid)


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("ROSTER_BASE_URL")
    if not url:
        pytest.skip("ROSTER_BASE_URL is not set (run conformance-tests/run.sh)")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def token():
    return os.environ.get("ROSTER_TOKEN", "")


@pytest.fixture(scope="session")
def api(base_url, token):
    return Api(base_url, token)


@pytest.fixture(scope="session")
def spc(api):
    return expect_status(api.get("ServiceProviderConfig"), 200)


class Factory:
    """Creates users and groups with unique names and deletes them at teardown."""

    def __init__(self, api):
        self.api = api
        self.created = []  # (resource, id), deleted in reverse order

    def user_body(self, without=(), **overrides):
        """A valid new User; overrides replace top-level attributes, without drops them."""
        tag = uniq("u")
        body = {
            "schemas": [USER_SCHEMA],
            "userName": f"{tag}@example.com",
            "name": {"givenName": "Given", "familyName": f"Family{tag}"},
            "emails": [{"value": f"{tag}@example.com", "type": "work", "primary": True}],
            "active": True,
        }
        body.update(overrides)
        for k in without:
            body.pop(k, None)
        return body

    def track(self, resource, rid):
        self.created.append((resource, rid))

    def user(self, without=(), **overrides):
        body = self.user_body(without, **overrides)
        r = self.api.post("Users", body)
        created = expect_status(r, 201)
        self.track("Users", created["id"])
        return created

    def group(self, members=(), **overrides):
        body = {
            "schemas": [GROUP_SCHEMA],
            "displayName": uniq("Group "),
        }
        if members:
            body["members"] = [{"value": m} for m in members]
        body.update(overrides)
        r = self.api.post("Groups", body)
        created = expect_status(r, 201)
        self.track("Groups", created["id"])
        return created

    def cleanup(self):
        for resource, rid in reversed(self.created):
            try:
                self.api.delete(f"{resource}/{rid}")
            except requests.RequestException:
                pass


@pytest.fixture
def make(api):
    f = Factory(api)
    yield f
    f.cleanup()


@pytest.fixture
def user(make):
    return make.user()


@pytest.fixture
def group(make):
    return make.group()
