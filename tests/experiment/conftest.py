"""The tiny experiment setups shared by the run tests: the fakes of ``tests.fakes``, no prepared assets and no real
weights."""

import pytest

from optical.config import ExperimentConfig
from optical.data import prepare_stamps
from optical.experiment import run_experiment
from optical.store import create_run, load_run
from tests.fakes import make_deb, stamp_files, tiny_towers, write_tiny_dataset


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch) -> dict:
    """A config dict for tiny, fast runs in an empty cache: the tiny captions dataset (en, de, fr) and the tiny text
    and image towers."""
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
    prepare_stamps(make_deb(tmp_path / "stamps.deb", stamp_files(40)), progress=False)
    return {**tiny_setup, "dataset": "stamps", "root": None}


@pytest.fixture
def finished_run(stamps_setup):
    """A finished tiny stamps run (zero-shot, mse, optical) distilled on German only; students train the top layer."""
    stamps_setup.update(languages=["de"], methods=["zero-shot", "mse", "optical"], student_train_layers=1)
    stamps_setup["student"]["epochs"] = 1
    config = ExperimentConfig.from_dict(stamps_setup)
    run = create_run(config.to_dict(), "done-run")
    run_experiment(config, run, progress=lambda f, m: None)
    return load_run("done-run")
