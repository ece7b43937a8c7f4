"""Shared test setup: never touch the network, keep torch on few threads, leave the user's hash store alone; and
the fixtures that several test folders use: the tiny Multi30k tree (data, cli, experiment), the fake stamps
package and an empty cache (data, cli), the app's tiny cache (app, explore) and the tiny experiment setups (config,
store, experiment)."""

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


# --- the fake stamps package and an empty cache (the data and CLI tests) --------------------------------------


@pytest.fixture
def make_deb():
    """``make_deb(path, files, package=..., data_member="data.tar.xz", version="1.0-test") -> path``."""
    from tests import fakes

    return fakes.make_deb


@pytest.fixture
def stamp_files():
    """``stamp_files(n_generated=60) -> {path in package: bytes}``: the fake package's content."""
    from tests import fakes

    return fakes.stamp_files


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder (``OPTICAL_CACHE``)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("OPTICAL_CACHE", str(root))
    return root


@pytest.fixture
def fake_deb(tmp_path) -> Path:
    from tests import fakes

    return fakes.make_deb(tmp_path / "tuxpaint-stamps-default_1.0-test_all.deb", fakes.stamp_files())


@pytest.fixture
def stamps(cache, fake_deb):
    """The fake package prepared into the test cache and loaded."""
    from optical.data import load_stamps, prepare_stamps

    prepare_stamps(fake_deb, progress=False)
    return load_stamps()


# --- the app's tiny cache (the app and explore tests) ------------------------------------------------------------


@pytest.fixture(scope="session")
def app_cache(tmp_path_factory) -> Path:
    """An OPTICAL_CACHE holding the tiny run and the broken runs (see ``tests.app.fixtures.build_runs``)."""
    from tests.app.fixtures import build_runs

    root = tmp_path_factory.mktemp("optical-cache")
    build_runs(root)
    return root


@pytest.fixture(scope="session")
def late_root(tmp_path_factory) -> Path:
    """An OPTICAL_CACHE holding only the tiny late-teacher run (``tests.app.fixtures.build_late_run``)."""
    from tests.app.fixtures import build_late_run

    root = tmp_path_factory.mktemp("optical-late-cache")
    build_late_run(root)
    return root


# --- tiny experiment setups, no prepared assets and no real weights (the config, store and experiment tests) ----


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch) -> dict:
    """A config dict for tiny, fast runs in an empty cache: the tiny captions dataset (en, de, fr) and the tiny text
    and image towers."""
    from optical.config import ExperimentConfig
    from tests.fakes import tiny_towers, write_tiny_dataset

    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    config = ExperimentConfig(
        dataset="captions",
        root=str(write_tiny_dataset(tmp_path / "tiny-dataset")),
        languages=["de", "fr"],
        **tiny_towers(tmp_path),
        embed_dim=8,
        bootstrap=50,
        plan_samples=2,
        teacher_train_layers=-1,
        student_train_layers=-1,
    ).to_dict()
    config["teacher"].update(epochs=2, batch_size=8)
    config["student"].update(epochs=2, batch_size=8)
    return config


@pytest.fixture
def stamps_setup(tiny_setup, tmp_path) -> dict:
    """``tiny_setup`` on a fake stamps package (40 generated stamps) prepared into its cache: for the tests that
    evaluate a run on ``--dataset stamps``."""
    from optical.data import prepare_stamps
    from tests.fakes import make_deb, stamp_files

    prepare_stamps(make_deb(tmp_path / "stamps.deb", stamp_files(40)), progress=False)
    return {**tiny_setup, "dataset": "stamps", "root": None}


@pytest.fixture
def finished_run(stamps_setup):
    """A finished tiny stamps run (zero-shot, mse, optical) distilled on German only; students train the top layer."""
    from optical.config import ExperimentConfig
    from optical.experiment import run_experiment
    from optical.store import create_run, load_run

    stamps_setup.update(languages=["de"], methods=["zero-shot", "mse", "optical"], student_train_layers=1)
    stamps_setup["student"]["epochs"] = 1
    config = ExperimentConfig.from_dict(stamps_setup)
    run = create_run(config.to_dict(), "done-run")
    run_experiment(config, run, progress=lambda f, m: None)
    return load_run("done-run")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` are skipped where torch sees no CUDA device (they run in scripts/gpu_check.sh)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run on a GPU: scripts/gpu_check.sh runs pytest -m cuda)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
