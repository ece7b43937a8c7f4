"""Run folders are safe to use from the CLI: ids stay inside cache/runs, one process per run (an OS lock), the
device is checked first, a failure is recorded, --resume changes nothing but the device, report checks formats."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from optical.cli import main
from optical.config import ExperimentConfig
from optical.store import create_run, load_run, lock_run

REPO = Path(__file__).resolve().parents[2]
# Holds the lock of run folder argv[1] after making it a running run, like a run in progress, until killed.
HOLDER = """
import sys, time
from pathlib import Path
from optical.config import ExperimentConfig
from optical.store import create_run, lock_run
with lock_run(Path(sys.argv[1])):
    create_run(ExperimentConfig(device="cpu").to_dict(), Path(sys.argv[1]).name)
    print("held", flush=True)
    time.sleep(300)
"""


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_experiment(monkeypatch) -> list:
    """Replace the experiment the CLI starts by one that records its (config, run) and returns no metrics."""
    calls = []
    monkeypatch.setattr("optical.experiment._launch.run_experiment",
                        lambda config, run, progress=None: calls.append((config, run)) or {})
    return calls


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("run_id", ["../evil", "../../x", "/abs/path", ".", "..", "a/b", "", ".hidden", "x" * 101])
def test_unsafe_run_ids_fail_before_anything_is_written(tmp_path, cache, fake_experiment, capsys, run_id):
    if run_id.startswith("/"):
        run_id = str(tmp_path / "abs" / "path")
    before = tree(tmp_path)
    assert main(["run", "--run-id", run_id, "--device", "cpu"]) == 2
    assert "is not allowed: use 1-100 letters, digits" in capsys.readouterr().err
    assert tree(tmp_path) - before <= {"cache"}  # at most the (empty) cache root
    assert not fake_experiment


def test_resume_writes_only_inside_the_runs_folder(tmp_path, cache, fake_experiment, capsys):
    outside = create_run(ExperimentConfig(device="cpu").to_dict(), "r1", root=tmp_path / "elsewhere")
    (cache / "runs").mkdir(parents=True)
    (cache / "runs" / "linked").symlink_to(outside.path)
    status = (outside.path / "status.json").read_bytes()
    for ref in (str(outside.path), "linked"):
        assert main(["run", "--resume", ref, "--device", "cpu"]) == 2
        assert "only runs inside" in capsys.readouterr().err
    assert (outside.path / "status.json").read_bytes() == status
    assert sorted(p.name for p in outside.path.iterdir()) == ["config.json", "status.json"]  # no lock file either
    assert not fake_experiment
    assert main(["report", str(outside.path)]) == 2  # reading it is fine: it says it has no results yet
    assert "has no results: running" in capsys.readouterr().err


def test_a_locked_run_is_refused_naming_its_pid_and_a_killed_holder_does_not_block_resume(
    cache, fake_experiment, capsys
):
    folder = cache / "runs" / "busy"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        status = (folder / "status.json").read_bytes()
        for argv in (["run", "--run-id", "busy", "--device", "cpu"], ["run", "--resume", "busy"]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"in use by pid {holder.pid} on " in err and "another --run-id" in err
        assert (folder / "status.json").read_bytes() == status  # the holder's run was left alone
        assert not fake_experiment
    finally:
        holder.send_signal(signal.SIGKILL)
        assert holder.wait() == -signal.SIGKILL
    assert load_run("busy").state == "interrupted"
    assert main(["run", "--resume", "busy"]) == 0  # the kernel released the killed holder's lock
    assert len(fake_experiment) == 1
    assert load_run("busy").status["pid"] == os.getpid()
    with lock_run(folder):  # and ours was released when the command ended
        pass


@pytest.mark.parametrize(
    ("device", "message"),
    [("tpu", "unknown device 'tpu': expected auto, cpu, cuda or cuda:N"), ("cuda:x", "unknown device 'cuda:x'"),
     ("cuda", "no CUDA device"), ("cuda:1", "no CUDA device")],
)
def test_bad_devices_fail_before_a_run_folder_exists(cache, fake_experiment, monkeypatch, capsys, device, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["run", "--run-id", "dev", "--device", device]) == 2
    assert message in capsys.readouterr().err
    assert not (cache / "runs").exists() and not fake_experiment


def test_a_failure_once_the_folder_exists_marks_the_run_failed(cache, monkeypatch, capsys):
    def no_process_group(device):
        raise RuntimeError("the process group did not start")

    monkeypatch.setattr("optical.distill.distributed.init_distributed", no_process_group)
    with pytest.raises(RuntimeError):
        main(["run", "--run-id", "dies", "--device", "cpu"])
    status = load_run("dies").status
    assert status["state"] == "failed" and status["error"] == "RuntimeError: the process group did not start"
    assert "no_process_group" in status["traceback"]
    capsys.readouterr()
    assert main(["report", "dies"]) == 2
    err = capsys.readouterr().err
    assert "failed: RuntimeError: the process group did not start (File " in err and "no_process_group" in err


def test_resume_may_change_the_device_and_nothing_else(cache, fake_experiment, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = create_run(ExperimentConfig(device="cuda").to_dict(), "gpu-run")
    assert main(["run", "--resume", "gpu-run"]) == 2  # its own device is absent here: say so before anything
    assert "no CUDA device" in capsys.readouterr().err
    for flags in (["--epochs", "3"], ["--languages", "de"], ["--preset", "quick"], ["--run-id", "other"]):
        assert main(["run", "--resume", "gpu-run", "--device", "cpu", *flags]) == 2
        assert f"{flags[0]} cannot change it (only --device can)" in capsys.readouterr().err
    assert not fake_experiment
    assert main(["run", "--resume", "gpu-run", "--device", "cpu"]) == 0
    ((config, _),) = fake_experiment
    assert config.device == "cpu" and config.languages == ExperimentConfig().languages
    assert json.loads((run.path / "config.json").read_text())["device"] == "cuda"  # the config stays
    assert load_run("gpu-run").status["device"] == "cpu"


@pytest.mark.parametrize("flag", ["--languages", "--methods"])
@pytest.mark.parametrize("value", ["", ",", " , "])
def test_empty_lists_are_errors(cache, fake_experiment, capsys, flag, value):
    assert main(["run", flag, value, "--device", "cpu"]) == 2
    assert f"{flag} is empty: give a comma-separated list" in capsys.readouterr().err
    assert not (cache / "runs").exists() and not fake_experiment


def test_report_checks_the_metrics_format_and_explains_unfinished_runs(cache, capsys):
    run = create_run(ExperimentConfig(device="cpu").to_dict(), "r")
    good = {"format": 1, "languages": ["en"], "methods": ["zero-shot"], "resource": {}, "results": {"zero-shot": {}}}
    for metrics, message in (
        ({**good, "format": 2}, "format 2, expected 1; missing keys: none"),
        ({"schema": "other"}, "format None, expected 1; missing keys: languages, methods, resource, results"),
        ([1, 2], "format None, expected 1; missing keys: languages, methods, resource, results"),
    ):
        (run.path / "metrics.json").write_text(json.dumps(metrics))
        for argv in (["report", "r"], ["report", "r", "--json"]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert "metrics.json: not a metrics file this version reads (" in err and message in err
    (run.path / "metrics.json").unlink()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.set_status(pid=dead.pid)
    assert main(["report", "r"]) == 2
    err = capsys.readouterr().err
    assert f"has no results: interrupted: its process (pid {dead.pid} on" in err
    assert "continue it with python -m optical run --resume r" in err
