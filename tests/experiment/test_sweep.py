"""Sweeps: every point validated first, the bitext cap, teacher reuse across points, resume of a killed sweep, the
report (grid parsing: tests/config/test_grid.py; the goal table: tests/results/test_sweep_tables.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optical.experiment._runner as runner
from optical.cli import main
from optical.errors import InputError
from optical.config import ExperimentConfig, parse_grid
from optical.experiment import cap_bitext, design_sweep, forget_shared
from optical.experiment._data import _bitext
from optical.results import sweep_frame
from optical.store import Sweep, run_state, runs_dir, teachers_dir


def test_every_point_is_validated_before_anything_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path))
    with pytest.raises(InputError, match=r"point ot.reg=-1.0, seed 0.*ot.reg must be a number > 0"):
        design_sweep(ExperimentConfig(), parse_grid(["ot.reg=0.05,-1"]), [0])
    assert main(["sweep", "--grid", "bitext_pairs=0,10", "--sweep-id", "bad"]) == 2
    assert "bitext_pairs must be an integer >= 1" in capsys.readouterr().err
    assert main(["sweep", "--grid", "ot.foo=1"]) == 2
    assert "unknown key 'ot.foo'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "sweeps").exists()


def test_bitext_cap_is_one_sample_whatever_the_order_and_nested():
    pairs = [(f"english {i}", f"foreign {i}") for i in range(200)]
    small, large = cap_bitext(pairs, 50), cap_bitext(pairs, 100)
    assert len(small) == 50 and len(large) == 100
    assert set(small) <= set(large)
    assert set(cap_bitext(pairs[::-1], 50)) == set(small)  # depends on the pairs, not their order
    assert small == [p for p in pairs if p in set(small)]  # original order kept
    assert cap_bitext(pairs, None) == pairs and cap_bitext(pairs, 500) == pairs


def test_bitext_cap_is_the_same_for_every_seed_and_method(tiny_setup):
    configs = [ExperimentConfig.from_dict({**tiny_setup, "bitext_pairs": 5, "seed": seed, "methods": methods})
               for seed, methods in ((0, ["mse"]), (1, ["optical"]))]
    full = _bitext(ExperimentConfig.from_dict(tiny_setup), "de")
    capped = [_bitext(config, "de") for config in configs]
    assert len(full) > 5 and len(capped[0]) == 5
    assert capped[0] == capped[1] and set(capped[0]) <= set(full)


@pytest.fixture
def counted_teachers(monkeypatch):
    """Counts the teachers trained (the runner's train_teacher), with an empty in-process teacher memory."""
    forget_shared()
    trained: list[int] = []
    original = runner.train_teacher

    def counting(*args, **kwargs):
        trained.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "train_teacher", counting)
    yield trained
    forget_shared()


