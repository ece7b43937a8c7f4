"""The app end to end in a real headless Chromium: a streamlit server on 127.0.0.1 over the tiny run folder.

Screenshots go to ``test-artifacts/`` (git-ignored); with ``OPTICAL_UPDATE_SCREENSHOTS=1`` the final ones are
also copied to ``docs/screenshots/<page>.png`` for the README. ``OPTICAL_BROWSER_CACHE=cache`` serves a real
cache (with a finished run) instead of the tiny one, for README screenshots of real results.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.server import free_port, wait_healthy
from tests.fakes import png_bytes

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server(app_cache, tmp_path_factory):
    """``streamlit run app.py`` on a free local port; yields its base URL."""
    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
        "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]
    cache = Path(os.environ.get("OPTICAL_BROWSER_CACHE") or app_cache).resolve()
    env = {**os.environ, "OPTICAL_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, process, timeout=60):
        process.kill()
        pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        tab = browser.new_page(viewport={"width": 1400, "height": 2200})  # streamlit scrolls inside the page
        tab.set_default_timeout(TIMEOUT_MS)
        yield tab
        browser.close()


def _settle(page) -> None:
    """Wait until streamlit has finished running the script (no 'Running...' status widget)."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=TIMEOUT_MS)


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("OPTICAL_UPDATE_SCREENSHOTS") == "1":
        target = REPO / "docs" / "screenshots" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_home_renders_the_headline_table(server, page):
    page.goto(server)
    page.get_by_text("Verdict.").wait_for()
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for()
    page.get_by_role("heading", name="Teacher").wait_for()
    page.locator('[data-testid="stDataFrame"]').nth(3).wait_for()  # runs, headline, disparity, the teacher's recall
    _settle(page)
    assert page.get_by_text("teacher key").count() == 1  # a pretrained teacher has no best epoch
    nav = [link.inner_text() for link in page.locator('[data-testid="stSidebarNavLink"]').all()]
    assert nav[0].endswith("Home") and not any("app" in entry for entry in nav), nav  # not named after app.py
    _no_exception(page)
    _screenshot(page, "home")


def test_recall_page_draws_its_charts(server, page):
    page.goto(f"{server}/Recall_by_Language")
    page.locator(".js-plotly-plot .bars").first.wait_for()
    page.locator(".js-plotly-plot").nth(1).wait_for()
    _settle(page)
    _no_exception(page)
    _screenshot(page, "recall_by_language")


def test_transport_page_draws_heatmaps_for_typed_sentences(server, page):
    page.goto(f"{server}/Transport_Plans")
    page.locator(".js-plotly-plot").nth(1).wait_for()  # plan and cost of the first student
    _settle(page)
    page.get_by_text("Type both sentences").click()
    page.get_by_label("Sentence in").fill("der rote hund")
    page.get_by_label("Sentence in").press("Enter")
    _settle(page)
    page.get_by_label("English sentence").fill("the red dog")
    page.get_by_label("English sentence").press("Enter")
    _settle(page)
    page.locator(".js-plotly-plot").nth(1).wait_for()
    _no_exception(page)
    _screenshot(page, "transport_plans")


def test_image_search_shows_images_for_a_query_and_ranks_captions_for_an_upload(server, page, tmp_path):
    page.goto(f"{server}/Image_Search")
    query = page.get_by_label("Query, in any language")
    query.fill("ein roter apfel 🍎")
    query.press("Enter")
    page.locator('[data-testid="stImage"] img').nth(14).wait_for()
    _settle(page)
    assert page.get_by_text("ms (search").count() >= 3  # zero-shot, mse, optical (and more in real runs)
    _no_exception(page)
    _screenshot(page, "image_search")

    page.get_by_text("Image → captions").click()
    upload = page.locator('input[type="file"]')
    (tmp_path / "notes.png").write_bytes(b"not pixels")
    upload.set_input_files(str(tmp_path / "notes.png"))
    page.get_by_text("not an image").wait_for()
    (tmp_path / "apple.png").write_bytes(png_bytes())
    page.locator('input[type="file"]').set_input_files(str(tmp_path / "apple.png"))
    page.locator('[data-testid="stTable"]').nth(2).wait_for()
    _settle(page)
    _no_exception(page)
    _screenshot(page, "image_to_captions")
