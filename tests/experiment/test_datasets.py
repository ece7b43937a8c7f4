"""Runs on other datasets: a generated captions folder end to end, and Multi30k bitext for students while the
teacher and the evaluation stay on stamps."""

import argparse
import os
from pathlib import Path

import pytest

from optical.cli import run as run_cli
from optical.data import captions_bitext, load_captions, prepare_stamps
from optical.errors import InputError
from optical.config import ExperimentConfig, parse_bitext_flag
from optical.experiment import run_experiment
from optical.experiment._data import _bitext
from optical.store import create_run, load_run
from tests.fakes import captions_rows, make_deb, stamp_files, tiny_towers, write_captions

REAL_MULTI30K = Path(os.environ.get("OPTICAL_MULTI30K")
                     or Path(__file__).resolve().parents[2].parent / "shared" / "multi30k")


def _tiny(tmp_path: Path, **settings) -> ExperimentConfig:
    config = ExperimentConfig(
        languages=["de", "fr"], **tiny_towers(tmp_path), embed_dim=8, bootstrap=20,
        plan_samples=1, teacher_train_layers=-1, student_train_layers=-1, methods=["zero-shot", "mse", "optical"],
        **settings,
    ).to_dict()
    config["teacher"].update(epochs=1, batch_size=8)
    config["student"].update(epochs=1, batch_size=8)
    return ExperimentConfig.from_dict(config)


def test_run_on_a_captions_folder_with_multi30k_bitext(tmp_path, monkeypatch, multi30k):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    root = write_captions(tmp_path / "mine", captions_rows(40))
    m30k_root, _ = multi30k
    config = _tiny(tmp_path, dataset="captions", root=str(root), bitext={"de": f"multi30k:{m30k_root}"})
    own = {lang: list(dict.fromkeys(captions_bitext(load_captions(root), lang))) for lang in ("de", "fr")}
    assert own["de"] and _bitext(config, "fr") == own["fr"]  # the folder's train pairs
    de = _bitext(config, "de")
    assert de[:len(own["de"])] == own["de"]
    assert de[len(own["de"]):] == [(f"en caption {i} of train", f"de caption {i} of train") for i in range(6)]
    run = create_run(config.to_dict(), "mine")
    metrics = run_experiment(config, run, progress=lambda f, m: None)
    assert load_run("mine").state == "done" and metrics["dataset"] == "captions"
    assert set(metrics["languages"]) == {"en", "de", "fr"}
    for method in config.methods:
        assert 0 <= metrics["results"][method]["de"]["metrics"]["mR"] <= 100


def test_captions_config_needs_root_and_bitext_is_validated(tmp_path):
    with pytest.raises(InputError, match="needs --root DIR"):
        ExperimentConfig.from_dict({"dataset": "captions"})
    with pytest.raises(InputError, match=r"dataset must be one of \[.*\], got 'coco'"):
        ExperimentConfig.from_dict({"dataset": "coco"})
    with pytest.raises(InputError, match="not a Multi30k checkout"):
        ExperimentConfig.from_dict({"languages": ["de"], "bitext": {"de": f"multi30k:{tmp_path}"}})
    with pytest.raises(InputError, match="not among the run's foreign languages"):
        ExperimentConfig.from_dict({"languages": ["de"], "bitext": {"fr": "x.tsv,y.tsv"}})
    with pytest.raises(InputError, match="neither"):
        ExperimentConfig.from_dict({"languages": ["de"], "bitext": {"de": str(tmp_path / "missing.tsv")}})
    ExperimentConfig.from_dict({"languages": ["pt_BR", "lkt"], "bitext": {"pt-BR": "en.txt,pt.txt"}})


def test_bitext_flag():
    assert parse_bitext_flag("de=multi30k:/a/b,fr=multi30k:/a/b") == {"de": "multi30k:/a/b",
                                                                      "fr": "multi30k:/a/b"}
    assert parse_bitext_flag("de=en.txt,de.txt,cs=x.tsv") == {"de": "en.txt,de.txt", "cs": "x.tsv"}
    with pytest.raises(InputError, match="LANG=SOURCE"):
        parse_bitext_flag("multi30k:/a")
    parser = argparse.ArgumentParser()
    run_cli.register(parser.add_subparsers())
    args = parser.parse_args(["run", "--languages", "de", "--bitext", "de=en.txt,de.txt"])
    assert run_cli.config_from_args(args).bitext == {"de": "en.txt,de.txt"}


@pytest.mark.skipif(not (REAL_MULTI30K / "data" / "task1" / "raw").is_dir(), reason="real Multi30k text absent")
def test_real_multi30k_bitext_for_stamps_students(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    prepare_stamps(make_deb(tmp_path / "stamps.deb", stamp_files(10)), progress=False)
    spec = f"multi30k:{REAL_MULTI30K}"
    config = ExperimentConfig.from_dict({"languages": ["de", "cs"], "bitext": {"de": spec, "cs": spec}})
    cs, de = _bitext(config, "cs"), _bitext(config, "de")
    assert 28500 <= len(cs) <= 29000  # the stamps have no Czech: every cs pair is Multi30k's
    assert len(de) >= len(cs) and ("A coin.", "Eine Münze.") in de  # stamps' own German pairs stay
