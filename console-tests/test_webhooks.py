"""Webhooks: a new endpoint's signing secret shown once (and the deliveries signed with it); a
failing endpoint's failed deliveries, retry and replay, its badge and the overview's notice;
resume, disable, enable and delete behind confirmation pages; an auditor gets no write
control; every write needs the CSRF field (docs/console.md, Pages: Webhooks)."""
import base64
import datetime
import hashlib
import hmac
import sqlite3
import subprocess

import pytest
from playwright.sync_api import expect

from conftest import (CSRF_REFUSED, DATABASE_URL, Receiver, api, deliveries, scim_group, uniq,
                      url, wait_for)


def create_form(page):
    return page.locator("main form").filter(has=page.locator("#field-events")).first


def endpoints():
    status, body, _ = api("GET", "/admin/v1/webhooks")
    assert status == 200, body
    return body["webhooks"]


def endpoint(hook_url):
    made = [w for w in endpoints() if w["url"] == hook_url]
    assert len(made) == 1, f"no single endpoint {hook_url}: {endpoints()}"
    return made[0]


def create_in_console(admin, hook_url, events, step="created"):
    """Fills and sends the new-endpoint form: `events` is "*" or a list of types."""
    admin.goto("/console/webhooks", "webhooks")
    form = create_form(admin.page)
    assert (form.get_attribute("method") or "").lower() == "post"
    assert form.get_attribute("action") in ("/console/webhooks", url("/console/webhooks"))
    form.get_by_label("URL").fill(hook_url)
    everything = form.locator("input[name=events][value='*']")
    if events == "*":
        everything.check()
    else:
        everything.uncheck()
        for t in events:
            form.locator(f"input[name=events][value='{t}']").check()
    admin.submit(form.get_by_role("button", name="Create endpoint"), step)
    return endpoint(hook_url)


