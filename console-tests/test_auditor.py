"""An auditor sees every page and no control that writes; the server refuses their writes
anyway (docs/console.md, Shape; issue 14)."""
import re
import urllib.parse

import pytest
from playwright.sync_api import expect

from conftest import PAGE_KEYS, api, url

WRITE_LINK = re.compile(
    r"/console/(users/[^/]+/(suspend|reactivate|transfer)|webhooks/[^/]+/(disable|enable|delete))$")


def test_an_auditor_finds_no_control_that_writes(auditor, page_path):
    for key in PAGE_KEYS:
        path = page_path(key)
        resp = auditor.goto(path, key)
        assert resp.status in (200, 403), f"GET {path} as auditor answered {resp.status}"
        forms = auditor.post_forms()
        others = [f for f in forms if f[0] != "/console/sign-out"]
        assert others == [], f"{path}: an auditor is offered POST forms {others}"
        if resp.status == 200:
            assert len(forms) == 1, f"{path}: no sign-out form in the header"
            expect(auditor.page.locator("header")).to_contain_text("auditor")
        links = auditor.page.eval_on_selector_all(  # in-page links (#main) aside
            "a[href]:not([href^='#'])", "as => as.map(a => new URL(a.href).pathname)")
        writes = [h for h in links if WRITE_LINK.search(h)]
        assert writes == [], f"{path}: an auditor is offered write controls {writes}"


def user_status(user_name):
    status, body, _ = api("GET", "/admin/v1/users?" + urllib.parse.urlencode(
        {"filter": f'userName eq "{user_name}"'}))
    assert status == 200 and body["users"], body
    return body["users"][0]["status"]


@pytest.mark.parametrize("what", ["settings", "suspend", "products", "connections", "rules", "revoke"])
def test_a_direct_post_as_auditor_is_refused(auditor, seed, what):
    auditor.goto("/console/", "overview")
    csrf = auditor.csrf()
    assert csrf, "no csrf token in the auditor's sign-out form"
    eve = seed["users"]["eve@example.com"]
    before_settings = api("GET", "/admin/v1/settings")[1]
    before_products = api("GET", "/admin/v1/products")[1]
    before_connections = api("GET", "/admin/v1/connections")[1]
    before_rules = api("GET", "/admin/v1/rules")[1]
    path, form = {
        "settings": ("/console/settings", {
            "seat_policy": "reject", "default_products": "",
            "recording_access": "own_only", "sync_log_retention_days": "7"}),
        "suspend": (f"/console/users/{eve}/suspend", {}),
        "products": ("/console/products/meeting", {"seats": "50"}),
        "connections": ("/console/connections", {"name": "auditor-made", "auth": "bearer"}),
        "rules": ("/console/rules", {"product": "meeting", "group": "",
                                     "filter": 'userName eq "auditor@example.com"'}),
        "revoke": ("/console/connections/okta-prod/revoke", {}),
    }[what]
    resp = auditor.request.post(url(path), form={**form, "csrf": csrf}, max_redirects=0)
    assert resp.status == 403, f"POST {path} as auditor answered {resp.status}: {resp.text()[:300]}"
    assert api("GET", "/admin/v1/settings")[1] == before_settings
    assert api("GET", "/admin/v1/products")[1] == before_products
    assert api("GET", "/admin/v1/connections")[1] == before_connections
    assert api("GET", "/admin/v1/rules")[1] == before_rules
    assert user_status("eve@example.com") == "active"
    auditor.page.set_content(resp.text())
    auditor.shot(f"refused-{what}")
