"""The app's tiny cache (``app_cache``, built once per session, in tests/conftest.py) as the test's
``OPTICAL_CACHE``: what ``optical.explore`` reads; and the tiny late-teacher run's (``late_cache``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cache(app_cache, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(app_cache))
    return app_cache


@pytest.fixture(scope="session")
def late_root(tmp_path_factory) -> Path:
    """An OPTICAL_CACHE holding only the tiny late-teacher run (``tests.app.fixtures.build_late_run``)."""
    from tests.app.fixtures import build_late_run

    root = tmp_path_factory.mktemp("optical-late-cache")
    build_late_run(root)
    return root


@pytest.fixture
def late_cache(late_root, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(late_root))
    return late_root
