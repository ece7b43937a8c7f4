"""Where optical keeps its files: ``cache/`` beside the package, or ``$OPTICAL_CACHE``."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The cache root (created on demand). ``OPTICAL_CACHE`` overrides the default ``<repo>/cache``."""
    root = Path(os.environ.get("OPTICAL_CACHE", REPO_ROOT / "cache"))
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
