"""Conflicts: the queue with its guidance, linked to the user and the sync log
(docs/console.md, Pages: Conflicts)."""
import urllib.parse

from playwright.sync_api import expect

from conftest import sync_log_ids, url


def conflict_row(page, text):
    return page.locator("main table tbody tr").filter(has_text=text)


def test_an_email_in_use_conflict_with_guidance_and_links(admin):
    admin.goto("/console/conflicts", "conflicts")
    headers = [h.strip().lower() for h in admin.page.locator("main table thead th").all_inner_texts()]
    for column in ["kind", "user", "email", "product", "first seen", "last seen", "attempts", "guidance"]:
        assert column in headers, f"the conflicts table has no column {column!r}: {headers}"

    row = conflict_row(admin.page, "pat@example.com")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("email_in_use")
    expect(row).to_contain_text("another account")  # the guidance
    attempts = headers.index("attempts")
    assert row.locator("td, th").nth(attempts).inner_text().strip() == "2", "pat was refused twice"

    hrefs = row.locator("a[href]").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    to_users = [h for h in hrefs if urllib.parse.urlsplit(h).path == "/console/users"]
    to_log = [h for h in hrefs if urllib.parse.urlsplit(h).path == "/console/sync-log"]
    assert to_users, f"the conflict does not link to the user (/console/users?filter=...): {hrefs}"
    assert "filter" in dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_users[0]).query))
    assert to_log, f"the conflict does not link to the sync log filtered by the user: {hrefs}"
    user = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_log[0]).query)).get("user")
    assert user, f"the sync-log link has no user filter: {to_log[0]}"

    admin.submit(row.locator(f'a[href="{to_log[0]}"]').first, "sync-log-of-the-conflict")
    shown = admin.page.eval_on_selector_all(
        "table#sync-log tbody a[href]", "as => as.map(a => a.getAttribute('href'))")
    expected = sync_log_ids({"user": user})
    assert expected, f"the admin API has no entry for user={user}"
    assert any(h.endswith("/console/sync-log/" + expected[0]) for h in shown), (
        "the conflict's sync-log link does not show the refused pushes"
    )

    admin.goto("/console/conflicts", "conflicts-again")
    admin.submit(conflict_row(admin.page, "pat@example.com").locator(f'a[href="{to_users[0]}"]').first,
                 "users-of-the-conflict")
    assert urllib.parse.urlsplit(admin.page.url).path == "/console/users"


def test_a_no_seat_conflict_names_the_product(admin):
    admin.goto("/console/conflicts?status=open", "open-conflicts")
    row = conflict_row(admin.page, "cat@example.com")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("no_seat")
    expect(row).to_contain_text("meeting")


def test_resolved_conflicts_are_listed_apart(admin):
    admin.goto("/console/conflicts?status=resolved", "resolved-conflicts")
    assert admin.page.url == url("/console/conflicts?status=resolved")
    expect(conflict_row(admin.page, "pat@example.com")).to_have_count(0)
