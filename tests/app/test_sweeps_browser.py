"""The Sweeps page in a real headless Chromium (the server and browser of conftest.py) over a tiny sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.fixtures import build_sweep
from tests.app.server import no_exception, screenshot, settle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_cache(tmp_path_factory) -> Path:
    """Overrides the app's tiny cache for this module: only a finished tiny sweep."""
    root = tmp_path_factory.mktemp("sweep-browser-cache")
    build_sweep(root)
    return root


def test_sweeps_page_draws_lines_with_bands_and_the_table(server, page):
    page.goto(f"{server}/Sweeps")
    page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    settle(page)
    # 6 lines (3 methods x 2 caps), each with its CI band
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() == 12
    assert page.get_by_text("Download the sweep's table (CSV)").count() == 1
    no_exception(page)
    screenshot(page, "sweeps")
    assert page.get_by_text("Against zero-shot: the research goal").count() == 1
    assert page.locator('[data-testid="stDataFrame"]').count() == 2  # the lines, then the goal table

    page.get_by_text("val", exact=True).click()  # the sidebar's split
    page.get_by_text("image groups of val", exact=False).wait_for()
    settle(page)
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() == 12
    no_exception(page)
