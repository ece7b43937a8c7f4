"""Studies on tiny models: one command runs a run per seed, report summarises them, a killed study resumes."""

import json
import shutil

import pytest

from optical.cli import main
from optical.explore import describe_runs
from optical.store import Study, list_runs, load_run, parse_seeds
from optical.errors import InputError


@pytest.fixture
def study_config(tiny_setup, tmp_path):
    tiny_setup["methods"] = ["zero-shot", "mse"]
    tiny_setup["teacher"]["epochs"] = 1
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tiny_setup))
    return path


def test_study_runs_each_seed_reports_and_resumes(study_config, capsys):
    assert main(["run", "--config", str(study_config), "--seeds", "0,1", "--run-id", "st"]) == 0
    out = capsys.readouterr().out
    assert "mean over 2 training seeds" in out and "training variance and test-set sampling" in out
    s0, s1 = load_run("st-s0"), load_run("st-s1")
    assert s0.state == s1.state == "done" and s0.config["seed"] == 0 and s1.config["seed"] == 1
    assert s1.config["student"]["seed"] == s1.config["teacher"]["seed"] == 1
    assert Study.exists("st") and Study.load("st").seeds == [0, 1]
    # the study folder is no run: run lists and the app skip it
    assert sorted(r.run_id for r in list_runs()) == ["st-s0", "st-s1"]
    assert sorted(info.run_id for info in describe_runs()) == ["st-s0", "st-s1"]
    chosen = s0.status["students"]["mse"]
    assert 1 <= chosen["best_epoch"] <= chosen["epochs_run"] <= 2 and chosen["val_mR"] is not None

    assert main(["report", "st", "--json"]) == 0
    study = json.loads(capsys.readouterr().out)
    assert study["n_seeds"] == 2 and study["bootstrap"]["seeds_resampled"] and study["runs"] == ["st-s0", "st-s1"]
    assert study["students"]["mse"]["best_epoch"] == [chosen["best_epoch"], s1.status["students"]["mse"]["best_epoch"]]
    for lang in ("en", "de", "fr"):
        by_seed = study["results"]["mse"][lang]["mR_by_seed"]
        assert study["results"]["mse"][lang]["metrics"]["mR"] == pytest.approx(sum(by_seed) / 2)
        assert lang in study["results_full"]["mse"]
    assert main(["report", "st-s0", "st-s1", "--json"]) == 0  # the runs named one by one: the same summary
    assert json.loads(capsys.readouterr().out)["results"] == study["results"]
    assert main(["report", "st-s0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_seeds"] == 1

    # a killed study: seed 0 done, seed 1's run never started; --resume runs only seed 1
    finished = s0.status["finished"]
    shutil.rmtree(s1.path)
    assert main(["report", "st"]) == 0
    assert "seeds [1] not done" in capsys.readouterr().out
    assert main(["run", "--resume", "st"]) == 0
    out = capsys.readouterr().out
    assert "done already: [0]" in out and "study st: seed 1" in out and "study st: seed 0" not in out
    assert load_run("st-s0").status["finished"] == finished and load_run("st-s1").state == "done"
    assert main(["run", "--resume", "st", "--epochs", "3"]) == 2  # a study keeps its config


def test_report_refuses_runs_of_different_test_splits(study_config, capsys):
    assert main(["run", "--config", str(study_config), "--seeds", "0", "--run-id", "a"]) == 0
    other = load_run("a-s0").path.parent / "b"
    shutil.copytree(load_run("a-s0").path, other)
    for file in (other / "ranks" / "test").glob("*.csv"):  # run b evaluated de only: another test split
        lines = file.read_text().splitlines()
        file.write_text("\n".join(line for line in lines if not line.startswith("fr,")) + "\n")
    capsys.readouterr()
    assert main(["report", "a-s0", "b"]) == 2
    assert "must share the test split" in capsys.readouterr().err


def test_seeds_flag():
    assert parse_seeds("0, 1,2") == [0, 1, 2]
    for bad in ("", "0,0", "a", "-1"):
        with pytest.raises(InputError, match="--seeds"):
            parse_seeds(bad)
    assert main(["run", "--seeds", "0,1", "--seed", "3"]) == 2
