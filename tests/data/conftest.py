"""Fixtures: the fakes of ``tests.fakes`` (a stamps .deb, a captions folder) and a prepared fake stamps cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from optical.data import load_stamps, prepare_stamps
from tests import fakes


@pytest.fixture
def make_deb():
    """``make_deb(path, files, package=..., data_member="data.tar.xz", version="1.0-test") -> path``."""
    return fakes.make_deb


@pytest.fixture
def stamp_files():
    """``stamp_files(n_generated=60) -> {path in package: bytes}``: the fake package's content."""
    return fakes.stamp_files


@pytest.fixture
def ar_archive():
    """``ar_archive([(name, bytes), ...]) -> bytes``."""
    return fakes.ar_archive


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder (``OPTICAL_CACHE``)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("OPTICAL_CACHE", str(root))
    return root


@pytest.fixture
def fake_deb(tmp_path) -> Path:
    return fakes.make_deb(tmp_path / "tuxpaint-stamps-default_1.0-test_all.deb", fakes.stamp_files())


@pytest.fixture
def stamps(cache, fake_deb):
    """The fake package prepared into the test cache and loaded."""
    prepare_stamps(fake_deb, progress=False)
    return load_stamps()


@pytest.fixture
def write_captions():
    """``write_captions(root, rows, header="image\\tlang\\tcaption", images=None) -> root``."""
    return fakes.write_captions