def mark_failing(webhook):
    """Makes an endpoint `failing` straight in the database, as 24 hours of failures would
    (the server's clock cannot be moved from here). The lease is cleared too, so a delivery
    in flight cannot write its state over this."""
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=25))
    since = since.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    sql = ("UPDATE webhooks SET state = 'failing', failing_since = '{since}', next_attempt_at = NULL, "
           "lease_owner = NULL, lease_until = NULL WHERE id = '{id}'").format(since=since, id=webhook)
    assert DATABASE_URL, "ROSTER_DATABASE_URL is not set: run console-tests/run.sh"
    if DATABASE_URL.startswith("sqlite://"):
        db = sqlite3.connect(DATABASE_URL[len("sqlite://"):].split("?")[0], timeout=30)
        with db:
            db.execute(sql)
        db.close()
    else:
        done = subprocess.run(["psql", "-q", DATABASE_URL, "-c", sql], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr


def test_a_new_endpoint_shows_its_secret_once_and_signs_with_it(admin, receiver):
    path = "/ok/" + uniq()
    hook_url = receiver.url(path)
    admin.goto("/console/webhooks", "webhooks")
    expect(admin.page.locator("main h1")).to_have_text("Webhooks")
    made = create_in_console(admin, hook_url, ["group.created", "user.created"])
    assert sorted(made["events"]) == ["group.created", "user.created"], made

    secret = admin.page.locator("output#secret")
    expect(secret).to_have_count(1)
    shown = secret.inner_text().strip()
    assert shown.startswith("whsec_"), f"no secret in output#secret: {shown!r}"
    main = admin.page.locator("main")
    expect(main).to_contain_text("shown once")
    expect(main).to_contain_text("webhook-signature")

    # gone once the page is loaded again, and never on the list or the endpoint's page
    admin.goto(admin.page.url, "reloaded")
    assert shown not in admin.page.content(), "the secret is shown again after a reload"
    expect(admin.page.locator("output#secret")).to_have_count(0)
    columns = [c.strip().lower() for c in admin.page.locator("table#webhooks thead th").all_inner_texts()]
    for column in ["endpoint", "events", "enabled", "state", "delivered through", "attempts",
                   "next attempt", "last error"]:
        assert column in columns, f"the webhooks table has no column {column!r}: {columns}"
    row = admin.page.locator("table#webhooks tbody tr").filter(has_text=hook_url)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("user.created, group.created")
    expect(row).to_contain_text("enabled")

    # the deliveries are signed with the secret shown (Standard Webhooks)
    scim_group(uniq("signed-"))
    path_got = wait_for(lambda: receiver.received(path), "a delivery to the new endpoint")
    _, headers, body = path_got[0]
    key = base64.b64decode(shown.removeprefix("whsec_"))
    mac = hmac.new(key, f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body,
                   hashlib.sha256)
    expected = "v1," + base64.b64encode(mac.digest()).decode()
    assert expected in headers["webhook-signature"].split(), (
        f"the delivery is not signed with the secret shown: {headers['webhook-signature']}")

    admin.submit(row.get_by_role("link", name=hook_url, exact=True), "endpoint")
    assert shown not in admin.page.content(), "the secret is shown on the endpoint's page"
    wait_for(lambda: any(d["outcome"] == "succeeded" for d in deliveries(made["id"])),
             "the delivery recorded")
    admin.goto(admin.page.url, "endpoint-delivered")
    first = admin.page.locator("table#deliveries tbody tr").first
    expect(first).to_contain_text("succeeded")
    expect(first).to_contain_text("204")
    expect(first).to_contain_text("group.created")
    expect(first.get_by_role("button", name="Retry")).to_have_count(0)


def test_a_failing_endpoint_shows_its_failed_deliveries_retry_replay_and_is_resumed(admin, receiver):
    path = "/fail/" + uniq()
    hook_url = receiver.url(path)
    made = create_in_console(admin, hook_url, ["group.created"])
    hook = made["id"]
    scim_group(uniq("refused-"))
    wait_for(lambda: receiver.received(path), "a delivery to the failing receiver")
    wait_for(lambda: deliveries(hook, "failed"), "the failed delivery recorded")

    # the endpoint's page, filtered to failed deliveries with the form
    admin.goto(f"/console/webhooks/{hook}", "endpoint")
    admin.page.get_by_label("Outcome").select_option("failed")
    admin.submit(admin.page.get_by_role("button", name="Show"), "failed-only")
    assert "outcome=failed" in admin.page.url
    rows = admin.page.locator("table#deliveries tbody tr")
    expect(rows.first).to_contain_text("failed")
    expect(rows.first).to_contain_text("500")
    expect(rows.first).to_contain_text(Receiver.FAILURE.decode())
    expect(rows.first).to_contain_text("the receiver answered 500")
    columns = [c.strip().lower() for c in admin.page.locator("table#deliveries thead th").all_inner_texts()]
    for column in ["when", "sequence", "type", "outcome", "http", "latency", "response", "error"]:
        assert column in columns, f"the deliveries table has no column {column!r}: {columns}"
    assert all("succeeded" not in t for t in rows.all_inner_texts()), "a success among failed only"

    # retry the failed delivery: the endpoint is due again
    before = len(receiver.received(path))
    admin.submit(rows.first.get_by_role("button", name="Retry"), "retried")
    expect(admin.page.locator("p.notice[role=status]")).to_contain_text("due now")
    wait_for(lambda: len(receiver.received(path)) > before, "the retried delivery")

    # replay from sequence 1
    form = admin.page.locator("main form").filter(has=admin.page.get_by_label("From sequence"))
    form.get_by_label("From sequence").fill("1")
    admin.submit(form.get_by_role("button", name="Replay from sequence"), "replayed")
    expect(admin.page.locator("p.notice[role=status]")).to_contain_text("from sequence 1 on")
    assert endpoint(hook_url)["delivered_through"] == 0

    # 24 hours of failures later: the badge, the overview's notice, and resume
    mark_failing(hook)
    admin.goto("/console/webhooks", "list-failing")
    row = admin.page.locator("table#webhooks tbody tr").filter(has_text=hook_url)
    expect(row.locator(".status-failure")).to_contain_text("failing")
    admin.goto("/console/", "overview-failing")
    notice = admin.page.locator("main p[role=alert]").filter(has_text=hook_url)
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("failing")
    admin.submit(notice.get_by_role("link"), "from-the-overview")
    assert admin.page.url == url(f"/console/webhooks/{hook}")
    expect(admin.page.locator("main p[role=alert]")).to_contain_text("failing")
    admin.submit(admin.page.get_by_role("link", name="Resume this endpoint"), "resume-confirm")
    admin.submit(admin.page.get_by_role("button", name="Resume endpoint"), "resumed")
    assert endpoint(hook_url)["state"] == "active"

    # disable and enable, each behind its confirmation page
    admin.submit(admin.page.get_by_role("link", name="Disable this endpoint"), "disable-confirm")
    expect(admin.page.locator("main h1")).to_have_text("Disable the webhook endpoint")
    admin.submit(admin.page.get_by_role("button", name="Disable endpoint"), "disabled")
    assert endpoint(hook_url)["enabled"] is False
    admin.submit(admin.page.get_by_role("link", name="Enable this endpoint"), "enable-confirm")
    admin.submit(admin.page.get_by_role("button", name="Enable endpoint"), "enabled")
    assert endpoint(hook_url)["enabled"] is True

    # delete: the confirmation's cancel changes nothing, its button deletes
    admin.goto("/console/webhooks", "list")
    row = admin.page.locator("table#webhooks tbody tr").filter(has_text=hook_url)
    admin.submit(row.get_by_role("link", name=f"Delete {hook_url}"), "delete-confirm")
    admin.submit(admin.page.get_by_role("link", name="Cancel"), "delete-cancelled")
    assert endpoint(hook_url)["id"] == hook
    admin.goto(f"/console/webhooks/{hook}/delete", "delete-confirm-again")
    admin.submit(admin.page.get_by_role("button", name="Delete endpoint"), "deleted")
    expect(admin.page.locator("p.notice[role=status]")).to_contain_text("Deleted")
    assert [w for w in endpoints() if w["id"] == hook] == []
    expect(admin.page.locator("table#webhooks tbody tr").filter(has_text=hook_url)).to_have_count(0)


def test_an_auditor_gets_no_write_control_and_is_refused(auditor, webhook_id):
    for path, step in [("/console/webhooks", "list"), (f"/console/webhooks/{webhook_id}", "endpoint")]:
        resp = auditor.goto(path, step)
        assert resp.status == 200
        forms = [f for f in auditor.post_forms() if f[0] != "/console/sign-out"]
        assert forms == [], f"{path}: an auditor is offered POST forms {forms}"
        for name in ["Create endpoint", "Retry", "Replay from sequence"]:
            expect(auditor.page.get_by_role("button", name=name)).to_have_count(0)
        for name in ["Disable", "Enable", "Resume", "Delete"]:
            expect(auditor.page.get_by_role("link", name=name)).to_have_count(0)
    resp = auditor.goto(f"/console/webhooks/{webhook_id}/delete", "delete-confirm")
    assert resp.status == 403, f"the delete confirmation answered {resp.status} to an auditor"
    assert [f for f in auditor.post_forms() if f[0] != "/console/sign-out"] == []

    csrf = auditor.csrf()
    before = endpoints()
    delivery = deliveries(webhook_id)[0]["id"]
    base = f"/console/webhooks/{webhook_id}"
    for path, form in [
        ("/console/webhooks", {"url": "http://127.0.0.1:9/auditor", "events": "*"}),
        (f"{base}/disable", {}),
        (f"{base}/delete", {}),
        (f"{base}/replay", {"from": "1"}),
        (f"{base}/deliveries/{delivery}/retry", {}),
    ]:
        resp = auditor.request.post(url(path), form={**form, "csrf": csrf}, max_redirects=0)
        assert resp.status == 403, f"POST {path} as auditor answered {resp.status}: {resp.text()[:300]}"
    after = endpoints()
    brief = lambda ws: sorted((w["id"], w["url"], w["enabled"], w["delivered_through"]) for w in ws)  # noqa: E731
    assert brief(after) == brief(before), "an auditor's POST changed the endpoints"


WRITES = ["create", "disable", "enable", "delete", "replay", "retry"]


@pytest.mark.parametrize("what", WRITES)
def test_a_webhook_write_without_csrf_is_refused(admin, webhook_id, what):
    admin.goto(f"/console/webhooks/{webhook_id}", "endpoint")
    base = f"/console/webhooks/{webhook_id}"
    delivery = deliveries(webhook_id)[0]["id"]
    path, form = {
        "create": ("/console/webhooks", {"url": "http://127.0.0.1:9/csrf-less", "events": "*"}),
        "disable": (f"{base}/disable", {}),
        "enable": (f"{base}/enable", {}),
        "delete": (f"{base}/delete", {}),
        "replay": (f"{base}/replay", {"from": "1"}),
        "retry": (f"{base}/deliveries/{delivery}/retry", {}),
    }[what]
    before = endpoints()
    resp = admin.request.post(url(path), form=form, max_redirects=0)
    assert resp.status == 403, f"POST {path} without csrf answered {resp.status}: {resp.text()[:300]}"
    assert CSRF_REFUSED in resp.text(), f"POST {path}: the 403 page does not say why"
    brief = lambda ws: sorted((w["id"], w["url"], w["enabled"], w["delivered_through"]) for w in ws)  # noqa: E731
    assert brief(endpoints()) == brief(before), f"POST {path} without csrf changed the endpoints"
    admin.page.set_content(resp.text())
    admin.shot("refused")
