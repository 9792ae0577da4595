"""The sync log: filters, an entry's detail, the CSV export and the live tail
(docs/console.md, Pages: Sync log)."""
import csv
import io
import re
import urllib.parse

from playwright.sync_api import expect

from conftest import SCIM_TOKEN, api, sync_log_ids, uniq, url

FILTER_LABELS = {"since": "Since", "until": "Until", "user": "User", "connection": "Connection",
                 "outcome": "Outcome", "action": "Action"}
OUTCOMES = ["any", "success", "warning", "failure", "skipped", "throttled"]
COLUMNS = ["When", "Actor", "Action", "Resource", "User", "Outcome", "HTTP"]
TAIL_KEYS = {"id", "at", "actor", "action", "resource", "user_name", "status", "http_status"}


def filter_form(page):
    return page.locator("main form").filter(has=page.locator("[name=outcome]")).first


def row_ids(page):
    """Entry ids the table links to, top to bottom."""
    hrefs = page.eval_on_selector_all(
        "table#sync-log tbody a[href]", "as => as.map(a => a.getAttribute('href'))")
    ids = []
    for h in hrefs:
        m = re.fullmatch(r"(?:%s)?/console/sync-log/([^/?#]+)" % re.escape(url("")), h)
        if m and m.group(1) not in ("export.csv", "tail"):
            i = urllib.parse.unquote(m.group(1))
            if i not in ids:
                ids.append(i)
    return ids


def assert_rows_match_api(page, query):
    shown = row_ids(page)
    assert shown, f"the sync log shows no entry for {query}"
    expected = sync_log_ids(query)
    extra = [i for i in shown if i not in expected]
    assert extra == [], f"entries shown that the filter {query} excludes: {extra}"
    assert shown == [i for i in expected if i in shown], "the entries are not newest first"
    assert shown[0] == expected[0], "the newest entry of the filter is not the first row"
    return shown


def submit_filter(c, step):
    form = filter_form(c.page)
    return c.submit(form.locator("button, input[type=submit]").first, step)


def test_filter_form_has_its_labelled_fields(admin):
    admin.goto("/console/sync-log", "sync-log")
    expect(admin.page.locator("table#sync-log")).to_have_count(1)
    form = filter_form(admin.page)
    assert (form.get_attribute("method") or "get").lower() == "get"
    for name, label in FILTER_LABELS.items():
        field = admin.page.get_by_label(label, exact=True)
        expect(field).to_have_count(1)
        assert field.get_attribute("name") == name, f"the field labelled {label} is named {field.get_attribute('name')}"
    options = form.locator("select[name=outcome] option").all_inner_texts()
    assert [o.strip().lower() for o in options] == OUTCOMES, f"Outcome options: {options}"
    expect(admin.page.get_by_role("button", name="Live tail")).to_have_count(1)
    expect(admin.page.get_by_role("link", name="Export CSV")).to_have_count(1)

    # the table: its columns, the newest id for the live tail, outcomes in words
    table = admin.page.locator("table#sync-log")
    columns = [c.strip() for c in table.locator("thead th").all_inner_texts()]
    assert columns == COLUMNS, f"the sync-log columns are {columns}, docs/console.md has {COLUMNS}"
    ids = row_ids(admin.page)
    assert ids and table.get_attribute("data-after") == ids[0], (
        f"data-after is {table.get_attribute('data-after')!r}, the newest row {ids[:1]}"
    )
    outcome = COLUMNS.index("Outcome")
    words = [t.strip() for t in table.locator(f"tbody tr td:nth-child({outcome + 1})").all_inner_texts()]
    assert words and all(any(w in t for w in OUTCOMES[1:]) for t in words), (
        f"an outcome without its word: {words}"
    )
    button = admin.page.locator("button#live-tail")
    expect(button).to_have_attribute("type", "button")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(admin.page.locator("p#live-status[role=status]")).to_have_count(1)


