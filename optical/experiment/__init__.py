"""The experiment's pipeline: data assembly, teachers, translate-test, ranking, transport-plan sampling, the run
itself (``run_experiment``), launching it (``launch_run``, ``run_study``, sweeps) and evaluating a finished run on
other datasets (``evaluate_run``). It means torch: the torch-free parts live in ``optical.config`` (settings),
``optical.store`` (folders) and ``optical.results`` (ranks, summaries and tables on disk)."""

from optical.experiment._apertium import apertium_available, apertium_pair, apertium_translate
from optical.experiment._data import cap_bitext, load_experiment_data
from optical.experiment._evaluate_run import evaluate_run
from optical.experiment._launch import launch_run, run_study
from optical.experiment._model_check import check_models
from optical.experiment._pairs import english_pairs
from optical.experiment._ranking import encode_shared, shared_frozen_layers
from optical.experiment._runner import run_experiment
from optical.experiment._sweeps import design_sweep, run_sweep, start_sweep, sweep_run_config
from optical.experiment._teacher_data import teacher_pairs
from optical.experiment._teachers import forget_shared, teacher_key
from optical.experiment._transport_plans import (
    diagnostic_pairs,
    encode_pairs,
    plan_loss,
    plan_statistics,
    transport_sample,
    transport_statistics,
)

__all__ = [
    "apertium_available",
    "apertium_pair",
    "apertium_translate",
    "cap_bitext",
    "check_models",
    "design_sweep",
    "diagnostic_pairs",
    "encode_pairs",
    "encode_shared",
    "english_pairs",
    "evaluate_run",
    "forget_shared",
    "launch_run",
    "load_experiment_data",
    "plan_loss",
    "plan_statistics",
    "run_experiment",
    "run_study",
    "run_sweep",
    "shared_frozen_layers",
    "start_sweep",
    "sweep_run_config",
    "teacher_key",
    "teacher_pairs",
    "transport_sample",
    "transport_statistics",
]