@pytest.mark.slow
def test_sweep_trains_one_teacher_resumes_when_killed_and_reports(stamps_setup, tmp_path, monkeypatch, counted_teachers,
                                                                  capsys):
    stamps_setup["methods"] = ["zero-shot", "mse"]
    (tmp_path / "base.json").write_text(json.dumps(stamps_setup))
    real_train_student = runner.train_student
    calls: list[int] = []

    def killed_on_the_second_student(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is stopped during the second point
        return real_train_student(*args, **kwargs)

    monkeypatch.setattr(runner, "train_student", killed_on_the_second_student)
    argv = ["sweep", "--config", str(tmp_path / "base.json"), "--grid", "bitext_pairs=4,all", "--sweep-id", "sw"]
    assert main(argv) == 130  # what Ctrl-C returns
    sweep = Sweep.load("sw")
    (first, _, first_id), (second, _, second_id) = sweep.planned()
    assert first["values"] == {"bitext_pairs": 4} and first_id == "sw_bitext_pairs-4_s0"
    assert run_state(first_id) == "done" and run_state(second_id) == "failed"
    assert counted_teachers == [1]  # the second point reused the first one's teacher
    finished = json.loads((runs_dir() / first_id / "status.json").read_text())["finished"]

    monkeypatch.setattr(runner, "train_student", real_train_student)
    forget_shared()  # a new process: the teacher comes from cache/teachers
    assert main(["sweep", "--resume", "sw", "--grid", "ot.reg=1"]) == 2  # --resume keeps the sweep's grid
    assert main(["sweep", "--resume", "sw"]) == 0
    out = capsys.readouterr().out
    assert counted_teachers == [1]
    assert json.loads((runs_dir() / first_id / "status.json").read_text())["finished"] == finished  # not rerun
    keys = {json.loads((runs_dir() / rid / "status.json").read_text())["teacher"] for rid in (first_id, second_id)}
    assert len(keys) == 1 and (teachers_dir() / keys.pop() / "optical_model.json").is_file()
    assert "bitext_pairs=4" in out and "bitext_pairs=all" in out and "mean mR" in out

    frame = sweep_frame(sweep)
    assert set(frame["bitext_pairs"]) == {4, "all"} and set(frame["method"]) == {"zero-shot", "mse"}
    zero_shot = frame[(frame["method"] == "zero-shot") & (frame["figure"] == "mR de")]
    assert zero_shot["value"].nunique() == 1  # same teacher, so the zero-shot results are identical
    defined = frame.dropna(subset=["value"])  # high-minus-low is undefined here: de and fr are both high-resource
    assert set(frame[frame["value"].isna()]["figure"]) == {"high-minus-low"}
    assert (defined["lo"] <= defined["value"] + 1e-9).all() and (defined["value"] <= defined["hi"] + 1e-9).all()
    plans = frame[frame["figure"] == "plan best-match share"]  # the runs' plan diagnostics, per point and method
    assert len(plans) == 4 and ((plans["value"] > 0) & (plans["value"] <= 1)).all()
    assert set(frame["figure"]) >= {"plan entropy / uniform", "plan row error"}
    assert main(["report", "sw"]) == 0
    assert "bitext_pairs=4" in capsys.readouterr().out
    val = sweep_frame(sweep, split="val")  # the val split, where a point is chosen
    assert set(val["point"]) == set(frame["point"]) and not val["value"].equals(frame["value"])
    assert main(["report", "sw", "--split", "val"]) == 0
    assert "bitext_pairs=all" in capsys.readouterr().out

    # every run of the sweep on another dataset (here the stamps themselves, as a second evaluation), then per point
    assert main(["eval", "sw", "--dataset", "stamps", "--name", "again"]) == 0
    out = capsys.readouterr().out
    assert f"run 1/2: {first_id}" in out and f"run 2/2: {second_id}" in out and "bitext_pairs=all" in out
    again = sweep_frame(sweep, evaluation="again")
    assert set(again["point"]) == set(frame["point"])
    # the runs' own test split evaluated again: the same figures as the test frame
    pd.testing.assert_frame_equal(again.reset_index(drop=True), frame.reset_index(drop=True))
    assert main(["report", "sw", "--eval", "again"]) == 0 and "bitext_pairs=4" in capsys.readouterr().out
    assert sweep_frame(sweep, evaluation="missing").empty


@pytest.mark.slow
def test_torchrun_two_cpu_processes_run_a_sweep(tiny_setup, tmp_path):
    tiny_setup["methods"] = ["zero-shot", "mse"]
    (tmp_path / "base.json").write_text(json.dumps(tiny_setup))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29613",
            "-m", "optical", "sweep", "--config", str(tmp_path / "base.json"), "--grid", "bitext_pairs=4,all",
            "--device", "cpu"]
    refused = subprocess.run(base, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "--sweep-id" in refused.stderr
    done = subprocess.run([*base, "--sweep-id", "ddp"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = Sweep.load(tmp_path / "cache" / "sweeps" / "ddp")
    assert set(sweep.states().values()) == {"done"}
    assert done.stdout.count("sweep folder:") == 1 and done.stdout.count("bitext_pairs=all") == 1  # rank 0 reports
