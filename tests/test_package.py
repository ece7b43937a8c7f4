"""The package installs and runs outside the checkout: `pip install .` carries the code and its data files."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_installed_package_runs_outside_the_checkout(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(REPO)],
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    assert (target / "optical" / "encoders" / "configs" / "multilingual-e5-small.json").is_file()
    env = {k: v for k, v in os.environ.items() if k != "OPTICAL_CACHE"}
    env.update(PYTHONPATH=str(target), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    script = (
        "import optical, optical.store as p, optical.encoders as e; "
        "print(optical.__file__); print(p.cache_dir()); print(sorted(e.list_encoders()))"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, capture_output=True, text=True)
    module_file, cache, encoders = out.stdout.splitlines()
    assert module_file.startswith(str(target))
    assert cache == str(tmp_path / "xdg" / "optical")  # not inside site-packages
    assert "multilingual-e5-small" in encoders and "efficientnet-lite0" in encoders
    help_text = subprocess.run(
        [sys.executable, "-m", "optical", "--help"], check=True, cwd=tmp_path, env=env, capture_output=True, text=True
    ).stdout
    assert "prepare" in help_text and "report" in help_text


def test_checkout_uses_its_own_cache_folder(monkeypatch):
    from optical.store import cache_dir

    monkeypatch.delenv("OPTICAL_CACHE", raising=False)
    assert cache_dir() == REPO / "cache"
