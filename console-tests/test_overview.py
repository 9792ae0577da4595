"""Overview: per product capacity, assigned, waitlisted and a 30-day SVG chart; open conflicts;
each connection's last request (docs/console.md, Pages: Overview)."""
from playwright.sync_api import expect

from conftest import api


def test_overview_shows_products_charts_conflicts_and_connections(admin):
    admin.goto("/console/", "overview")
    main = admin.page.locator("main")
    _, products, _ = api("GET", "/admin/v1/products")
    for p in ("meeting", "webinar"):
        expect(main).to_contain_text(p)
    charts = admin.page.locator('main svg[role="img"]')
    assert charts.count() >= len(products["products"]), (
        f"{charts.count()} charts for {len(products['products'])} products"
    )
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert (chart.get_attribute("aria-label") or "").strip(), f"chart {i} has no aria-label"
        expect(chart.locator("title")).to_have_count(1)
    # seeded: meeting 2 of 2 assigned, 3 waitlisted; these numbers show beside its name
    text = main.inner_text()
    assert "meeting" in text and "3" in text
    _, conflicts, _ = api("GET", "/admin/v1/conflicts?status=open")
    expect(main).to_contain_text(str(len(conflicts["conflicts"])))
    row = main.locator("table tbody tr").filter(has_text="okta-prod")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("success")  # its last request's outcome, in words
    expect(row).to_contain_text("%")  # and its error rate
