"""The experiment end to end: config, data, teacher, students, evaluation, run folder."""

from optical.experiment._config import (
    FULL_LANGUAGES,
    METHODS,
    QUICK_LANGUAGES,
    TRAINED_METHODS,
    ExperimentConfig,
    preset,
)
from optical.experiment._metrics import summarize, verdict
from optical.experiment._report import disparity_table, format_report, headline_table, recall_table
from optical.experiment._runner import run_experiment

__all__ = [
    "FULL_LANGUAGES",
    "METHODS",
    "QUICK_LANGUAGES",
    "TRAINED_METHODS",
    "ExperimentConfig",
    "disparity_table",
    "format_report",
    "headline_table",
    "recall_table",
    "preset",
    "run_experiment",
    "summarize",
    "verdict",
]
