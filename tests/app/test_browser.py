"""The app end to end in a real headless Chromium: a streamlit server on 127.0.0.1 over the tiny run folder.

Screenshots go to ``test-artifacts/`` (git-ignored); with ``OPTICAL_UPDATE_SCREENSHOTS=1`` the final ones are
also copied to ``docs/screenshots/<page>.png`` for the README. ``OPTICAL_BROWSER_CACHE=cache`` serves a real
cache (with a finished run) instead of the tiny one, for README screenshots of real results.
"""

from __future__ import annotations

import pytest

from tests.app.server import no_exception, screenshot, settle
from tests.fakes import png_bytes

pytestmark = pytest.mark.browser


def test_home_renders_the_headline_table(server, page):
    page.goto(server)
    page.get_by_text("Verdict.").wait_for()
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for()
    page.get_by_role("heading", name="Teacher").wait_for()
    page.locator('[data-testid="stDataFrame"]').nth(3).wait_for()  # runs, headline, disparity, the teacher's recall
    settle(page)
    assert page.get_by_text("teacher key").count() == 1  # a pretrained teacher has no best epoch
    nav = [link.inner_text() for link in page.locator('[data-testid="stSidebarNavLink"]').all()]
    assert nav[0].endswith("Home") and not any("app" in entry for entry in nav), nav  # not named after app.py
    no_exception(page)
    screenshot(page, "home")


def test_recall_page_draws_its_charts(server, page):
    page.goto(f"{server}/Recall_by_Language")
    page.locator(".js-plotly-plot .bars").first.wait_for()
    page.locator(".js-plotly-plot").nth(1).wait_for()
    settle(page)
    no_exception(page)
    screenshot(page, "recall_by_language")


def test_transport_page_draws_heatmaps_for_typed_sentences(server, page):
    page.goto(f"{server}/Transport_Plans")
    page.locator(".js-plotly-plot").nth(1).wait_for()  # plan and cost of the first student
    settle(page)
    page.get_by_text("Type both sentences").click()
    page.get_by_label("Sentence in").fill("der rote hund")
    page.get_by_label("Sentence in").press("Enter")
    settle(page)
    page.get_by_label("English sentence").fill("the red dog")
    page.get_by_label("English sentence").press("Enter")
    settle(page)
    page.locator(".js-plotly-plot").nth(1).wait_for()
    no_exception(page)
    screenshot(page, "transport_plans")


def test_image_search_shows_images_for_a_query_and_ranks_captions_for_an_upload(server, page, tmp_path):
    page.goto(f"{server}/Image_Search")
    query = page.get_by_label("Query, in any language")
    query.fill("ein roter apfel 🍎")
    query.press("Enter")
    page.locator('[data-testid="stImage"] img').nth(14).wait_for()
    settle(page)
    assert page.get_by_text("ms (search").count() >= 3  # zero-shot, mse, optical (and more in real runs)
    no_exception(page)
    screenshot(page, "image_search")

    page.get_by_text("Image → captions").click()
    upload = page.locator('input[type="file"]')
    (tmp_path / "notes.png").write_bytes(b"not pixels")
    upload.set_input_files(str(tmp_path / "notes.png"))
    page.get_by_text("not an image").wait_for()
    (tmp_path / "apple.png").write_bytes(png_bytes())
    page.locator('input[type="file"]').set_input_files(str(tmp_path / "apple.png"))
    page.locator('[data-testid="stTable"]').nth(2).wait_for()
    settle(page)
    no_exception(page)
    screenshot(page, "image_to_captions")
