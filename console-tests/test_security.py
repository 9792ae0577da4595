"""Security headers, the session cookie, no inline script or style, nothing from elsewhere
(docs/console.md, Shape and Sign-in and session)."""
import time

import pytest

from conftest import NAV, SESSION_COOKIE, page_key, url

# docs/console.md: the Content-Security-Policy of every console response
CSP = {
    "default-src": {"'none'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "connect-src": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
    "base-uri": {"'none'"},
}


def parse_csp(value):
    policy = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            policy[words[0].lower()] = set(words[1:])
    return policy


def assert_security_headers(resp, what, page=True):
    h = {k.lower(): v for k, v in resp.headers.items()}
    csp = h.get("content-security-policy")
    assert csp, f"{what}: no Content-Security-Policy"
    policy = parse_csp(csp)
    for directive, sources in CSP.items():
        assert policy.get(directive) == sources, (
            f"{what}: CSP {directive} is {sorted(policy.get(directive, []))}, "
            f"docs/console.md says {sorted(sources)} (whole policy: {csp})"
        )
    for directive, sources in policy.items():
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, (
            f"{what}: CSP {directive} allows {sorted(sources)}"
        )
    assert h.get("x-frame-options", "").upper() == "DENY" or policy.get("frame-ancestors") == {"'none'"}, (
        f"{what}: neither X-Frame-Options: DENY nor frame-ancestors 'none'"
    )
    assert h.get("x-frame-options", "").upper() == "DENY", f"{what}: X-Frame-Options is {h.get('x-frame-options')!r}"
    assert h.get("referrer-policy") == "no-referrer", f"{what}: Referrer-Policy is {h.get('referrer-policy')!r}"
    assert h.get("x-content-type-options") == "nosniff", (
        f"{what}: X-Content-Type-Options is {h.get('x-content-type-options')!r}"
    )
    if page:
        assert "no-store" in h.get("cache-control", ""), f"{what}: Cache-Control is {h.get('cache-control')!r}"


@pytest.mark.parametrize("path", [p for _, p in NAV], ids=[page_key(p) for _, p in NAV])
def test_security_headers_and_no_inline_code_on_each_page(admin, path):
    requested = []
    admin.page.on("request", lambda r: requested.append(r.url))
    resp = admin.goto(path, page_key(path))
    assert resp.status == 200, f"GET {path} answered {resp.status}"
    assert_security_headers(resp, f"GET {path}")

    inline = admin.page.evaluate("""() => ({
        scripts: Array.from(document.querySelectorAll('script:not([src])')).length,
        styles: Array.from(document.querySelectorAll('style')).length,
        style_attributes: Array.from(document.querySelectorAll('[style]')).map(e => e.tagName),
        handlers: Array.from(document.querySelectorAll('*')).flatMap(e =>
            Array.from(e.attributes).filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
        javascript_urls: Array.from(document.querySelectorAll('[href^="javascript:"]')).length,
    })""")
    assert inline == {"scripts": 0, "styles": 0, "style_attributes": [], "handlers": [],
                      "javascript_urls": 0}, f"{path}: inline script or style: {inline}"
    foreign = [u for u in requested if not (u.startswith(url("/")) or u.startswith("data:"))]
    assert foreign == [], f"{path} loaded from another origin: {foreign}"
    refused = [m for m in admin.console_errors if "Content Security Policy" in m or "Refused" in m]
    assert refused == [], f"{path}: the browser refused content under the page's own CSP: {refused}"


def test_security_headers_on_the_sign_in_page_and_a_refused_link(open_console):
    c = open_console(None)
    resp = c.goto("/console/sign-in", "sign-in")
    assert resp.status == 200
    assert_security_headers(resp, "GET /console/sign-in")
    resp = c.goto("/console/link/unknown", "refused-link")
    assert_security_headers(resp, "GET /console/link/unknown (401)")


def test_assets_are_embedded_and_cached_immutably(admin):
    admin.goto("/console/", "overview")
    assets = admin.page.eval_on_selector_all(
        "link[rel=stylesheet], script[src]", "els => els.map(e => e.href || e.src)")
    assert any("/console/assets/" in a for a in assets), f"no console asset linked: {assets}"
    for a in assets:
        assert a.startswith(url("/console/assets/")) and "?v=" in a, f"asset {a} is not /console/assets/NAME?v=HASH"
        resp = admin.request.get(a)
        assert resp.status == 200, f"GET {a} answered {resp.status}"
        cc = resp.headers.get("cache-control", "")
        assert "max-age=31536000" in cc and "immutable" in cc and "public" in cc, f"{a}: Cache-Control {cc!r}"


def test_the_session_cookie_is_httponly_samesite_strict_and_expires(open_console):
    before = time.time()
    c = open_console("admin")
    cookie = c.session_cookie()
    assert cookie is not None, f"no {SESSION_COOKIE} cookie"
    assert cookie["httpOnly"] is True, f"the session cookie is not HttpOnly: {cookie}"
    assert cookie["sameSite"] == "Strict", f"the session cookie is SameSite={cookie['sameSite']}"
    assert cookie["path"] == "/console", f"the session cookie's Path is {cookie['path']!r}"
    # served over plain HTTP here: Secure would keep the browser from sending it back
    assert cookie["secure"] is False
    assert cookie["expires"] > 0, "the session cookie has no expiry (a browser-session cookie)"
    assert before + 7 * 3600 < cookie["expires"] <= time.time() + 8 * 3600 + 60, (
        f"the session cookie should expire after 8 hours, expires in {(cookie['expires'] - before) / 3600:.2f} h"
    )
    # not readable from scripts
    assert SESSION_COOKIE not in c.page.evaluate("document.cookie")
