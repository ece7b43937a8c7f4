"""The teacher of a run for the app's Home: what it is, and its English recall on every dataset the run was
evaluated on (its own test split and each ``RUN/evals/<name>/``). Torch-free: read from the run folder alone."""

from __future__ import annotations

import pandas as pd

from optical.results import evaluation_metrics, list_evaluations
from optical.store import Run, RunFormatError

CLIP_PREFIX = "clip:"  # config ``teacher_model``: a pretrained CLIPModel used as is
TEACHER_METHOD = "zero-shot"  # the method that is the teacher applied as is
RECALL_COLUMNS = ("dataset", "English mR [lo, hi]", "languages")


def describe_teacher(run: Run) -> dict[str, str]:
    """Label -> value of the run's teacher: kind, towers, training data, trained layers, its key in
    ``cache/teachers`` and the epoch its English validation chose (``teacher/training.json``); the students' own
    encoder when they have one (``student_encoder``)."""
    config, status = run.config, run.status
    pretrained = str(config.get("teacher_model") or "")
    students = f"students {_layers(config.get('student_train_layers'))}"
    own = {"student encoder": f"{config['student_encoder']} + a new projection"} if config.get("student_encoder") else {}
    if pretrained.startswith(CLIP_PREFIX):
        return {
            "teacher": f"pretrained CLIP {pretrained.removeprefix(CLIP_PREFIX)}, used as is (frozen, not trained)",
            **own,
            "trained layers": students,
            "teacher key": str(status.get("teacher") or "not recorded"),
        }
    return {
        **own,
        "teacher": "dual encoder trained on English captions (image tower frozen)",
        "image encoder": str(config.get("image_encoder", "efficientnet-lite0")),
        "text encoder": str(config.get("text_encoder", "multilingual-e5-small")),
        "training data": ", ".join(config.get("teacher_sources") or ["dataset"]),
        "trained layers": f"teacher {_layers(config.get('teacher_train_layers'))}, {students}",
        "teacher key": str(status.get("teacher") or "not recorded"),
        "best epoch": _best_epoch(run.teacher_training()),
    }


def teacher_recall(run: Run) -> pd.DataFrame:
    """One row per evaluated dataset (the run's test split first, then each evaluation by name): ``dataset``,
    the teacher's (``zero-shot``) English mR with its 95% CI as ``"mR [lo, hi]"``, and the dataset's languages.

    The cell says why when there is no figure (no English captions, no zero-shot method, an unreadable
    evaluation); the test split's metrics.json must read (``Run.metrics``), as for the headline table.
    """
    rows = [_row(f"test split ({run.config.get('dataset', 'stamps')})", run.metrics())]
    for name in list_evaluations(run):
        try:
            metrics = evaluation_metrics(run, name)
        except RunFormatError as err:
            rows.append({"dataset": name, RECALL_COLUMNS[1]: f"unreadable: {err}", "languages": ""})
            continue
        rows.append(_row(f"{name} ({metrics.get('dataset', '?')})", metrics))
    return pd.DataFrame(rows, columns=list(RECALL_COLUMNS))


def _row(dataset: str, metrics: dict) -> dict:
    """The table row of one metrics.json (``RankSource.summarize`` output)."""
    english = (metrics.get("results", {}).get(TEACHER_METHOD) or {}).get("en")
    if TEACHER_METHOD not in metrics.get("methods", []):
        cell = "not evaluated (no zero-shot method)"
    elif english is None:
        cell = "no English captions"
    else:
        lo, hi = english["ci"]["mR"]
        cell = f"{english['metrics']['mR']:.1f} [{lo:.1f}, {hi:.1f}]"
    return {"dataset": dataset, RECALL_COLUMNS[1]: cell, "languages": ", ".join(metrics.get("languages", []))}


def _layers(train_layers: int | None) -> str:
    if train_layers is None:
        return "not recorded"
    if train_layers < 0:
        return "all layers"
    return "heads only" if train_layers == 0 else f"top {train_layers} layers + heads"


def _best_epoch(training: dict | None) -> str:
    if training is None:
        return "not recorded"
    score = training.get("val_mR")
    val = f", English val mR {score:.1f}" if score is not None else ", no validation"
    return f"{training.get('best_epoch')} of {training.get('epochs_run')} run{val}"
