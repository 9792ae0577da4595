"""Every page's frame: header with account, role and sign-out; the nav; one main with one h1
(docs/console.md, Layout)."""
import pytest
from playwright.sync_api import expect

from conftest import ACCOUNT, NAV, page_key, url


@pytest.mark.parametrize("name,path", NAV, ids=[page_key(p) for _, p in NAV])
def test_layout_of_each_page(admin, name, path):
    resp = admin.goto(path, page_key(path))
    assert resp.status == 200
    page = admin.page

    header = page.locator("header")
    expect(header).to_have_count(1)
    expect(header).to_contain_text(ACCOUNT)
    expect(header).to_contain_text("admin")
    sign_out = header.locator("form").filter(has=page.get_by_role("button", name="Sign out"))
    expect(sign_out).to_have_count(1)
    assert (sign_out.get_attribute("method") or "").lower() == "post"
    assert sign_out.get_attribute("action") in ("/console/sign-out", url("/console/sign-out"))
    csrf = sign_out.locator("input[type=hidden][name=csrf]")
    expect(csrf).to_have_count(1)
    assert csrf.get_attribute("value"), "the sign-out form's csrf field is empty"

    nav = page.locator('nav[aria-label="Console"]')
    expect(nav).to_have_count(1)
    links = nav.locator("a")
    got = [(links.nth(i).inner_text().strip(), links.nth(i).get_attribute("href"))
           for i in range(links.count())]
    assert got == [(n, p) for n, p in NAV], f"nav links: {got}"
    current = nav.locator('a[aria-current="page"]')
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("href", path)

    expect(page.locator("main#main")).to_have_count(1)
    expect(page.locator("main")).to_have_count(1)
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("main#main h1")).to_have_count(1)
    assert page.title().strip(), "the page has no <title>"
    assert page.locator("html").get_attribute("lang"), "<html> has no lang"
