"""The experiment end to end: config, data, teacher, students, evaluation, run folder.

Names are imported on first use (PEP 562), so the report tables (pandas only) load without torch: the app's
Home renders them in well under a second instead of waiting for torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_WHERE = {
    "FULL_LANGUAGES": "_config",
    "FULL_TEACHER_SOURCES": "_config",
    "METHODS": "_config",
    "QUICK_LANGUAGES": "_config",
    "QUICK_TEACHER_SOURCES": "_config",
    "TRAINED_METHODS": "_config",
    "ExperimentConfig": "_config",
    "preset": "_config",
    "summarize": "_metrics",
    "verdict": "_metrics",
    "disparity_table": "_report",
    "format_report": "_report",
    "headline_table": "_report",
    "recall_table": "_report",
    "paired_table": "_report",
    "disparity_difference_table": "_report",
    "run_experiment": "_runner",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from optical.experiment._config import (
        FULL_LANGUAGES,
        FULL_TEACHER_SOURCES,
        METHODS,
        QUICK_LANGUAGES,
        QUICK_TEACHER_SOURCES,
        TRAINED_METHODS,
        ExperimentConfig,
        preset,
    )
    from optical.experiment._metrics import summarize, verdict
    from optical.experiment._report import (
        disparity_difference_table,
        disparity_table,
        format_report,
        headline_table,
        paired_table,
        recall_table,
    )
    from optical.experiment._runner import run_experiment


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'optical.experiment' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"optical.experiment.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
