"""scripts/test.sh (the README's test command, which .ci/run calls) in a sandbox: fake .venv, apt-get and tools."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOGGER = '#!/bin/bash\necho "{name} $*" >> "$SANDBOX_LOG"\n'
PYTHON = LOGGER.format(name="python") + 'if [ "$2" = pytest ]; then exit "${PYTEST_EXIT:-0}"; fi\n'


@pytest.fixture
def sandbox(tmp_path) -> Path:
    """A repo copy with only the script, a fake .venv (python logs and exits $PYTEST_EXIT for pytest), and a bin
    folder on PATH with the basic tools plus logging chromium, gcc, apertium and apt-get stand-ins, and the
    Apertium mode files of the pairs the tests use."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "test.sh", tmp_path / "scripts" / "test.sh")
    bins = {tmp_path / ".venv" / "bin" / "python": PYTHON, tmp_path / ".venv" / "bin" / "pip": LOGGER.format(name="pip")}
    bins.update({tmp_path / "bin" / name: LOGGER.format(name=name) for name in ("chromium", "gcc", "apertium", "apt-get")})
    for path, text in bins.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    for tool in ("dirname", "cat"):
        (tmp_path / "bin" / tool).symlink_to(shutil.which(tool))
    (tmp_path / "apt-lists").mkdir()
    for mode in ("spa-eng", "eu-en"):
        (tmp_path / "modes").mkdir(exist_ok=True)
        (tmp_path / "modes" / f"{mode}.mode").write_text("")
    return tmp_path


def run_script(sandbox: Path, *args: str, uid: int = 0, pytest_exit: int = 0) -> tuple[subprocess.CompletedProcess, list]:
    (sandbox / "bin" / "id").write_text(f"#!/bin/bash\necho {uid}\n")
    (sandbox / "bin" / "id").chmod(0o755)
    env = {
        "PATH": str(sandbox / "bin"), "SANDBOX_LOG": str(sandbox / "log"), "PYTEST_EXIT": str(pytest_exit),
        "APT_LISTS": str(sandbox / "apt-lists"), "HOME": str(sandbox),
        "APERTIUM_MODES": str(sandbox / "modes"),
    }
    done = subprocess.run(["/bin/bash", "scripts/test.sh", *args], cwd=sandbox, env=env, capture_output=True, text=True)
    log = (sandbox / "log").read_text().splitlines() if (sandbox / "log").exists() else []
    (sandbox / "log").unlink(missing_ok=True)
    return done, log


def test_installs_prepares_then_runs_pytest(sandbox):
    done, log = run_script(sandbox, "-k", "x")
    assert done.returncode == 0, done.stderr
    assert log == [
        "apt-get update -qq",  # no package lists yet
        "pip install -q -r requirements-dev.lock -e .",
        "python -m optical prepare",
        "python -m pytest -q -k x",
    ]
    (sandbox / "apt-lists" / "deb.debian.org_dists_main_binary-amd64_Packages").write_text("")
    assert run_script(sandbox)[1][0] == "pip install -q -r requirements-dev.lock -e ."


def test_latest_is_a_canary_in_its_own_venv_with_the_newest_releases_and_the_fast_tests(sandbox):
    (sandbox / "apt-lists" / "deb.debian.org_dists_main_binary-amd64_Packages").write_text("")
    shutil.copytree(sandbox / ".venv", sandbox / ".venv-latest")
    done, log = run_script(sandbox, "--latest", "-x")
    assert done.returncode == 0, done.stderr
    assert log[0] == "pip install -q --upgrade --upgrade-strategy eager -r requirements-dev.txt -e ."
    assert log[-2:] == ["python -m optical prepare",
                        "python -m pytest -q -m not slow and not browser and not lock -x"]
    assert "canary: " in done.stdout


@pytest.mark.parametrize(("pytest_exit", "script_exit"), [(5, 1), (1, 1), (2, 2)])
def test_pytest_failures_and_no_tests_collected_fail(sandbox, pytest_exit, script_exit):
    done, _ = run_script(sandbox, pytest_exit=pytest_exit)
    assert done.returncode == script_exit
    assert ("collected no tests" in done.stderr) == (pytest_exit == 5)


def test_missing_chromium_and_gcc_are_installed_as_root_or_named(sandbox):
    (sandbox / "bin" / "chromium").unlink()
    (sandbox / "bin" / "gcc").unlink()
    done, log = run_script(sandbox)
    assert done.returncode == 0 and "apt-get install -y -qq --no-install-recommends chromium gcc" in log
    done, log = run_script(sandbox, uid=1000)
    assert done.returncode == 1 and log == []
    assert "the tests need Debian's chromium gcc: run 'sudo apt-get install -y chromium gcc'" in done.stderr


def test_missing_apertium_pairs_are_installed_as_root(sandbox):
    (sandbox / "bin" / "apertium").unlink()
    (sandbox / "modes" / "eu-en.mode").unlink()
    done, log = run_script(sandbox)
    assert done.returncode == 0 and "apt-get install -y -qq --no-install-recommends apertium apertium-eu-en" in log
    (sandbox / "modes" / "spa-eng.mode").unlink()
    done, _ = run_script(sandbox, uid=1000)
    assert "run 'sudo apt-get install -y apertium apertium-eng-spa apertium-eu-en'" in done.stderr


def test_the_readme_and_ci_run_the_script():
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "\nscripts/test.sh\n" in readme and "python -m pytest -q\n```" not in readme
    assert os.access(REPO / "scripts" / "test.sh", os.X_OK)
