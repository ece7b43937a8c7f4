"""Evaluations of a finished run on other datasets, on disk: ``RUN/evals/<name>/`` (torch-free, like the report).

An evaluation folder holds ``eval.json`` (what was evaluated: dataset, root, images, languages, methods, the
languages the students were distilled on, the device and precision it was encoded in), ``ranks/<method>.csv`` +
``ranks/groups.json`` in the format of the run's ``ranks/test/`` (``load_ranks_folder``), ``metrics.json``
(``RankSource(evaluation=name).summarize`` plus timing) and ``gallery.json``/``gallery.npy`` for Image Search.
``optical.experiment.evaluate_run`` writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from optical.store import Run, RunFormatError

EVALS = "evals"


def evaluation_dir(run: Run, name: str) -> Path:
    return run.path / EVALS / name


def list_evaluations(run: Run) -> list[str]:
    """Names of the run's finished evaluations (folders with ``metrics.json``), sorted."""
    folder = run.path / EVALS
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and (p / "metrics.json").is_file())


def evaluation_settings(run: Run, name: str, folder: Path | None = None) -> dict:
    """``eval.json`` of evaluation ``name`` (in ``folder``, default its folder)."""
    return _read(run, name, "eval.json", folder)


def evaluation_metrics(run: Run, name: str) -> dict:
    """``metrics.json`` of evaluation ``name`` (what the app draws)."""
    return _read(run, name, "metrics.json")


def evaluation_gallery(run: Run, name: str) -> dict:
    """``gallery.json`` of evaluation ``name`` (its ``gallery.npy`` lies beside it)."""
    return _read(run, name, "gallery.json")


def _read(run: Run, name: str, file_name: str, folder: Path | None = None) -> dict:
    """A JSON file of an evaluation; RunFormatError naming the run's evaluations when it is missing."""
    file = (folder or evaluation_dir(run, name)) / file_name
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        found = ", ".join(list_evaluations(run)) or "none"
        raise RunFormatError(
            f"run {run.run_id} has no evaluation {name!r} (evaluations: {found}); make it with "
            f"`python -m optical eval {run.run_id} --dataset DATASET --name {name}`"
        ) from None
    except json.JSONDecodeError as err:
        raise RunFormatError(f"{file}:{err.lineno}: not JSON ({err.msg})") from None
