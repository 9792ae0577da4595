"""Sign out ends the session on the server: the old cookie no longer works."""
from conftest import url


def test_sign_out_ends_the_session_on_the_server(admin, open_console):
    old = admin.session_cookie()
    assert old is not None
    admin.goto("/console/sync-log", "before-sign-out")
    resp = admin.submit(admin.page.get_by_role("button", name="Sign out"), "after-sign-out")
    hop = resp.request.redirected_from
    assert hop is not None and hop.method == "POST" and hop.url == url("/console/sign-out")
    assert hop.response().status == 303, f"sign-out answered {hop.response().status}, not 303"
    assert admin.page.url == url("/console/sign-in")

    # the old cookie, replayed from a fresh browser, is no longer a session
    replay = open_console(None)
    replay.context.add_cookies([{k: old[k] for k in
                                 ("name", "value", "domain", "path", "httpOnly", "secure", "sameSite")}])
    assert replay.session_cookie()["value"] == old["value"]
    resp = replay.request.get(url("/console/"), max_redirects=0)
    assert resp.status == 303, f"the old session cookie still opens /console/ ({resp.status})"
    assert resp.headers.get("location", "").endswith("/console/sign-in")
    replay.goto("/console/", "old-cookie-replayed")
    assert replay.page.url == url("/console/sign-in")

    # and the signed-out browser itself is not let back in
    admin.goto("/console/", "signed-out-browser")
    assert admin.page.url == url("/console/sign-in")