def test_filter_by_user_and_open_an_entry(admin, entry_id):
    admin.goto("/console/sync-log", "sync-log")
    all_rows = row_ids(admin.page)
    admin.page.get_by_label("User", exact=True).fill("ann@example.com")
    submit_filter(admin, "filtered-by-user")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(admin.page.url).query))
    assert query.get("user") == "ann@example.com", f"the filter form sent {admin.page.url}"
    shown = assert_rows_match_api(admin.page, {"user": "ann@example.com"})
    assert set(all_rows) != set(shown), "filtering by user changed nothing"

    # ann's givenName change: Ann -> Annie
    assert entry_id in shown, f"ann's update {entry_id} is not among the rows {shown}"
    link = admin.page.locator(f'table#sync-log a[href$="/console/sync-log/{entry_id}"]').first
    admin.submit(link, "entry")
    assert admin.page.url == url(f"/console/sync-log/{entry_id}")
    expect(admin.page.locator("h1")).to_have_text("Sync-log entry")
    h2s = [t.strip() for t in admin.page.locator("main h2").all_inner_texts()]
    for section in ["Request", "Steps", "Modified properties"]:
        assert section in h2s, f"the entry has no section {section!r} (sections: {h2s})"
    main = admin.page.locator("main").inner_text()
    assert "name.givenName" in main and "Annie" in main and "Ann" in main, (
        "the entry does not show name.givenName: Ann -> Annie"
    )


def test_filter_by_outcome_and_see_the_error_of_an_entry(admin):
    admin.goto("/console/sync-log", "sync-log")
    admin.page.get_by_label("User", exact=True).fill("pat@example.com")
    admin.page.get_by_label("Outcome", exact=True).select_option(label="failure")
    submit_filter(admin, "filtered-failures-of-pat")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(admin.page.url).query))
    assert query.get("outcome") == "failure" and query.get("user") == "pat@example.com", admin.page.url
    shown = assert_rows_match_api(admin.page, {"user": "pat@example.com", "outcome": "failure"})
    assert len(shown) >= 2, "both refused pushes of pat@example.com should be listed"
    admin.submit(admin.page.locator(f'table#sync-log a[href$="/console/sync-log/{shown[0]}"]').first,
                 "failed-entry")
    expect(admin.page.locator("h1")).to_have_text("Sync-log entry")
    error = admin.page.locator("main section").filter(
        has=admin.page.locator("h2", has_text="Error"))
    expect(error).to_have_count(1)
    expect(error).to_contain_text("email_in_use")
    expect(error).to_contain_text("another account")  # the reason and the recommended action


def test_an_entry_shows_its_seat_effects(admin):
    cat = sync_log_ids({"user": "cat@example.com", "action": "create"})
    assert cat, "no entry of cat's creation"
    admin.goto(f"/console/sync-log/{cat[-1]}", "cat-created")
    seats = admin.page.locator("main section").filter(
        has=admin.page.locator("h2", has_text="Seat effects"))
    expect(seats).to_have_count(1)
    expect(seats).to_contain_text("meeting")
    expect(seats).to_contain_text("waitlisted")


def test_a_time_range_with_nothing_in_it_shows_no_rows(admin):
    admin.goto("/console/sync-log", "sync-log")
    admin.page.get_by_label("Since", exact=True).fill("2999-01-01")
    submit_filter(admin, "since-far-future")
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(admin.page.url).query)).get("since") == "2999-01-01"
    assert row_ids(admin.page) == [], "entries shown after a `since` in the future"
    admin.page.get_by_label("Since", exact=True).fill("")
    admin.page.get_by_label("Until", exact=True).fill("2000-01-01")
    submit_filter(admin, "until-long-ago")
    assert row_ids(admin.page) == [], "entries shown before an `until` long ago"


def test_older_entries_pages_with_the_cursor(admin):
    # a user of its own, changed until its filtered log needs a second page
    name = f"{uniq('log-')}@example.com"
    status, body, _ = api("POST", "/scim/v2/Users", token=SCIM_TOKEN, body={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
        "emails": [{"value": name, "primary": True}]}, content_type="application/scim+json")
    assert status == 201, body
    user_id = body["id"]
    path = "/console/sync-log?" + urllib.parse.urlencode({"user": name})
    changes = 0
    while True:
        admin.goto(path, f"user-log-after-{changes}-changes")
        older = admin.page.get_by_role("link", name="Older entries")
        if older.count():
            break
        shown = len(row_ids(admin.page))
        assert shown == len(sync_log_ids({"user": name})), (
            f"{shown} entries shown of {name}'s, and no 'Older entries' link"
        )
        assert changes < 400, "no 'Older entries' link after 400 entries"
        for _ in range(max(changes, 20)):
            changes += 1
            status, body, _ = api("PATCH", f"/scim/v2/Users/{user_id}", token=SCIM_TOKEN, body={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": f"v{changes}"}],
            }, content_type="application/scim+json")
            assert status in (200, 204), body

    first = row_ids(admin.page)
    href = older.first.get_attribute("href")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(href).query))
    assert query.get("cursor") and query.get("user") == name, f"'Older entries' links to {href}"
    admin.submit(older.first, "older-entries")
    second = row_ids(admin.page)
    everything = sync_log_ids({"user": name})
    assert second, "the second page is empty"
    assert set(first).isdisjoint(second), "the second page repeats entries of the first"
    assert first + second == everything[:len(first) + len(second)], (
        "the two pages are not the filter's entries, newest first, without a gap"
    )


