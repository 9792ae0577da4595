"""Products: license counts, the waitlist in order, new products and more seats
(docs/console.md, Pages: Products)."""
from playwright.sync_api import expect

from conftest import api, uniq


def pool(product):
    status, body, _ = api("GET", "/admin/v1/products")
    assert status == 200, body
    return next((p for p in body["products"] if p["product"] == product), None)


def test_products_show_counts_and_the_waitlist_in_order(admin):
    admin.goto("/console/products", "products")
    main = admin.page.locator("main")
    row = main.locator("table tbody tr").filter(has_text="meeting").first
    meeting = pool("meeting")
    for n in (meeting["capacity"], meeting["assigned"], meeting["waitlisted"]):
        expect(row).to_contain_text(str(n))
    text = main.inner_text()
    # seeded in this order: cat, dee and eve wait for a meeting seat
    at = [text.find(f"{u}@example.com") for u in ("cat", "dee", "eve")]
    assert all(i >= 0 for i in at), f"the waitlist does not show cat, dee and eve: {at}"
    assert at == sorted(at), "the meeting waitlist is not in order (cat, dee, eve)"
    assert "bob@example.com" in text, "bob waits for webinar"


def test_a_new_product_then_more_licenses(admin):
    product = uniq("p-")
    admin.goto("/console/products", "products")
    form = admin.page.locator("main form[action$='/console/products']")
    expect(form).to_have_count(1)
    form.locator("[name=product]").fill(product)
    form.locator("[name=seats]").fill("1")
    admin.submit(form.locator("button, input[type=submit]").first, "created")
    assert pool(product) is not None and pool(product)["capacity"] == 1

    admin.goto("/console/products", "products-with-new")
    resize = admin.page.locator(f"main form[action$='/console/products/{product}']")
    expect(resize).to_have_count(1)
    licenses = resize.get_by_label("Licenses")
    licenses.fill("3")
    admin.submit(resize.locator("button, input[type=submit]").first, "resized")
    assert pool(product)["capacity"] == 3
