"""The token -> region view of a late-teacher run in a real headless Chromium (the server and browser of conftest.py)
over the tiny late run. Screenshots: ``test-artifacts/late-*.png``; with ``OPTICAL_UPDATE_SCREENSHOTS=1`` also
``docs/screenshots/late-*.png`` for the README (``OPTICAL_BROWSER_CACHE=DIR``: a cache with a real late run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.server import no_exception, screenshot, settle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_cache(late_root) -> Path:
    """Overrides the app's tiny cache for this module: only the tiny late-teacher run (tests/conftest.py)."""
    return late_root


def _maps(page):
    """The token maps' heatmap layers (the image under each map is a separate layer)."""
    return page.locator(".js-plotly-plot .heatmaplayer")


def test_image_search_shows_each_token_over_the_image(server, page):
    page.goto(f"{server}/Image_Search")
    page.get_by_text("Token → region").click()
    page.locator(".js-plotly-plot image").nth(1).wait_for()  # the picture under both token maps
    page.get_by_text("Every token's map").wait_for()  # the view's last element
    settle(page)
    first = page.locator(".js-plotly-plot").first.inner_html()
    tokens = page.get_by_role("radiogroup").nth(1).locator("label")  # the foreign tokens (0: the search mode)
    tokens.nth(tokens.count() - 3).click()  # a late token: before the end-of-sentence one and a full stop
    settle(page)
    page.locator(".js-plotly-plot image").nth(1).wait_for()
    for _ in range(50):  # plotly redraws the chosen token's map after the script has run
        if page.locator(".js-plotly-plot").first.inner_html() != first:
            break
        page.wait_for_timeout(200)
    assert page.locator(".js-plotly-plot").first.inner_html() != first
    no_exception(page)
    screenshot(page, "late-image_search")


def test_transport_page_shows_the_view_under_the_plans(server, page):
    page.goto(f"{server}/Transport_Plans")
    heading = page.get_by_role("heading", name="Token → region")
    heading.wait_for()
    page.get_by_text("Every token's map").wait_for()
    page.locator(".js-plotly-plot image").nth(1).wait_for()
    settle(page)
    heading.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    assert _maps(page).count() >= 2 + 1  # the two token maps and the plan under them
    no_exception(page)
    screenshot(page, "late-transport_plans")
