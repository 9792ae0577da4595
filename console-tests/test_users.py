"""Users: SCIM-filter search (errors with the caret), suspend, reactivate and transfer behind a
confirmation page (docs/console.md, Pages: Users)."""
import urllib.parse

from playwright.sync_api import expect

from conftest import api, uniq


def find_user(user_name):
    status, body, _ = api("GET", "/admin/v1/users?" + urllib.parse.urlencode(
        {"filter": f'userName eq "{user_name}"'}))
    assert status == 200, body
    return body["users"]


def search(c, expr, step):
    c.page.get_by_label("SCIM filter").fill(expr)
    form = c.page.locator("main form").filter(has=c.page.locator("[name=filter]")).first
    return c.submit(form.locator("button, input[type=submit]").first, step)


def test_search_with_a_scim_filter_and_see_an_error_with_the_caret(admin):
    admin.goto("/console/users", "users")
    search(admin, 'userName eq "ann@example.com"', "search-ann")
    rows = admin.page.locator("main table tbody tr")
    expect(rows.filter(has_text="ann@example.com")).to_have_count(1)
    expect(rows.filter(has_text="bob@example.com")).to_have_count(0)
    row = rows.filter(has_text="ann@example.com")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("meeting")

    search(admin, 'userName eq', "bad-filter")
    error = admin.page.locator("pre[role=alert].error")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("^")


def test_suspend_reactivate_and_transfer_with_a_confirmation_step(admin):
    name = f"{uniq('u-')}@example.com"
    status, body, _ = api("POST", "/admin/v1/users", body={"email": name})
    assert status == 201, body
    user_id = body["id"] if "id" in body else find_user(name)[0]["id"]

    q = "/console/users?" + urllib.parse.urlencode({"filter": f'userName eq "{name}"'})
    admin.goto(q, "found")
    row = admin.page.locator("main table tbody tr").filter(has_text=name)
    admin.submit(row.get_by_role("link", name="Suspend"), "suspend-confirm")
    assert admin.page.url.endswith(f"/console/users/{user_id}/suspend")
    assert find_user(name)[0]["status"] == "active", "the confirmation page itself suspended"
    admin.submit(admin.page.get_by_role("button", name="Suspend user"), "suspended")
    assert find_user(name)[0]["status"] == "suspended"

    admin.goto(q, "found-suspended")
    row = admin.page.locator("main table tbody tr").filter(has_text=name)
    expect(row).to_contain_text("suspended")
    admin.submit(row.get_by_role("link", name="Reactivate"), "reactivate-confirm")
    admin.submit(admin.page.get_by_role("button", name="Reactivate user"), "reactivated")
    assert find_user(name)[0]["status"] == "active"

    new = f"{uniq('moved-')}@example.com"
    admin.goto(q, "found-active")
    row = admin.page.locator("main table tbody tr").filter(has_text=name)
    admin.submit(row.get_by_role("link", name="Transfer"), "transfer-confirm")
    form = admin.page.locator("main form").filter(has=admin.page.locator("[name=email]")).first
    form.locator("[name=email]").fill(new)
    form.locator("input[type=checkbox][name=retain_data]").check()
    admin.submit(admin.page.get_by_role("button", name="Transfer seats"), "transferred")
    moved = find_user(new)
    assert moved and moved[0]["id"] == user_id, "retain_data: the same user should take the new email"
