"""Seeds the account the console tests look at, through SCIM and the admin API.

run.sh has made the accounts (acme, under test, and globex), their SCIM tokens, acme's admin
token and the license pools (meeting: 2 seats, webinar: 1) with the CLI. This adds:

- the setting default_products = [meeting] and a rule: members of the group Sales get webinar;
- users ann, bob, cat, dee, eve (in that order): ann and bob hold the two meeting seats, cat,
  dee and eve wait for one (no_seat conflicts); ann holds webinar through Sales, bob waits;
- pat@example.com, held by a globex user, pushed twice by acme's identity provider: two 409s
  in the sync log and an open email_in_use conflict;
- a change of ann's givenName (Ann -> Annie): an entry with a modified property.

Usage: seed.py OUT.json (writes the ids the tests need). Reads ROSTER_URL, ROSTER_SCIM_TOKEN,
ROSTER_OTHER_SCIM_TOKEN, ROSTER_ADMIN_TOKEN.
"""
import json
import os
import sys
import urllib.error
import urllib.request

BASE = os.environ["ROSTER_URL"].rstrip("/")
SCIM = os.environ["ROSTER_SCIM_TOKEN"]
OTHER = os.environ["ROSTER_OTHER_SCIM_TOKEN"]
ADMIN = os.environ["ROSTER_ADMIN_TOKEN"]
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def call(method, path, token, body=None, content_type="application/json"):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def expect(what, got, *statuses):
    status, body = got
    if status not in statuses:
        sys.exit(f"seed: {what}: HTTP {status}: {body}")
    print(f"seed: {what}: {status}")
    return body


def scim_user(token, name, given):
    return call("POST", "/scim/v2/Users", token, {
        "schemas": [USER_SCHEMA],
        "userName": f"{name}@example.com",
        "name": {"givenName": given, "familyName": "Example"},
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
    }, "application/scim+json")


def main(out):
    expect("default_products", call("PATCH", "/admin/v1/settings", ADMIN,
                                    {"default_products": ["meeting"]}), 200)
    users = {}
    for name in ["ann", "bob", "cat", "dee", "eve"]:
        body = expect(f"user {name}", scim_user(SCIM, name, name.capitalize()), 201)
        users[f"{name}@example.com"] = body["id"]
    group = expect("group Sales", call("POST", "/scim/v2/Groups", SCIM, {
        "schemas": [GROUP_SCHEMA],
        "displayName": "Sales",
        "members": [{"value": users["ann@example.com"]}, {"value": users["bob@example.com"]}],
    }, "application/scim+json"), 201)
    rule = expect("rule Sales -> webinar", call("POST", "/admin/v1/rules", ADMIN,
                                                {"product": "webinar", "group": group["id"]}),
                  200, 201)
    expect("pat in globex", scim_user(OTHER, "pat", "Pat"), 201)
    for attempt in (1, 2):
        expect(f"pat in acme, attempt {attempt}", scim_user(SCIM, "pat", "Pat"), 409)
    expect("ann renamed", call("PATCH", f"/scim/v2/Users/{users['ann@example.com']}", SCIM, {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": "Annie"}],
    }, "application/scim+json"), 200, 204)
    products = expect("products", call("GET", "/admin/v1/products", ADMIN), 200)
    conflicts = expect("conflicts", call("GET", "/admin/v1/conflicts?status=open", ADMIN), 200)
    seed = {
        "account": "acme",
        "users": users,
        "group": {"Sales": group["id"]},
        "rule": rule,
        "products": products,
        "conflicts": conflicts,
    }
    with open(out, "w") as f:
        json.dump(seed, f, indent=2)
    print(f"seed: written to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
