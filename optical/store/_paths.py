"""Where optical keeps its files: ``$OPTICAL_CACHE``; else ``cache/`` of the checkout the package runs from
(a clone, or ``pip install -e .``); else, for a regular ``pip install .``, ``$XDG_CACHE_HOME/optical``
(``~/.cache/optical``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    """``<checkout>/cache`` when the package sits in a source checkout, else the user's cache folder."""
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "optical" / "__init__.py").is_file():
        return REPO_ROOT / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "optical"


def cache_dir() -> Path:
    """The cache root (created on demand). ``OPTICAL_CACHE`` overrides `default_cache_dir`."""
    root = Path(os.environ.get("OPTICAL_CACHE") or default_cache_dir())
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    """Converted weights: ``cache/models/<name>/`` (save_pretrained folders)."""
    return cache_dir() / "models"


def features_dir() -> Path:
    """Cached image features keyed by content hash."""
    return cache_dir() / "features"


def runs_dir() -> Path:
    """Experiment runs: ``cache/runs/<run-id>/``."""
    return cache_dir() / "runs"


def teachers_dir() -> Path:
    """Content-addressed teachers shared by runs: ``cache/teachers/<hash>/`` (DualEncoder folders)."""
    return cache_dir() / "teachers"


def sweeps_dir() -> Path:
    """Sweeps: ``cache/sweeps/<sweep-id>/sweep.json``, listing their runs (which live in ``cache/runs``)."""
    return cache_dir() / "sweeps"
