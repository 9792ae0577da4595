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
