"""Every POST needs the session's csrf field: without it, or with a wrong one, 403
(docs/console.md, Sign-in and session). Sent with Playwright's request API, which carries the
browser context's session cookie."""
import pytest

from conftest import CSRF_REFUSED, api, url


def settings():
    status, body, _ = api("GET", "/admin/v1/settings")
    assert status == 200, body
    return body


def settings_form(s, days):
    return {
        "seat_policy": s["seat_policy"],
        "default_products": ",".join(s["default_products"]),
        "recording_access": s["recording_access"],
        "sync_log_retention_days": str(days),
    }


@pytest.mark.parametrize("csrf", [None, "", "wrong-token"], ids=["missing", "empty", "wrong"])
def test_a_post_without_the_right_csrf_is_refused(admin, csrf):
    admin.goto("/console/settings", "settings")
    before = settings()
    form = settings_form(before, 4 if before["sync_log_retention_days"] != 4 else 5)
    if csrf is not None:
        form["csrf"] = csrf
    resp = admin.request.post(url("/console/settings"), form=form, max_redirects=0)
    assert resp.status == 403, f"POST /console/settings with csrf={csrf!r} answered {resp.status}"
    body = resp.text()
    assert CSRF_REFUSED in body, f"the 403 page does not say why: {body[:400]}"
    assert settings() == before, "a POST without the csrf token changed the settings"
    admin.page.set_content(body)
    admin.shot("refused")

    # the same request with the session's token goes through: it was the token that was missing
    admin.goto("/console/settings", "settings-again")
    good = settings_form(before, before["sync_log_retention_days"]) | {"csrf": admin.csrf()}
    resp = admin.request.post(url("/console/settings"), form=good, max_redirects=0)
    assert resp.status in (200, 303), f"the same POST with the csrf token answered {resp.status}"


def test_sign_out_without_csrf_is_refused_and_the_session_stays(admin):
    admin.goto("/console/", "overview")
    resp = admin.request.post(url("/console/sign-out"), form={}, max_redirects=0)
    assert resp.status == 403, f"POST /console/sign-out without csrf answered {resp.status}"
    resp = admin.goto("/console/", "still-signed-in")
    assert admin.page.url == url("/console/") and resp.status == 200


def write_endpoints(seed):
    """(path, form, multipart) of every POST the console takes, each with valid fields."""
    eve = seed["users"]["eve@example.com"]
    return {
        "products-new": ("/console/products", {"product": "csrf-less", "seats": "1"}, None),
        "products-resize": ("/console/products/meeting", {"seats": "40"}, None),
        "connections-new": ("/console/connections", {"name": "csrf-less", "auth": "bearer"}, None),
        "connections-revoke": ("/console/connections/okta-prod/revoke", {}, None),
        "rules-new": ("/console/rules", {"product": "meeting", "group": "", "filter": 'userName eq "x@example.com"'}, None),
        "users-suspend": (f"/console/users/{eve}/suspend", {}, None),
        "users-transfer": (f"/console/users/{eve}/transfer", {"email": "csrf-less@example.com", "retain_data": "on"}, None),
        "import": ("/console/import", None, {"file": {"name": "p.csv", "mimeType": "text/csv",
                                                      "buffer": b"email\ncsrf-less@example.com\n"}}),
        "import-apply": ("/console/import/apply", {"upload": "00000000-0000-0000-0000-000000000000"}, None),
    }


ENDPOINTS = ["products-new", "products-resize", "connections-new", "connections-revoke", "rules-new",
             "users-suspend", "users-transfer", "import", "import-apply"]


@pytest.mark.parametrize("what", ENDPOINTS)
def test_every_write_without_csrf_is_refused(admin, seed, what):
    path, form, multipart = write_endpoints(seed)[what]
    before = {p: api("GET", p)[1] for p in ("/admin/v1/products", "/admin/v1/connections",
                                            "/admin/v1/rules", "/admin/v1/settings")}
    users_before = api("GET", "/admin/v1/users?count=1000")[1]
    if multipart is not None:
        resp = admin.request.post(url(path), multipart=multipart, max_redirects=0)
    else:
        resp = admin.request.post(url(path), form=form, max_redirects=0)
    assert resp.status == 403, f"POST {path} without csrf answered {resp.status}: {resp.text()[:300]}"
    assert CSRF_REFUSED in resp.text(), f"POST {path}: the 403 page does not say why"
    for p, body in before.items():
        assert api("GET", p)[1] == body, f"POST {path} without csrf changed {p}"
    assert api("GET", "/admin/v1/users?count=1000")[1] == users_before, (
        f"POST {path} without csrf changed users"
    )
