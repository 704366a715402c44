"""The top bar (templates/_base.html) for a coordinator, who sees every link of the navigation: one line at 1366×900
on every page of the navigation (with a longish user name too), nothing past the window's edge at 390 px and the
search box not cut short there, every link reachable by Tab in order, and the current page marked with aria-current."""

from __future__ import annotations

import pytest

from tests.conftest import _staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The top bar's height and the height of one navigation link: one line holds the bar in less than two links' height.
TOPBAR = """() => {
  const bar = document.querySelector('header.topbar').getBoundingClientRect();
  const links = [...document.querySelectorAll('.mainnav a')].map(a => a.getBoundingClientRect());
  const parts = [...document.querySelector('header.topbar').children].map(el => {
    const box = el.getBoundingClientRect(); return {name: el.className, top: box.top, bottom: box.bottom, right: box.right};
  });
  return {height: bar.height, link: Math.max(...links.map(l => l.height)), parts,
          linkRows: new Set(links.map(l => Math.round(l.top))).size, width: document.documentElement.clientWidth};
}"""

# Room left in the search box once its placeholder is drawn (px; negative: the placeholder is cut off).
PLACEHOLDER_ROOM = """() => {
  const input = document.getElementById('learner-search-q'), style = getComputedStyle(input);
  const context = document.createElement('canvas').getContext('2d');
  context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const inner = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return inner - context.measureText(input.placeholder).width;
}"""


def navigation(user) -> list[dict]:
    from proctordash.accounts.context_processors import navigation_for

    return navigation_for(user)


def test_the_top_bar_is_one_line_at_1366_for_a_coordinator(login_page, live_server, coordinator):
    """On each page of the navigation (each loads its own stylesheets), signed in as "cora" and as a coordinator
    with a long user name (cut short with an ellipsis, read out whole)."""
    long_name = _staff("alexandra.montgomery-whitfield", "coordinator")
    items = navigation(coordinator)
    assert len(items) == 7  # a coordinator sees every link
    failures = {}
    for user in (coordinator, long_name):
        page = login_page(user)
        # 1366 less 17 px: a window whose page scrolls, where scrollbars take room (Windows; Chromium's headless ones
        # float over the page)
        for width in (1366, 1366 - 17):
            page.set_viewport_size({"width": width, "height": 900})
            for item in items + [{"url": "/profile/", "label": "profile"}]:
                page.goto(live_server.url + item["url"])
                bar = page.evaluate(TOPBAR)
                tops = [p["top"] for p in bar["parts"]]
                if bar["linkRows"] != 1 or bar["height"] >= 2 * bar["link"] or max(tops) - min(tops) > bar["link"] / 2:
                    failures[(user.username, width, item["url"])] = bar
        assert page.get_by_role("link", name=user.username).count() == 1  # the whole name, for a screen reader
        page.context.clear_cookies()
    assert failures == {}, "\n".join(f"{key}: {bar}" for key, bar in failures.items())


def test_the_top_bar_at_390_wraps_inside_the_window(login_page, live_server, coordinator):
    # user names of several lengths: the search box shares its row with the name, or wraps, as the name decides
    for user in (coordinator, _staff("benny", "coordinator"), _staff("barbara.k", "coordinator")):
        page = login_page(user)
        page.set_viewport_size({"width": 390, "height": 844})
        for url in ("/health/", "/monitor/", "/appointments/"):
            page.goto(live_server.url + url)
            bar = page.evaluate(TOPBAR)
            assert bar["width"] == 390 and page.evaluate("document.documentElement.scrollWidth") <= 390
            assert all(p["right"] <= 390 for p in bar["parts"]), (user.username, url, bar)
            assert page.evaluate(PLACEHOLDER_ROOM) >= 0, (user.username, url)  # the whole placeholder shows
        page.context.clear_cookies()


def test_the_navigation_by_keyboard_with_the_current_page_marked(login_page, live_server, coordinator):
    page = login_page(coordinator)
    page.set_viewport_size({"width": 1366, "height": 900})
    items = navigation(coordinator)
    for item in items:
        page.goto(live_server.url + item["url"])
        current = page.locator('.mainnav a[aria-current="page"]')
        assert current.count() == 1 and current.inner_text() == item["label"], item
    # Tab from the top of the page: the skip link, the brand, then every navigation link in order, then the search
    page.goto(live_server.url + "/health/")
    reached = []
    for _ in range(len(items) + 4):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("""() => { const el = document.activeElement;
            return el.closest('.mainnav') ? 'nav:' + el.textContent.trim() : (el.id || el.className || el.tagName); }"""))
    labels = [f"nav:{item['label']}" for item in items]
    start = reached.index(labels[0])
    assert reached[start:start + len(labels)] == labels and reached[start + len(labels)] == "learner-search-q", reached
    assert reached[:start] == ["skip-link", "brand"], reached
