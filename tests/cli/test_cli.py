"""The CLI's argument errors come at once: one line, exit status 2, before torch or transformers is imported."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# argv -> what its one-line error says
BAD = [
    (["run", "--run-id", "../x"], "error: run id '../x' is not allowed: use 1-100 letters"),
    (["run", "--languages", "de,xx"], "error: unknown language code 'xx'"),
    (["run", "--languages", " , "], "error: --languages is empty: give a comma-separated list"),
    (["run", "--methods", ""], "error: --methods is empty: give a comma-separated list"),
    (["run", "--methods", "mse,bogus"], "error: unknown methods ['bogus']; expected some of"),
    (["run", "--device", "foo"], "error: unknown device 'foo': expected auto, cpu, cuda or cuda:N"),
    (["run", "--epochs", "0"], "error: student.epochs must be an integer >= 1, got 0 (--epochs)"),
    (["run", "--teacher-epochs", "-2"], "error: teacher.epochs must be an integer >= 1, got -2 (--teacher-epochs)"),
    (["run", "--ot-reg", "0"], "error: ot.reg must be a number > 0, got 0.0 (--ot-reg)"),
    (["run", "--ot-layer", "0"], "error: --ot-layer must be -1 (the last layer's projected states) or >= 1"),
    (["run", "--seeds", "0,0"], "error: --seeds: expected distinct non-negative integers"),
    (["run", "--seed", "1", "--seeds", "0,1"], "error: --seed and --seeds exclude each other"),
    (["run", "--config", "/nonexistent/config.json"], "error: /nonexistent/config.json: config file not found"),
    (["run", "--resume", "r", "--epochs", "3"], "error: --resume continues the run with its own config.json; --epochs"),
    (["sweep", "--sweep-id", "../s", "--grid", "ot.reg=0.1"], "error: sweep id '../s' is not allowed"),
    (["sweep", "--grid", "ot.reg=0.1", "--languages", "zz9"], "error: unknown language code 'zz9'"),
    (["sweep", "--epochs", "1"], "error: give at least one --grid KEY=V1,V2,..."),
    (["sweep", "--grid", "ot.reg=0.1", "--seeds", "1,1"], "error: --seeds: expected distinct non-negative integers"),
    (["sweep", "--grid", "ot.reg=0.1", "--seeds", "-1"], "error: --seeds: expected distinct non-negative integers"),
    (["eval", "r", "--dataset", "stamps", "--name", "../e"], "error: evaluation name '../e' is not allowed"),
    (["eval", "r", "--dataset", "stamps", "--languages", ","], "error: --languages is empty"),
    (["eval", "r", "--dataset", "stamps", "--languages", "english"], "error: unknown language code 'english'"),
    (["eval", "r", "--dataset", "stamps", "--device", "cuda:x"], "error: unknown device 'cuda:x'"),
    (["eval", "", "--dataset", "stamps"], "error: an empty run, study or sweep id was given"),
    (["eval", "nosuchrun", "--dataset", "stamps"], "error: no run 'nosuchrun'"),
    (["report", ""], "error: an empty run, study or sweep id was given"),
    (["report", "r", "--eval", "a/b"], "error: evaluation name 'a/b' is not allowed"),
]

PROBE = """
import contextlib, io, json, sys
from optical.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    results.append([rc, err.getvalue()])
print(json.dumps({"results": results, "torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules}))
"""


def test_bad_arguments_fail_at_once_in_one_line_without_torch(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPTICAL_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps([argv for argv, _ in BAD])], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    for (argv, message), (rc, err) in zip(BAD, out["results"], strict=True):
        assert rc == 2, (argv, err)
        assert err.startswith(message) and err.count("\n") == 1, (argv, err)
    assert not out["torch"] and not out["transformers"]  # every error above came before the model stack loaded
    assert not (tmp_path / "cache" / "runs").exists() and not (tmp_path / "cache" / "sweeps").exists()


@pytest.mark.parametrize("argv", [["run", "--run-id", "../x"], ["eval", "r", "--dataset", "stamps", "--device", "x"]])
def test_python_m_optical_reports_a_bad_argument_with_status_2(tmp_path, argv):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPTICAL_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "optical", *argv], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


def test_a_folder_that_is_not_a_run_is_called_that(tmp_path, monkeypatch, capsys):
    from optical.cli import main

    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "notes").mkdir()
    for argv in (["report", str(tmp_path / "notes")], ["eval", str(tmp_path / "notes"), "--dataset", "stamps"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / 'notes'}: not a run folder (it has no status.json or config.json)" in err
        assert "incomplete" not in err
