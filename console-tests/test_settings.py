"""Settings and rules: typed forms, each validation error next to its field
(docs/console.md, Pages: Settings)."""
import random

from playwright.sync_api import expect

from conftest import api, set_field, uniq, url


def settings():
    status, body, _ = api("GET", "/admin/v1/settings")
    assert status == 200, body
    return body


def settings_form(page):
    return page.locator("main form").filter(has=page.locator("[name=seat_policy]")).first


def assert_field_error(page, field_name):
    field = page.locator(f"main [name={field_name}]").first
    error = page.locator(f"p.field-error#error-{field_name}")
    expect(error).to_have_count(1)
    expect(error).to_be_visible()
    assert error.inner_text().strip(), f"the error of {field_name} is empty"
    expect(field).to_have_attribute("aria-invalid", "true")
    described = (field.get_attribute("aria-describedby") or "").split()
    assert f"error-{field_name}" in described, f"{field_name} aria-describedby={described}"
    follows = field.evaluate(f"""f => {{
        const e = document.getElementById('error-{field_name}');
        return !!(f.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING);
    }}""")
    assert follows, f"the error of {field_name} is not after the field"
    return error


def test_a_setting_with_an_error_next_to_the_field_then_a_good_value(admin):
    before = settings()
    admin.goto("/console/settings", "settings")
    form = settings_form(admin.page)
    assert (form.get_attribute("method") or "").lower() == "post"
    assert form.get_attribute("action") in ("/console/settings", url("/console/settings"))
    for name in ["seat_policy", "recording_access"]:
        expect(form.locator(f"select[name={name}]")).to_have_count(1)
    expect(form.locator("input[name=sync_log_retention_days][type=number]")).to_have_count(1)
    assert form.locator("[name=default_products]").input_value().replace(" ", "") == \
        ",".join(before["default_products"]), "default_products does not show the current value"

    form.locator("[name=default_products]").fill("Bad Name")
    admin.submit(form.locator("button, input[type=submit]").first, "validation-error")
    assert_field_error(admin.page, "default_products")
    expect(admin.page.locator("p.field-error")).to_have_count(1)
    assert settings() == before, "a refused form changed the settings"

    days = random.randint(31, 400)
    form = settings_form(admin.page)
    form.locator("[name=default_products]").fill(",".join(before["default_products"]))
    form.locator("[name=sync_log_retention_days]").fill(str(days))
    admin.submit(form.locator("button, input[type=submit]").first, "saved")
    expect(admin.page.locator("p.field-error")).to_have_count(0)
    expect(admin.page.locator("p[role=alert].error")).to_have_count(0)
    after = settings()
    assert after["sync_log_retention_days"] == days, f"the new value was not saved: {after}"
    assert after["default_products"] == before["default_products"]

    admin.goto("/console/settings", "settings-again")
    assert settings_form(admin.page).locator("[name=sync_log_retention_days]").input_value() == str(days)


def test_a_rule_with_an_error_next_to_the_field_then_added_and_deleted(admin):
    product = uniq("rp-")
    status, body, _ = api("PUT", f"/admin/v1/products/{product}", body={"seats": 1})
    assert status in (200, 201), body
    nobody = f"{uniq('nobody-')}@example.com"

    admin.goto("/console/settings", "settings")
    form = admin.page.locator("main form").filter(has=admin.page.locator("[name=filter]")).first
    assert form.get_attribute("action") in ("/console/rules", url("/console/rules"))
    set_field(form.locator("[name=product]").first, product)
    form.locator("[name=filter]").fill("userName eq")
    admin.submit(form.locator("button, input[type=submit]").first, "rule-error")
    assert_field_error(admin.page, "filter")

    form = admin.page.locator("main form").filter(has=admin.page.locator("[name=filter]")).first
    set_field(form.locator("[name=product]").first, product)
    form.locator("[name=filter]").fill(f'userName eq "{nobody}"')
    admin.submit(form.locator("button, input[type=submit]").first, "rule-added")
    _, rules, _ = api("GET", "/admin/v1/rules")
    rules = rules["rules"] if isinstance(rules, dict) else rules
    mine = [r for r in rules if r.get("product") == product]
    assert len(mine) == 1, f"the rule for {product} was not added: {rules}"

    admin.goto("/console/settings", "settings-with-rule")
    delete = admin.page.locator(f'main form[action$="/console/rules/{mine[0]["id"]}/delete"]')
    expect(delete).to_have_count(1)
    admin.submit(delete.locator("button, input[type=submit]").first, "rule-deleted")
    _, rules, _ = api("GET", "/admin/v1/rules")
    rules = rules["rules"] if isinstance(rules, dict) else rules
    assert [r for r in rules if r.get("product") == product] == [], "the rule was not deleted"
