"""The app's tiny cache (``app_cache``, built once per session, in tests/conftest.py) as the test's
``OPTICAL_CACHE``: what ``optical.explore`` reads; and the tiny late-teacher run's (``late_cache``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cache(app_cache, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(app_cache))
    return app_cache


@pytest.fixture
def late_cache(late_root, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(late_root))
    return late_root
