"""Evaluations of a finished run on other datasets, on disk: ``RUN/evals/<name>/`` (torch-free, like the report).

An evaluation folder holds ``eval.json`` (what was evaluated: dataset, root, images, languages, methods, the
languages the students were distilled on, the device and precision it was encoded in), ``ranks/<method>.csv`` +
``ranks/groups.json`` in the format of the run's ``ranks/test/`` (``optical.experiment._ranks``), ``metrics.json``
(``summarize_evaluation`` plus timing) and ``gallery.json``/``gallery.npy`` for Image Search.
``optical.experiment.evaluate_run`` writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from optical.experiment._metrics import summarize_study
from optical.experiment._ranks import load_ranks_folder
from optical.experiment._methods import english_term
from optical.runs import Run, RunFormatError

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


def has_evaluation(run: Run, name: str) -> bool:
    """Whether the run has a finished evaluation ``name``."""
    return (evaluation_dir(run, name) / "metrics.json").is_file()


def load_evaluation_ranks(run: Run, name: str, folder: Path | None = None) -> tuple[dict, dict]:
    """``(ranks, groups)`` of evaluation ``name`` (as ``load_ranks`` for a run's test split), its methods in
    ``eval.json``'s order."""
    folder = folder or evaluation_dir(run, name)
    return load_ranks_folder(folder / "ranks", evaluation_settings(run, name, folder)["methods"])


def summarize_evaluation(run: Run, name: str, n_boot: int | None = None, folder: Path | None = None) -> dict:
    """``metrics.json``'s body (without timing) of evaluation ``name``, from its ranks files alone (as
    ``summarize_ranks`` for the test split): CIs, disparity, paired differences, plus ``eval``, ``dataset``,
    ``distilled`` (the languages the students were distilled on) and ``precision`` (fp32 or bf16 encoding).
    ``folder``: where the evaluation lies (default ``evaluation_dir``; ``evaluate_run`` passes the temp folder it
    is writing)."""
    return summarize_evaluations([run], name, n_boot, folder)


def summarize_evaluations(runs: list[Run], name: str, n_boot: int | None = None, folder: Path | None = None) -> dict:
    """``summarize_evaluation`` of a study: evaluation ``name`` of several runs that differ by seed (the same
    dataset and languages), intervals resampling the runs, then the dataset's image groups (``summarize_study``).
    ``n_boot`` and the bootstrap seed are the first run's settings; ``folder`` only with one run."""
    if not runs or (folder is not None and len(runs) > 1):
        raise ValueError("summarize_evaluations needs runs, and a folder only with one run")
    config = runs[0].config
    settings = [evaluation_settings(run, name, folder) for run in runs]
    for run, other in zip(runs[1:], settings[1:]):
        if (other["dataset"], other["languages"]) != (settings[0]["dataset"], settings[0]["languages"]):
            raise RunFormatError(
                f"evaluation {name!r} of run {run.run_id} ({other['dataset']}: {', '.join(other['languages'])}) is "
                f"not that of {runs[0].run_id} ({settings[0]['dataset']}: {', '.join(settings[0]['languages'])}): a "
                "study's evaluations must be of one dataset and language list"
            )
    precisions = sorted({s.get("precision", "fp32") for s in settings})
    if len(precisions) > 1:
        raise RunFormatError(f"evaluations {name!r} of {', '.join(r.run_id for r in runs)} were encoded in "
                             f"{' and '.join(precisions)}: evaluate them again with one --precision")
    studies = [load_evaluation_ranks(run, name, folder) for run in runs]
    n_boot = config.get("bootstrap", 1000) if n_boot is None else n_boot
    try:
        body = summarize_study(studies, n_boot=n_boot, seed=config.get("seed", 0))
    except ValueError as err:
        raise RunFormatError(f"evaluations {name!r} of {', '.join(r.run_id for r in runs)}: {err}") from None
    body.update(
        {
            "format": 1,
            "eval": name,
            "dataset": settings[0]["dataset"],
            "distilled": settings[0]["distilled"],
            "precision": precisions[0],
            "complete": all(list(ranks) == s["methods"] for (ranks, _), s in zip(studies, settings)),
            **({"english_term": term} if (term := english_term(config)) else {}),
        }
    )
    return body
