"""Connections: create one and see its token once, then revoke it
(docs/console.md, Pages: Connections)."""
from playwright.sync_api import expect

from conftest import api, uniq, url


def create_form(page):
    return page.locator("main form").filter(has=page.locator("select[name=auth]")).first


def test_a_new_connection_shows_its_token_once_and_revoke_ends_it(admin):
    name = uniq("conn-")
    admin.goto("/console/connections", "connections")
    columns = [c.strip().lower() for c in admin.page.locator("main table thead th").all_inner_texts()]
    for column in ["name", "kind", "status", "created", "last activity"]:
        assert column in columns, f"the connections table has no column {column!r}: {columns}"
    form = create_form(admin.page)
    assert (form.get_attribute("method") or "").lower() == "post"
    assert form.get_attribute("action") in ("/console/connections", url("/console/connections"))
    form.locator("[name=name]").fill(name)
    form.locator("select[name=auth]").select_option("bearer")
    admin.submit(form.locator("button, input[type=submit]").first, "created")

    secret = admin.page.locator("output#secret")
    expect(secret).to_have_count(1)
    token = secret.inner_text().strip()
    assert len(token) >= 20, f"no token in output#secret: {token!r}"
    expect(admin.page.locator("main")).to_contain_text("shown once")
    status, body, _ = api("GET", "/scim/v2/Users?count=1", token=token)
    assert status == 200, f"the token shown does not work on /scim/v2: {status} {body}"

    # gone once the page is loaded again, and never on the list
    admin.goto(admin.page.url, "reloaded")
    assert token not in admin.page.content(), "the token is shown again after a reload"
    admin.goto("/console/connections", "list-after-create")
    assert token not in admin.page.content(), "the token is shown on the connections page"
    expect(admin.page.locator("output#secret")).to_have_count(0)
    row = admin.page.locator("main table tbody tr").filter(has_text=name)
    expect(row).to_have_count(1)

    revoke = row.get_by_role("button", name="Revoke")
    expect(revoke).to_have_count(1)
    admin.submit(revoke, "revoked")
    status, _, _ = api("GET", "/scim/v2/Users?count=1", token=token)
    assert status == 401, f"the revoked connection's token still answers {status}"
    admin.goto("/console/connections", "list-after-revoke")
    expect(admin.page.locator("main table tbody tr").filter(has_text=name)).to_contain_text("revoked")


def test_an_oauth_connection_shows_its_client_id_and_secret_once(admin):
    name = uniq("oauth-")
    admin.goto("/console/connections", "connections")
    form = create_form(admin.page)
    form.locator("[name=name]").fill(name)
    form.locator("select[name=auth]").select_option("oauth")
    admin.submit(form.locator("button, input[type=submit]").first, "created")
    secret = admin.page.locator("output#secret")
    expect(secret).to_have_count(1)
    shown = secret.inner_text()
    expect(admin.page.locator("main")).to_contain_text("shown once")
    status, body, _ = api("GET", "/admin/v1/connections")
    assert status == 200, body
    conns = body["connections"] if isinstance(body, dict) else body
    made = [c for c in conns if c.get("name") == name]
    assert made, f"the connection {name} was not made"
    client_id = made[0].get("client_id")
    assert client_id, f"{name} is not an OAuth connection: {made[0]}"
    expect(admin.page.locator("main")).to_contain_text(client_id)
    secret = shown.strip().split()[-1]
    # the secret shown is the one: the identity provider trades it for an access token
    resp = admin.request.post(url("/oauth/token"), form={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert resp.status == 200, f"the client id and secret shown do not work: {resp.status} {resp.text()[:300]}"
    assert resp.json().get("access_token"), resp.text()[:300]
    admin.goto("/console/connections", "list-after-create")
    expect(admin.page.locator("output#secret")).to_have_count(0)
