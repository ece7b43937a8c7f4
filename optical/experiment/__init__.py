"""The experiment end to end: config, data, teacher, students, evaluation, run folder.

Names are imported on first use (PEP 562), so the report tables (pandas only) load without torch: the app's
Home renders them in well under a second instead of waiting for torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from optical.lazy import lazy_exports

_WHERE = {
    "FULL_LANGUAGES": "_config",
    "FULL_TEACHER_SOURCES": "_config",
    "QUICK_LANGUAGES": "_config",
    "QUICK_TEACHER_SOURCES": "_config",
    "EVAL_PRECISIONS": "_methods",
    "ExperimentConfig": "_config",
    "MT_SYSTEMS": "_methods",
    "apertium_available": "_apertium",
    "apertium_pair": "_apertium",
    "apertium_translate": "_apertium",
    "evaluate_run": "_evaluate",
    "evaluation_dir": "_evals",
    "evaluation_gallery": "_evals",
    "evaluation_metrics": "_evals",
    "evaluation_settings": "_evals",
    "has_evaluation": "_evals",
    "list_evaluations": "_evals",
    "summarize_evaluation": "_evals",
    "summarize_evaluations": "_evals",
    "preset": "_config",
    "ENCODER_KINDS": "_methods",
    "METHODS": "_methods",
    "Method": "_methods",
    "comparisons": "_methods",
    "register_method": "_methods",
    "english_pairs": "_pairs",
    "plan_loss": "_plans",
    "transport_sample": "_plans",
    "has_ranks": "_ranks",
    "load_ranks": "_ranks",
    "summarize_ranks": "_ranks",
    "summarize_runs": "_ranks",
    "write_groups": "_ranks",
    "write_ranks": "_ranks",
    "encode_shared": "_scoring",
    "shared_frozen_layers": "_scoring",
    "load_experiment_data": "_data",
    "teacher_pairs": "_teacher_data",
    "summarize": "_metrics",
    "summarize_study": "_metrics",
    "verdict": "_metrics",
    "disparity_table": "_report",
    "format_report": "_report",
    "english_note": "_report",
    "english_term": "_methods",
    "headline_table": "_report",
    "interval_note": "_report",
    "recall_table": "_report",
    "paired_table": "_report",
    "plan_lines": "_report",
    "plan_note": "_report",
    "plan_table": "_report",
    "diagnostic_pairs": "_plans",
    "encode_pairs": "_plans",
    "plan_statistics": "_plans",
    "transport_statistics": "_plans",
    "disparity_difference_table": "_report",
    "run_experiment": "_runner",
    "check_models": "_models",
    "cap_bitext": "_data",
    "format_point": "_grid",
    "grid_points": "_grid",
    "parse_grid": "_grid",
    "DIFFERENCE_FIGURES": "_sweep",
    "GOAL_EN_DROP": "_sweep",
    "GOAL_STD_CUT": "_sweep",
    "SWEEP_FIGURES": "_sweep",
    "Sweep": "_sweep",
    "create_sweep": "_sweep",
    "format_sweep_report": "_sweep",
    "goal_table": "_sweep",
    "is_sweep": "_sweep",
    "load_sweep": "_sweep",
    "plan_sweep": "_sweep",
    "run_state": "_sweep",
    "run_sweep": "_sweep",
    "sweep_frame": "_sweep",
    "forget_shared": "_teachers",
    "teacher_key": "_teachers",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from optical.experiment._data import load_experiment_data
    from optical.experiment._teacher_data import teacher_pairs
    from optical.experiment._scoring import encode_shared, shared_frozen_layers
    from optical.experiment._apertium import apertium_available, apertium_pair, apertium_translate
    from optical.experiment._config import (
        FULL_LANGUAGES,
        FULL_TEACHER_SOURCES,
        QUICK_LANGUAGES,
        QUICK_TEACHER_SOURCES,
        ExperimentConfig,
        preset,
    )
    from optical.experiment._evaluate import evaluate_run
    from optical.experiment._evals import (
        evaluation_dir,
        evaluation_gallery,
        evaluation_metrics,
        evaluation_settings,
        has_evaluation,
        list_evaluations,
        summarize_evaluation,
        summarize_evaluations,
    )
    from optical.experiment._methods import (
        ENCODER_KINDS,
        EVAL_PRECISIONS,
        METHODS,
        MT_SYSTEMS,
        Method,
        comparisons,
        english_term,
        register_method,
    )
    from optical.experiment._pairs import english_pairs
    from optical.experiment._plans import (
        diagnostic_pairs,
        encode_pairs,
        plan_loss,
        plan_statistics,
        transport_sample,
        transport_statistics,
    )
    from optical.experiment._ranks import (
        has_ranks,
        load_ranks,
        summarize_ranks,
        summarize_runs,
        write_groups,
        write_ranks,
    )
    from optical.experiment._metrics import summarize, summarize_study, verdict
    from optical.experiment._report import (
        disparity_difference_table,
        disparity_table,
        english_note,
        format_report,
        headline_table,
        interval_note,
        paired_table,
        plan_lines,
        plan_note,
        plan_table,
        recall_table,
    )
    from optical.experiment._runner import run_experiment
    from optical.experiment._models import check_models
    from optical.experiment._data import cap_bitext
    from optical.experiment._grid import format_point, grid_points, parse_grid
    from optical.experiment._sweep import (
        DIFFERENCE_FIGURES,
        GOAL_EN_DROP,
        GOAL_STD_CUT,
        SWEEP_FIGURES,
        Sweep,
        create_sweep,
        format_sweep_report,
        goal_table,
        is_sweep,
        load_sweep,
        plan_sweep,
        run_state,
        run_sweep,
        sweep_frame,
    )
    from optical.experiment._teachers import forget_shared, teacher_key


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
