"""Shared app fixtures: the tiny cache (``app_cache``, built once per session, in tests/conftest.py) as the test's
``OPTICAL_CACHE``, the tiny late-teacher run's cache (``late_cache``), clean streamlit caches per test, and the
browser tests' streamlit server and headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
import torch

from tests.app.server import CHROMIUM, CHROMIUM_FLAGS, REPO, TIMEOUT_MS, free_port, wait_healthy


@pytest.fixture(autouse=True)
def _torch_threads():
    """The app's loaders switch torch to one thread; give the rest of the test session its setting back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cache(app_cache, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(app_cache))
    yield app_cache
    st.cache_data.clear()


@pytest.fixture
def late_cache(late_root, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(late_root))
    yield late_root
    st.cache_data.clear()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path))
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


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
