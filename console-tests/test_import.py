"""Import: upload a CSV, the dry-run report as a table, then apply it
(docs/console.md, Pages: Import)."""
import urllib.parse

from playwright.sync_api import expect

from conftest import api, uniq


def user_named(name):
    q = urllib.parse.urlencode({"filter": f'userName eq "{name}"'})
    status, body, _ = api("GET", "/admin/v1/users?" + q)
    assert status == 200, body
    return body["users"]


def test_import_a_csv_with_a_dry_run_first(admin):
    tag = uniq("imp")
    first, second = f"{tag}-a@example.com", f"{tag}-b@example.com"
    text = (
        "email,userName,givenName,familyName,products,groups,active\n"
        f"{first},,Ada,Import,,,true\n"
        f"{second},{tag}-b,Bo,Import,,,\n"
        "not-an-email,,X,Y,,,\n"
    )
    admin.goto("/console/import", "import")
    admin.page.get_by_label("CSV file").set_input_files(
        files=[{"name": f"{tag}.csv", "mimeType": "text/csv", "buffer": text.encode()}])
    admin.submit(admin.page.get_by_role("button", name="Check (dry run)"), "dry-run-report")

    report = admin.page.locator("table#import-report")
    expect(report).to_have_count(1)
    expect(report).to_contain_text(first)
    expect(report).to_contain_text(f"{tag}-b")
    expect(report).to_contain_text("not-an-email")
    bad = report.locator("tbody tr").filter(has_text="not-an-email")
    expect(bad).to_contain_text("'@'")  # the reason: it has no '@'
    assert user_named(first) == [] and user_named(f"{tag}-b") == [], "the dry run wrote users"

    apply = admin.page.locator("main form").filter(
        has=admin.page.get_by_role("button", name="Apply import"))
    expect(apply).to_have_count(1)
    assert (apply.get_attribute("method") or "").lower() == "post"
    assert apply.get_attribute("action").endswith("/console/import/apply")
    assert apply.locator("input[type=hidden][name=upload]").get_attribute("value"), "no upload id"
    admin.submit(admin.page.get_by_role("button", name="Apply import"), "applied-report")

    expect(admin.page.locator("main")).to_contain_text(first)
    expect(admin.page.get_by_role("button", name="Apply import")).to_have_count(0)
    made = user_named(first)
    assert len(made) == 1 and made[0]["status"] == "active", f"the import did not make {first}: {made}"
    assert len(user_named(f"{tag}-b")) == 1, f"the import did not make {tag}-b"
