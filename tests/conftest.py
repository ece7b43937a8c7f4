"""Shared test setup: never touch the network, keep torch on few threads, leave the user's hash store alone;
the tiny Multi30k tree, which data and experiment tests use."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from optical.store import cache_dir  # noqa: E402

_SESSION_CACHE = os.environ.get("OPTICAL_CACHE")  # the user's own, when set


def _read(store: Path) -> str | None:
    return store.read_text(encoding="utf-8") if store.is_file() else None


@pytest.fixture(scope="session", autouse=True)
def _user_hash_store_untouched(tmp_path_factory):
    """Tests never write the user's ``cache/weight_hashes.json``: ``cached_sha256`` remembers hashes in a test's
    own ``OPTICAL_CACHE``, else in a temporary file; the session fails if the user's store changed all the same
    (a subprocess without a temporary ``OPTICAL_CACHE``, for instance)."""
    from optical.encoders import _weights  # transformers: only once a test runs

    user_store = cache_dir() / _weights._HASH_CACHE
    before = _read(user_store)
    fallback = tmp_path_factory.getbasetemp() / _weights._HASH_CACHE

    def store_of_the_test() -> Path:
        own = os.environ.get("OPTICAL_CACHE")
        return cache_dir() / _weights._HASH_CACHE if own and own != _SESSION_CACHE else fallback

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_weights, "hash_store", store_of_the_test)
        yield
    if _read(user_store) != before:
        changed = set(json.loads(_read(user_store) or "{}")) - set(json.loads(before or "{}"))
        pytest.fail(f"the tests changed {user_store} (new entries: {sorted(changed)[:5]}); a test that hashes "
                    "weights must use a temporary OPTICAL_CACHE", pytrace=False)


@pytest.fixture
def multi30k(tmp_path) -> tuple[Path, Path]:
    """``(root, images)``: the tiny Multi30k tree of ``tests.fakes.write_multi30k``."""
    from tests.fakes import write_multi30k

    return write_multi30k(tmp_path)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` are skipped where torch sees no CUDA device (they run in scripts/gpu_check.sh)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run on a GPU: scripts/gpu_check.sh runs pytest -m cuda)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
