"""Sign-in: a one-time link from `roster console-link`, or an admin token pasted into the form
(docs/console.md, Sign-in and session)."""
from playwright.sync_api import expect

from conftest import (
    ACCOUNT, ADMIN_TOKEN, AUDITOR_TOKEN, LINK_REFUSED, NAV, console_link, url,
)


def assert_signed_in(c, role):
    assert c.page.url == url("/console/"), f"expected the overview, got {c.page.url}"
    header = c.page.locator("header").first
    expect(header).to_contain_text(ACCOUNT)
    expect(header).to_contain_text(role)
    assert c.session_cookie() is not None, "no roster_console cookie after signing in"


def test_a_link_signs_in_once_and_a_second_use_is_refused(open_console):
    link = console_link("admin")
    first = open_console(None)
    resp = first.goto(link, "link-first-use")
    # the link answers 303 to /console/, which sets the session
    hop = resp.request.redirected_from
    assert hop is not None and hop.url == link, (
        f"expected a redirect from the link to /console/, the page came from {resp.url}"
    )
    assert hop.response().status == 303, f"the link answered {hop.response().status}, not 303"
    assert_signed_in(first, "admin")

    second = open_console(None)
    resp = second.goto(link, "link-second-use")
    assert resp.status == 401, f"a used link answered {resp.status}, not 401"
    expect(second.page.locator("main")).to_contain_text(LINK_REFUSED)
    expect(second.page.get_by_label("Admin token")).to_be_visible()
    assert second.session_cookie() is None, "a used link set a session cookie"

    # the first session is not disturbed by the refused second use
    resp = first.goto("/console/", "first-session-still-signed-in")
    assert resp.status == 200 and first.page.url == url("/console/")


def test_an_unknown_link_is_refused(open_console):
    c = open_console(None)
    resp = c.goto("/console/link/not-a-real-token", "unknown-link")
    assert resp.status == 401
    expect(c.page.locator("main")).to_contain_text(LINK_REFUSED)
    assert c.session_cookie() is None


def test_an_auditor_link_signs_in_as_auditor(open_console):
    c = open_console("auditor")
    assert_signed_in(c, "auditor")


def test_a_pasted_admin_token_signs_in(open_console):
    c = open_console(None)
    c.goto("/console/sign-in", "sign-in-form")
    c.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    c.submit(c.page.get_by_role("button", name="Sign in"), "signed-in-by-token")
    assert_signed_in(c, "admin")


def test_a_pasted_auditor_token_signs_in_as_auditor(open_console):
    c = open_console(None)
    c.goto("/console/sign-in", "sign-in-form")
    c.page.get_by_label("Admin token").fill(AUDITOR_TOKEN)
    c.submit(c.page.get_by_role("button", name="Sign in"), "signed-in-by-auditor-token")
    assert_signed_in(c, "auditor")


def test_a_bad_token_reshows_the_form_with_an_alert(open_console):
    c = open_console(None)
    c.goto("/console/sign-in", "sign-in-form")
    c.page.get_by_label("Admin token").fill("not-a-token")
    c.submit(c.page.get_by_role("button", name="Sign in"), "bad-token")
    expect(c.page.locator("p[role=alert]")).to_be_visible()
    expect(c.page.get_by_label("Admin token")).to_be_visible()
    assert c.session_cookie() is None, "a bad token set a session cookie"


def test_every_page_without_a_session_goes_to_sign_in(open_console):
    c = open_console(None)
    for _, path in NAV:
        resp = c.request.get(url(path), max_redirects=0)
        assert resp.status == 303, f"GET {path} without a session answered {resp.status}, not 303"
        location = resp.headers.get("location", "")
        assert location in ("/console/sign-in", url("/console/sign-in")), (
            f"GET {path} without a session redirects to {location!r}"
        )
    c.goto("/console/sync-log", "no-session-lands-on-sign-in")
    assert c.page.url == url("/console/sign-in")
    expect(c.page.get_by_role("button", name="Sign in")).to_be_visible()