def test_export_csv_of_the_current_filter(admin):
    admin.goto("/console/sync-log?" + urllib.parse.urlencode({"user": "ann@example.com"}),
               "filtered-by-user")
    export = admin.page.get_by_role("link", name="Export CSV")
    href = export.get_attribute("href")
    parts = urllib.parse.urlsplit(href)
    assert parts.path == "/console/sync-log/export.csv", f"Export CSV links to {href}"
    sent = {k: v for k, v in urllib.parse.parse_qsl(parts.query) if v}
    assert sent == {"user": "ann@example.com"}, f"Export CSV does not carry the filter: {href}"

    with admin.page.expect_download(timeout=20_000) as dl:
        export.click()
    download = dl.value
    assert download.suggested_filename.endswith(".csv"), download.suggested_filename
    path = download.path()
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    admin.shots.keep("export.csv", text)
    lines = text.splitlines()
    assert len(lines) >= 2, f"the export has no row: {text[:300]!r}"
    header = next(csv.reader([lines[0]]))
    assert len(header) >= 3 and all(h and "@" not in h for h in header), f"not a header line: {lines[0]!r}"
    assert "user_name" in header, f"the export has no user_name column: {header}"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(r["user_name"] == "ann@example.com" for r in rows), (
        f"rows of another user in the export: {[r['user_name'] for r in rows]}"
    )
    updates = [r for r in rows if "Annie" in ",".join(r.values())]
    assert updates, "ann's givenName change is not among the exported rows"


def test_live_tail_prepends_new_entries(admin, seed):
    admin.goto("/console/sync-log", "sync-log")
    before = row_ids(admin.page)
    polls = []
    admin.page.on("response", lambda r: "/console/sync-log/tail" in r.url and polls.append(r))
    admin.page.get_by_role("button", name="Live tail").click()
    expect(admin.page.locator("button#live-tail")).to_have_attribute("aria-pressed", "true")
    admin.page.wait_for_timeout(500)

    # something new happens: eve's givenName changes
    eve = seed["users"]["eve@example.com"]
    status, body, _ = api("PATCH", f"/scim/v2/Users/{eve}", token=SCIM_TOKEN, body={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": "Evelyn"}],
    }, content_type="application/scim+json")
    assert status in (200, 204), body
    newest = sync_log_ids({"user": "eve@example.com", "action": "update"})[0]
    # the script polls every three seconds
    admin.page.wait_for_function(
        """id => Array.from(document.querySelectorAll('table#sync-log tbody a[href]')).some(
               a => decodeURIComponent(a.getAttribute('href')).endsWith('/console/sync-log/' + id))""",
        arg=newest, timeout=20_000)
    admin.shot("tail-prepended")
    assert polls, "the live tail made no request to /console/sync-log/tail"
    r = polls[0]
    assert "after=" in r.url and r.status == 200, f"{r.url} answered {r.status}"
    assert r.headers.get("content-type", "").startswith("application/json")
    # the JSON docs/console.md gives: entries (newest last) and the newest id
    answers = [p.json() for p in polls if p.status == 200]
    found = [e for a in answers for e in a["entries"] if e["id"] == newest]
    assert found, f"no tail answer carried {newest}: {answers}"
    assert set(found[0]) >= TAIL_KEYS, f"a tail entry's keys: {sorted(found[0])}"
    last = next(a for a in answers if any(e["id"] == newest for e in a["entries"]))
    assert last["after"] == last["entries"][-1]["id"], f"'after' is not the newest entry: {last}"
    after = row_ids(admin.page)
    assert after[0] == newest, f"the new entry is not the first row: {after[:3]}"
    kept = [i for i in after if i in before[:3]]
    assert kept == before[:3], "the rows already shown moved or went"
