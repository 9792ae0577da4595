"""Keyboard use: Tab reaches every nav link, and the focused one shows a visible focus style."""
from conftest import NAV

FOCUS_STYLE = """e => {
    const s = getComputedStyle(e);
    return {outline_style: s.outlineStyle, outline_width: s.outlineWidth,
            outline_color: s.outlineColor, box_shadow: s.boxShadow};
}"""


def visible_focus(style):
    outline = style["outline_style"] not in ("none", "hidden") and \
        float(style["outline_width"].rstrip("px") or 0) > 0
    return outline or style["box_shadow"] not in ("none", "")


def test_tab_reaches_the_nav_links_with_a_visible_focus(admin):
    page = admin.page
    admin.goto("/console/", "overview")
    reached, styles = [], {}
    for _ in range(60):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => {
            const e = document.activeElement;
            if (!e || e === document.body) return null;
            return {href: e.getAttribute('href'), in_nav: !!e.closest('nav[aria-label="Console"]')};
        }""")
        if info and info["in_nav"]:
            reached.append(info["href"])
            styles[info["href"]] = page.evaluate(f"({FOCUS_STYLE})(document.activeElement)")
            if len(reached) == 1:
                admin.shot("first-nav-link-focused")
        if set(p for _, p in NAV) <= set(reached):
            break
    missing = [p for _, p in NAV if p not in reached]
    assert missing == [], f"Tab never reached the nav links {missing} (reached {reached})"
    # in document order, as the nav lists them
    order = [h for h in reached if h in dict((p, n) for n, p in NAV)]
    assert order[:len(NAV)] == [p for _, p in NAV], f"Tab order of the nav: {order}"
    admin.shot("last-nav-link-focused")

    for href, style in styles.items():
        assert visible_focus(style), f"nav link {href} shows no focus style when focused: {style}"
    # and the focus style is the focus's: the same link unfocused looks different
    first = page.locator(f'nav[aria-label="Console"] a[href="{NAV[0][1]}"]')
    page.evaluate("document.activeElement && document.activeElement.blur()")
    unfocused = first.evaluate(FOCUS_STYLE)
    assert unfocused != styles[NAV[0][1]], (
        f"the nav link looks the same focused and unfocused: {unfocused}"
    )
