"""The app's tiny cache (``app_cache``, built once per session, in tests/conftest.py) as the test's
``OPTICAL_CACHE``: what ``optical.explore`` reads."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cache(app_cache, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(app_cache))
    return app_cache
