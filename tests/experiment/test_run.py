"""The experiment end to end on the tiny captions dataset and tiny models: outputs, report, kill and resume."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from optical.cli import main
from optical.config import ExperimentConfig
from optical.experiment import run_experiment
from optical.results import RankSource
from optical.store import create_run, gallery_images, load_run, teachers_dir
from tests.fakes import saved_tiny_translator, tiny_towers

REPO = Path(__file__).resolve().parents[2]


def test_full_run_writes_a_complete_run_folder(tiny_setup, capsys):
    config = ExperimentConfig.from_dict(tiny_setup)
    run = create_run(config.to_dict(), "tiny")
    seen = {}  # what metrics.json held as each method started: the app shows results as each method finishes

    def progress(fraction, message):
        if message.startswith("method "):
            seen[message[7:]] = run.metrics()["methods"] if (run.path / "metrics.json").is_file() else None

    metrics = run_experiment(config, run, progress=progress)
    assert seen == {"zero-shot": None, "mse": ["zero-shot"], "optical": ["zero-shot", "mse"],
                    "optical+mse": ["zero-shot", "mse", "optical"]}
    assert load_run("tiny").state == "done"
    assert metrics["methods"] == ["zero-shot", "mse", "optical", "optical+mse"]
    assert metrics["languages"][0] == "en" and set(metrics["languages"]) == {"en", "de", "fr"}
    for method in metrics["methods"]:
        for lang in metrics["languages"]:
            result = metrics["results"][method][lang]
            assert 0 <= result["metrics"]["mR"] <= 100 and len(result["ci"]["mR"]) == 2
    assert metrics["complete"] is True
    for method in ("mse", "optical", "optical+mse"):
        assert (run.student_dir(method) / "optical_model.json").is_file()
        assert not (run.student_dir(method) / "text").exists()  # only the delta on the run's text encoder
    assert not (run.teacher_dir / "text").exists()
    # optical+mse's first step: its terms' gradient norms and their ratio, printed once and kept in status.json
    students = run.status["students"]
    first = students["optical+mse"]["first_step"]
    assert first["weighting"] == "scale-free" and first["optical_grad_norm"] > 0 and first["mse_grad_norm"] > 0
    assert first["weighted_grad_ratio"] == pytest.approx(first["grad_ratio"] * first["mse"] / first["optical"])
    assert "first_step" not in students["mse"] and "first_step" not in students["optical"]
    printed = [line for line in capsys.readouterr().err.splitlines() if "first step" in line]
    assert len(printed) == 1 and printed[0].startswith("optical+mse: first step: |grad OT| / |grad MSE| =")
    training = run.teacher_training()  # the epoch the teacher's English val chose, linked from cache/teachers/<key>/
    assert 1 <= training["best_epoch"] <= training["epochs_run"] <= 2 and 0 <= training["val_mR"] <= 100
    assert json.loads((teachers_dir() / run.status["teacher"] / "training.json").read_text()) == training
    assert not (run.path / "work").exists()  # checkpoints only --resume needs are pruned when the run is done
    assert not (run.path / "ranks.csv").exists()
    lines = (run.path / "ranks" / "test" / "optical.csv").read_text().splitlines()
    assert lines[0] == "language,direction,query,group,rank" and len(lines) > 10
    # metrics.json is a pure function of the ranks files
    assert {k: v for k, v in metrics.items() if k != "timing"} == RankSource().summarize([run])
    ranks, groups = RankSource("test").load(run)
    assert list(ranks) == metrics["methods"] and set(groups) == {"en", "de", "fr"}
    gallery, group_paths = run.gallery(), json.loads((run.path / "ranks" / "test" / "groups.json").read_text())
    images = gallery_images(gallery, run.path / "gallery.json")
    for lang in ("en", "de"):
        t2i_groups, i2t_groups = groups[lang]
        assert len(t2i_groups) == len(ranks["optical"][lang][0]) and len(i2t_groups) == len(ranks["optical"][lang][1])
        for group, image in zip(t2i_groups, gallery["captions"][lang]["image"]):  # a caption's group holds its image
            assert str(images[image]) in group_paths[group]
        assert sorted(set(i2t_groups)) == sorted(set(t2i_groups))  # i2t queries: the captioned images
    plans = run.plans()
    assert {p["method"] for p in plans} == {"zero-shot", "mse", "optical", "optical+mse"}
    sample = plans[0]
    assert len(sample["plan"]) == len(sample["foreign_tokens"]) and len(sample["plan"][0]) == len(sample["english_tokens"])
    gallery = run.gallery()
    assert set(gallery["captions"]) == {"en", "de", "fr"}

    # the plans' diagnostics, per trained student and for the teacher as is (zero-shot), on a fixed sample of val pairs
    diagnostics = run.status["plan_diagnostics"]
    assert metrics["plan_diagnostics"] == {**diagnostics, "runs": 1}
    assert diagnostics["split"] == "val" and set(diagnostics["languages"]) == {"de", "fr"} and diagnostics["pairs"] > 0
    assert diagnostics["settings"] == {"reg": 0.05, "reg_scale": "absolute", "n_iter": 60, "tol": 1e-4,
                                       "tokens": "all", "cost": "cosine"}
    assert list(diagnostics["methods"]) == ["zero-shot", "mse", "optical", "optical+mse"]
    for figures in diagnostics["methods"].values():
        assert figures["pairs"] == diagnostics["pairs"] and 1 <= figures["iterations"] <= 60
        assert 0 < figures["relative_entropy"] <= 1 and 0 < figures["best_match_share"] <= 1
        assert 0 < figures["marked_mass"] < 1 and figures["epsilon"] == pytest.approx(0.05)
        # below the tolerance at stop, or stopped by the cap with the error above it (reported, not hidden)
        assert figures["row_error"] < 1.01e-4 if figures["converged"] else figures["iterations"] == 60
    assert main(["report", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "mR (mean of R@1/5/10" in out and "optical" in out
    # metrics.json and the report carry optical+mse's first-step gradient ratio, unweighted -> weighted
    ratios = metrics["students"]["optical+mse"]
    assert ratios["weighting"] == ["scale-free"] and ratios["grad_ratio"] == [first["grad_ratio"]]
    assert "grad_ratio" not in metrics["students"]["mse"]
    assert "First training step: |grad OT| / |grad MSE|" in out
    assert f"  optical+mse: {first['grad_ratio']:.3g} -> {first['weighted_grad_ratio']:.3g} (scale-free)" in out
    assert "Transport plans: how much alignment they carry" in out and "best-match share" in out
    assert f"{diagnostics['pairs']} val pairs; reg 0.05 (absolute), n_iter cap 60, tol 0.0001, tokens all" in out
    # the default: every student also read the English side (the English term), and the report says so
    assert metrics["english_term"] == "all" and "students also read English (English term)" in out
    assert main(["report", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == metrics["results"]
    # the comparable val sets have ranks too: settings are chosen on them (report --split val)
    val_ranks, val_groups = RankSource("val").load(run)
    assert list(val_ranks) == metrics["methods"] and set(val_groups) == {"en", "de", "fr"}
    assert main(["report", "tiny", "--split", "val", "--json"]) == 0
    val = json.loads(capsys.readouterr().out)
    assert val["split"] == "val" and set(val["results"]["optical"]) == {"en", "de", "fr"}
    assert val["results"] != metrics["results"]
    # report summarises the ranks without torch or any model
    code = "import sys; from optical.cli import main; assert main(['report', 'tiny']) == 0; assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mR (mean of R@1/5/10" in done.stdout

    # a run folder from before ranks/ (a ranks.csv, no ranks/) still reports its metrics.json
    old = shutil.copytree(run.path, run.path.parent / "old-format", ignore=shutil.ignore_patterns("teacher", "students", "work"))
    shutil.rmtree(old / "ranks")
    (old / "ranks.csv").write_text("method,language,direction,query,rank\n")
    assert main(["report", str(old)]) == 0
    assert "mR (mean of R@1/5/10" in capsys.readouterr().out

    # a second run over the same folder reuses the trained models and gives the same numbers
    again = run_experiment(config, create_run(config.to_dict(), "tiny"), progress=lambda f, m: None)
    assert again["results"] == metrics["results"]


def test_a_run_with_ot_layer_aligns_that_layers_states(tiny_setup, tmp_path, capsys):
    from optical import explore
    from optical.distill import transformer_layers

    tiny_setup["methods"] = ["zero-shot", "optical"]
    tiny_setup["student"]["epochs"] = 1
    (tmp_path / "config.json").write_text(json.dumps(tiny_setup))
    assert main(["run", "--config", str(tmp_path / "config.json"), "--ot-layer", "1", "--run-id", "layer1"]) == 0
    assert "mR (mean of R@1/5/10" in capsys.readouterr().out
    run = load_run("layer1")
    assert run.state == "done" and run.config["ot"]["layer"] == 1
    models = explore.load_models(run)
    sample = next(p for p in run.plans() if p["method"] == "optical")
    student, teacher = models.students["optical"], models.teacher
    recomputed = explore.plan_for_pair(student, teacher, sample["foreign"], sample["english"], run.config)
    np.testing.assert_allclose(recomputed["cost"], sample["cost"], atol=1e-5)  # the plans compare layer 1's states
    last = explore.plan_for_pair(student, teacher, sample["foreign"], sample["english"],
                                 {**run.config, "ot": {**run.config["ot"], "layer": -1}})
    assert not np.allclose(last["cost"], sample["cost"], atol=1e-3)
    # OPTICAL on layer 1's states trains layer 1 only: no gradient reaches layer 2 or the projection
    trained, unchanged = (transformer_layers(m.text.model) for m in (student, teacher))
    assert torch.equal(student.proj.weight, teacher.proj.weight)
    assert all(torch.equal(a, b) for a, b in zip(trained[1].parameters(), unchanged[1].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(trained[0].parameters(), unchanged[0].parameters()))
    # the same teacher and bitext in this process with the last layer: the teacher targets the students share are
    # those of that layer (not layer 1's, kept in memory), so the projection trains
    assert main(["run", "--config", str(tmp_path / "config.json"), "--run-id", "last"]) == 0
    last_student = explore.load_models(load_run("last")).students["optical"]
    assert not torch.equal(last_student.proj.weight, teacher.proj.weight)


def test_failed_run_is_marked_failed(tiny_setup, monkeypatch):
    tiny_setup["text_encoder"] = "/nonexistent/model"
    config = ExperimentConfig.from_dict(tiny_setup)
    run = create_run(config.to_dict(), "broken")
    with pytest.raises(Exception):
        run_experiment(config, run, progress=lambda f, m: None)
    status = load_run("broken").status
    assert status["state"] == "failed" and status["error"]
    assert main(["report", "broken"]) == 2  # no metrics: a clear one-line error, not a traceback


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint(tiny_setup, tmp_path):
    tiny_setup["methods"] = ["mse"]
    tiny_setup["teacher"]["epochs"] = 1
    tiny_setup["student"].update(epochs=12, patience=12)  # no early stop: the resumed run must train to the end
    (tmp_path / "config.json").write_text(json.dumps(tiny_setup))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "optical", "run", "--config", str(tmp_path / "config.json"), "--run-id", "killme"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = tmp_path / "cache" / "runs" / "killme" / "work" / "mse" / "checkpoint" / "trainer_state.json"
    deadline = time.time() + 240
    while not state_file.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = json.loads(state_file.read_text())["epoch"]
    assert 1 <= killed_at < 12
    assert load_run(tmp_path / "cache" / "runs" / "killme").state == "interrupted"  # never marked done

    done = subprocess.run(
        [sys.executable, "-m", "optical", "run", "--resume", "killme"], env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"mse epoch {killed_at + 1}/12" in done.stderr
    assert "mse epoch 1/12" not in done.stderr
    assert "mse epoch 12/12" in done.stderr
    assert load_run("killme").state == "done"
    assert not state_file.parent.exists()  # pruned once done


def test_translate_test_with_a_tiny_marian_model(tiny_setup, tmp_path):
    from optical.experiment._translate import load_translator, translate

    for lang in ("de", "fr"):
        saved_tiny_translator(tmp_path / f"mt-{lang}-en")
    model, tokenizer = load_translator(str(tmp_path / "mt-{lang}-en"), "de", torch.device("cpu"))
    out = translate(["ein roter apfel", "der hund"], model, tokenizer, max_new_tokens=5)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)

    tiny_setup.update(methods=["zero-shot", "translate-test"], mt_model=str(tmp_path / "mt-{lang}-en"))
    config = ExperimentConfig.from_dict(tiny_setup)
    metrics = run_experiment(config, create_run(config.to_dict(), "mt"), progress=lambda f, m: None)
    assert set(metrics["results"]["translate-test"]) == {"en", "de", "fr"}
    # English captions are not translated: translate-test equals the teacher there
    assert metrics["results"]["translate-test"]["en"] == metrics["results"]["zero-shot"]["en"]


def test_translate_test_needs_a_model_and_a_clear_error_when_missing(tiny_setup):
    from optical.errors import InputError, MissingAssetError
    from optical.experiment._translate import load_translator

    tiny_setup["methods"] = ["translate-test"]
    with pytest.raises(InputError, match="--mt-model"):
        ExperimentConfig.from_dict(tiny_setup)
    with pytest.raises(MissingAssetError, match="not available offline"):
        load_translator("/nonexistent/opus-mt-{lang}-en", "de", torch.device("cpu"))


def test_multi30k_run_task1_and_task2(multi30k, tmp_path, monkeypatch):
    root, images = multi30k
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    config = ExperimentConfig(
        dataset="multi30k", root=str(root), images=str(images), languages=["de", "fr", "cs"],
        methods=["zero-shot", "optical"], **tiny_towers(tmp_path), embed_dim=8,
        bootstrap=20, plan_samples=1, teacher_train_layers=-1, student_train_layers=-1,
    )
    config.teacher.epochs = config.student.epochs = 1
    metrics = run_experiment(config, create_run(config.to_dict(), "m30k"), progress=lambda f, m: None)
    assert set(metrics["results"]["optical"]) == {"en", "de", "fr", "cs"}
    assert metrics["results"]["optical"]["de"]["n_t2i"] == 4  # test_2016_flickr: 4 images, 1 caption each
    assert set(metrics["task2"]["optical"]) == {"en", "de"}
    assert metrics["task2"]["optical"]["de"]["n_t2i"] == 15  # test_2016 task 2: 3 images x 5 captions


def test_bad_command_lines_fail_before_any_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    assert main(["run", "--languages", "de,xx-QQ", "--run-id", "bad"]) == 2
    assert "unknown language code 'xx-QQ'" in capsys.readouterr().err
    assert main(["run", "--dataset", "multi30k", "--root", str(tmp_path)]) == 2
    assert "--images" in capsys.readouterr().err
    assert main(["run", "--methods", "zero-shot,bogus"]) == 2
    assert "unknown methods ['bogus']" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"languages": ["de"],\n "epochs": 3}')
    assert main(["run", "--config", str(tmp_path / "bad.json")]) == 2
    assert "unknown config keys ['epochs']" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "runs").exists()


@pytest.mark.slow
def test_torchrun_two_cpu_processes_run_the_experiment(tiny_setup, tmp_path):
    tiny_setup["methods"] = ["zero-shot", "optical"]
    (tmp_path / "config.json").write_text(json.dumps(tiny_setup))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29611",
            "-m", "optical", "run", "--config", str(tmp_path / "config.json"), "--device", "cpu"]
    refused = subprocess.run(base, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "--run-id" in refused.stderr
    done = subprocess.run([*base, "--run-id", "ddp"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = load_run(tmp_path / "cache" / "runs" / "ddp")
    assert run.state == "done"
    assert set(run.metrics()["results"]["optical"]) == {"en", "de", "fr"}
    assert done.stdout.count("run folder:") == 1  # only the main process reports
