"""Fixtures and helpers for the admin console's end-to-end suite (docs/console.md).

The suite drives Debian's Chromium through Playwright against a running `roster serve` that
run.sh started and seeded (seed.py). It reads:
  ROSTER_URL            the server, e.g. http://127.0.0.1:8123 (required)
  ROSTER_BIN            the roster binary: `roster console-link` makes each sign-in link
  ROSTER_DATABASE_URL   the server's database, for console-link
  ROSTER_ACCOUNT        the account under test (acme)
  ROSTER_ADMIN_TOKEN, ROSTER_AUDITOR_TOKEN   admin API tokens of that account
  ROSTER_SCIM_TOKEN     its identity provider's SCIM token
  ROSTER_SEED           seed.py's JSON (user ids, ...)
  CHROMIUM              the browser (default /usr/bin/chromium)
  AXE_JS                axe-core's axe.min.js
  SHOT_DIR              where screenshots go (every page a test visits, named by test and step)

Every test signs in with a link of its own, so each has its own session; what a test creates
has a uuid-based name, so the tests run in any order against one server.
"""
import http.server
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from playwright.sync_api import sync_playwright

BASE = os.environ.get("ROSTER_URL", "http://127.0.0.1:8080").rstrip("/")
ROSTER_BIN = os.environ.get("ROSTER_BIN", "roster")
DATABASE_URL = os.environ.get("ROSTER_DATABASE_URL", "")
ACCOUNT = os.environ.get("ROSTER_ACCOUNT", "acme")
ADMIN_TOKEN = os.environ.get("ROSTER_ADMIN_TOKEN", "")
AUDITOR_TOKEN = os.environ.get("ROSTER_AUDITOR_TOKEN", "")
SCIM_TOKEN = os.environ.get("ROSTER_SCIM_TOKEN", "")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE_JS = os.environ.get("AXE_JS", "")
SHOT_DIR = os.environ.get("SHOT_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                    "roster-console-logs", "console", "adhoc"))

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000
HTTP_TIMEOUT = 20

SESSION_COOKIE = "roster_console"
LINK_REFUSED = "This sign-in link is invalid, used or expired."
CSRF_REFUSED = "The form's security token is missing or wrong: reload the page and try again."

# docs/console.md, Layout: the nav links in their order
NAV = [
    ("Overview", "/console/"),
    ("Sync log", "/console/sync-log"),
    ("Conflicts", "/console/conflicts"),
    ("Users", "/console/users"),
    ("Products", "/console/products"),
    ("Connections", "/console/connections"),
    ("Webhooks", "/console/webhooks"),
    ("Import", "/console/import"),
    ("Settings", "/console/settings"),
]


def uniq(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def url(path):
    return BASE + path


# --- the admin API, for setting up and cross-checking ----------------------------------------


def api(method, path, body=None, token=None, raw=None, content_type="application/json"):
    """Calls the server with a bearer token; returns (status, parsed JSON or text, headers)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url(path), data=data, method=method)
    req.add_header("Authorization", f"Bearer {token or ADMIN_TOKEN}")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            status, text, headers = resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as e:
        status, text, headers = e.code, e.read().decode(errors="replace"), e.headers
    try:
        return status, json.loads(text) if text else None, headers
    except ValueError:
        return status, text, headers


def wait_for(check, what, seconds=20):
    """Polls check() until it returns something true (returned), for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {what}"
        time.sleep(0.2)


def scim_group(name):
    """Makes a group through SCIM: a change with a `group.created` event."""
    status, body, _ = api("POST", "/scim/v2/Groups", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
    }, token=SCIM_TOKEN, content_type="application/scim+json")
    assert status == 201, body
    return body["id"]


def deliveries(webhook, outcome="all"):
    """The delivery attempts the admin API lists for an endpoint, newest first."""
    status, body, _ = api("GET", f"/admin/v1/webhooks/{webhook}/deliveries?outcome={outcome}")
    assert status == 200, body
    return body["deliveries"]


def sync_log_ids(query):
    """Entry ids the admin API lists for a sync-log filter (newest first)."""
    q = dict(query)
    if "action" in q:  # the console's field `action` is the admin API's `operation`
        q["operation"] = q.pop("action")
    q.setdefault("limit", "1000")
    status, body, _ = api("GET", "/admin/v1/sync-log?" + urllib.parse.urlencode(q))
    assert status == 200, body
    return [e["id"] for e in body["entries"]]


def set_field(field, value):
    """Fills a text field or picks the option of a select, whichever the field is."""
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


@pytest.fixture(scope="session")
def seed():
    path = os.environ.get("ROSTER_SEED")
    assert path and os.path.exists(path), "ROSTER_SEED names no file: run console-tests/run.sh"
    with open(path) as f:
        return json.load(f)


# --- a webhook receiver -------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on a loopback port (run.sh serves with --webhook-allow-private): a
    POST to a path under /fail answers 500 "receiver says no", any other 204. Every request
    is kept as (path, headers with lower-case names, body bytes)."""

    FAILURE = b"receiver says no"

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if self.path.startswith("/fail"):
                    self.send_response(500)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(outer.FAILURE)))
                    self.end_headers()
                    self.wfile.write(outer.FAILURE)
                else:
                    self.send_response(204)
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def received(self, path):
        with self.lock:
            return [g for g in self.got if g[0] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def webhook_id(receiver):
    """An endpoint whose receiver answers 500, with a failed delivery recorded: the pages of
    one endpoint (docs/console.md, Webhooks)."""
    status, body, _ = api("POST", "/admin/v1/webhooks",
                          {"url": receiver.url("/fail/pages"), "events": ["group.created"]})
    assert status == 201, f"POST /admin/v1/webhooks answered {status} (is the server run with --webhook-allow-private?): {body}"
    scim_group(uniq("hooked-"))
    wait_for(lambda: deliveries(body["id"]), "a delivery attempt to the failing endpoint")
    return body["id"]


# --- sign-in links ------------------------------------------------------------------------------


def console_link(role="admin"):
    """A fresh one-time sign-in link from `roster console-link`."""
    cmd = [ROSTER_BIN]
    if DATABASE_URL:
        cmd += ["--database", DATABASE_URL]
    cmd += ["console-link", "--account", ACCOUNT, "--role", role, "--base-url", BASE]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (
        f"{' '.join(cmd[:1] + cmd[3:])} exited {done.returncode}: {done.stderr.strip()[:800]}"
    )
    link = done.stdout.strip()
    assert re.fullmatch(re.escape(BASE) + r"/console/link/[^/\s]+", link), (
        f"console-link should print only BASE/console/link/TOKEN, printed {done.stdout!r}"
    )
    return link


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=60_000)
    yield b
    b.close()


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80]


class Shots:
    """Full-page screenshots named by test and step, numbered in the order taken."""

    def __init__(self, test_name):
        self.test = slug(test_name)
        self.n = 0
        os.makedirs(SHOT_DIR, exist_ok=True)

    def take(self, page, step):
        self.n += 1
        path = os.path.join(SHOT_DIR, f"{self.test}--{self.n:02d}-{slug(step)}.png")
        # caret="initial": the screenshot leaves the DOM as the page made it
        page.screenshot(path=path, full_page=True, caret="initial", timeout=TIMEOUT_MS)
        return path

    def keep(self, name, text):
        """Keeps a file the test received (a download) beside its screenshots."""
        path = os.path.join(SHOT_DIR, f"{self.test}--{slug(name)}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path


class Console:
    """One browser context (one session) and its page."""

    def __init__(self, browser, shots, role=None, viewport=DESKTOP, bypass_csp=False):
        self.shots = shots
        self.role = role
        self.context = browser.new_context(viewport=viewport, bypass_csp=bypass_csp,
                                           accept_downloads=True, base_url=BASE)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.set_default_navigation_timeout(20_000)
        self.page = self.context.new_page()
        self.console_errors = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    @property
    def request(self):
        """Playwright's request API, carrying this context's cookies."""
        return self.context.request

    def shot(self, step):
        return self.shots.take(self.page, step)

    def goto(self, path, step):
        resp = self.page.goto(path if path.startswith("http") else url(path), wait_until="load")
        self.shot(step)
        return resp

    def submit(self, locator, step):
        """Clicks a control that navigates (a submit button, a link) and waits for the page."""
        with self.page.expect_navigation(wait_until="load") as nav:
            locator.click()
        self.shot(step)
        return nav.value

    def sign_in_by_link(self, role="admin"):
        link = console_link(role)
        resp = self.goto(link, f"signed-in-by-link-{role}")
        assert self.page.url == url("/console/"), (
            f"a good link should land on /console/, landed on {self.page.url} "
            f"(HTTP {resp.status if resp else '?'})"
        )
        self.role = role
        return link

    def session_cookie(self):
        for c in self.context.cookies(url("/console/")):
            if c["name"] == SESSION_COOKIE:
                return c
        return None

    def csrf(self):
        """The session's CSRF token, from the sign-out form every page carries."""
        field = self.page.locator("header form input[name=csrf]").first
        return field.get_attribute("value")

    def post_forms(self):
        """[(action path, text of its submit controls)] of the page's POST forms."""
        return self.page.eval_on_selector_all("form", """forms => forms
            .filter(f => (f.getAttribute('method') || 'get').toLowerCase() === 'post')
            .map(f => [new URL(f.getAttribute('action') || location.href, location.href).pathname,
                       Array.from(f.querySelectorAll('button, input[type=submit]'))
                            .map(b => (b.innerText || b.value || '').trim()).join(' | ')])""")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def shots(request):
    return Shots(request.node.name)


@pytest.fixture
def open_console(browser, shots, request):
    """open_console(role="admin" | "auditor" | None, viewport=..., bypass_csp=...) -> Console.

    With a role, the console is signed in by a fresh link; None leaves it signed out.
    Contexts close after the test; a failed test's pages get a last screenshot.
    """
    made = []

    def make(role="admin", viewport=DESKTOP, bypass_csp=False):
        c = Console(browser, shots, viewport=viewport, bypass_csp=bypass_csp)
        made.append(c)
        if role:
            c.sign_in_by_link(role)
        return c

    yield make
    failed = getattr(request.node, "rep_call", None)
    for c in made:
        if failed is not None and failed.failed:
            try:
                c.shot("at-failure")
            except Exception:  # the page may be gone; the failure itself is what matters
                pass
        c.context.close()


@pytest.fixture
def admin(open_console):
    return open_console("admin")


@pytest.fixture
def auditor(open_console):
    return open_console("auditor")


# --- pages every walk visits ------------------------------------------------------------------


@pytest.fixture(scope="session")
def entry_id(seed):
    """A sync-log entry with modified properties: ann's givenName change."""
    status, body, _ = api("GET", "/admin/v1/sync-log?" + urllib.parse.urlencode(
        {"user": "ann@example.com", "operation": "update", "limit": "1"}))
    assert status == 200 and body["entries"], body
    return body["entries"][0]["id"]


def page_key(path):
    """A short name of a console page for test ids and screenshots: /console/sync-log -> sync-log."""
    return path[len("/console/"):].replace("/", "-") or "overview"


# Every GET page of the console (docs/console.md): the nav pages and those reached from them.
PAGE_KEYS = [page_key(p) for _, p in NAV] + [
    "sync-log-entry", "users-filtered", "conflicts-resolved", "user-suspend", "user-transfer",
    "webhook", "webhook-failed", "webhook-delete",
]


def console_pages(seed, entry, webhook):
    """{key: path} of every page in PAGE_KEYS."""
    cat = seed["users"]["cat@example.com"]
    pages = {page_key(p): p for _, p in NAV}
    pages.update({
        "sync-log-entry": f"/console/sync-log/{entry}",
        "users-filtered": "/console/users?filter=" + urllib.parse.quote('userName sw "a"'),
        "conflicts-resolved": "/console/conflicts?status=resolved",
        "user-suspend": f"/console/users/{cat}/suspend",
        "user-transfer": f"/console/users/{cat}/transfer",
        "webhook": f"/console/webhooks/{webhook}",
        "webhook-failed": f"/console/webhooks/{webhook}?outcome=failed",
        "webhook-delete": f"/console/webhooks/{webhook}/delete",
    })
    assert sorted(pages) == sorted(PAGE_KEYS)
    return pages


@pytest.fixture
def page_path(seed, entry_id, webhook_id):
    """page_path(key) -> the path of that console page."""
    pages = console_pages(seed, entry_id, webhook_id)
    return lambda key: pages[key]
