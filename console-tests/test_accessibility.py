"""axe-core on every page, at 1280 px and at a phone's width (390 px): no serious or critical
violation. axe is injected as a script, so these pages load in a context that bypasses the
console's CSP (which rightly forbids it); every other test runs under the CSP."""
import json

import pytest

from conftest import AXE_JS, DESKTOP, PAGE_KEYS, PHONE

WIDTHS = {"1280": DESKTOP, "390": PHONE}


def run_axe(page):
    assert AXE_JS, "AXE_JS is not set: run console-tests/run.sh"
    page.add_script_tag(path=AXE_JS)
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")


def check(c, step):
    violations = run_axe(c.page)
    c.shots.keep(f"{step}.axe.json", json.dumps(violations, indent=2))
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{step}: axe found serious or critical violations:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in bad)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("key", PAGE_KEYS)
def test_axe_on_each_page(open_console, page_path, key, width):
    c = open_console("admin", viewport=WIDTHS[width], bypass_csp=True)
    resp = c.goto(page_path(key), f"{key}-{width}px")
    assert resp.status == 200, f"GET {page_path(key)} answered {resp.status}"
    check(c, f"{key}-{width}px")
    # usable at that width: the page itself never scrolls sideways (a wide table may, in its box)
    overflow = c.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{key} at {width} px is {overflow} px wider than the window"


def test_axe_reports_a_planted_violation(open_console):
    """The check itself works: an image without alt text on a console page is reported."""
    c = open_console("admin", bypass_csp=True)
    c.goto("/console/", "overview")
    c.page.evaluate("""() => {
        const img = document.createElement('img');
        img.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';
        document.querySelector('main').appendChild(img);
    }""")
    found = {v["id"]: v["impact"] for v in run_axe(c.page)}
    assert found.get("image-alt") == "critical", f"axe did not report the planted image: {found}"


@pytest.mark.parametrize("width", WIDTHS)
def test_axe_on_the_sign_in_page(open_console, width):
    c = open_console(None, viewport=WIDTHS[width], bypass_csp=True)
    c.goto("/console/sign-in", f"sign-in-{width}px")
    check(c, f"sign-in-{width}px")
    # and the same page showing its error
    c.page.get_by_label("Admin token").fill("not-a-token")
    c.submit(c.page.get_by_role("button", name="Sign in"), f"sign-in-error-{width}px")
    check(c, f"sign-in-error-{width}px")
