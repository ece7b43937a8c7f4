"""Fixtures: the fakes of ``tests.fakes`` (an ar archive, a captions folder); the fake stamps package, a prepared
fake stamps cache and an empty cache are in tests/conftest.py (the CLI tests use them too)."""

from __future__ import annotations

import pytest

from tests import fakes


@pytest.fixture
def ar_archive():
    """``ar_archive([(name, bytes), ...]) -> bytes``."""
    return fakes.ar_archive


@pytest.fixture
def write_captions():
    """``write_captions(root, rows, header="image\\tlang\\tcaption", images=None) -> root``."""
    return fakes.write_captions
