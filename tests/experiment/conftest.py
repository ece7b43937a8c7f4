"""The tiny experiment setup shared by the run tests."""

import pytest

from optical.data import prepare_stamps
from optical.experiment import ExperimentConfig
from tests.data.conftest import _make_deb as make_deb
from tests.data.conftest import _stamp_files as stamp_files
from tests.tiny_models import saved_tiny_text_encoder


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch) -> dict:
    """A prepared fake stamps cache and a config dict for tiny, fast runs."""
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    prepare_stamps(make_deb(tmp_path / "stamps.deb", stamp_files(40)), progress=False)
    config = ExperimentConfig(
        languages=["de", "fr"],
        text_encoder=str(saved_tiny_text_encoder(tmp_path)),
        embed_dim=8,
        bootstrap=50,
        plan_samples=2,
        teacher_train_layers=-1,
        student_train_layers=-1,
    ).to_dict()
    config["teacher"].update(epochs=2, batch_size=8)
    config["student"].update(epochs=2, batch_size=8)
    return config
