"""Where a run's ranks are read and summarised: one of its splits (``ranks/<split>/``) or one of its evaluations
(``evals/<name>/ranks/``), behind one ``RankSource`` that the report, eval and the sweep tables share. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from optical.config import english_term
from optical.results._evaluations import evaluation_dir, evaluation_settings
from optical.results._metrics import Groups, Ranks, summarize_seeds
from optical.results._rank_files import load_ranks_folder, ranks_dir, ranks_written
from optical.results._run_status import run_plan_diagnostics, students
from optical.store import Run, RunFormatError

SUMMARY_SPLITS = ("test", "val")  # the splits a summary is made of (test adds test-full and task2 where present)


@dataclass(frozen=True)
class RankSource:
    """The ranks of a run's ``split`` (``test``, ``val``, ``test-full``, ``task2``), or of its evaluation
    ``evaluation`` (``optical eval``; ``folder``: where that evaluation lies when it is not yet in place, for one
    run: ``evaluate_run`` summarises the folder it is writing)."""

    split: str = "test"
    evaluation: str | None = None
    folder: Path | None = None

    def has(self, run: Run) -> bool:
        """Whether ``run`` has ranks here: a ranks file of one of its methods, or a finished evaluation."""
        if self.evaluation is not None:
            return (self._evaluation_dir(run) / "metrics.json").is_file()
        return any((ranks_dir(run, self.split) / f"{m}.csv").is_file() for m in run.config.get("methods", []))

    def load(self, run: Run) -> tuple[Ranks, Groups]:
        """``(ranks[method][lang] = (t2i, i2t), groups[lang])`` of ``run``, its methods in the config's order (an
        evaluation's: in ``eval.json``'s); RunFormatError when it has none or one is damaged."""
        if self.evaluation is not None:
            folder = self._evaluation_dir(run)
            methods = evaluation_settings(run, self.evaluation, folder)["methods"]
            return load_ranks_folder(folder / "ranks", methods)
        return load_ranks_folder(ranks_dir(run, self.split), run.config.get("methods", []))

    def summarize(self, runs: list[Run], n_boot: int | None = None) -> dict:
        """The ``metrics.json`` body (without timing) of ``runs`` (one run, or a study: runs that differ by training
        seed) from these ranks alone: no model, no torch. Per language and method the mean over the runs, intervals
        resampling the runs, then the image groups (``summarize_seeds``); ``n_boot`` and the bootstrap seed are the
        first run's settings. RunFormatError when the runs cannot be summarised together.

        A split (``test`` or ``val``): ``results``, ``disparity``, ``paired``... of its comparable sets, for
        ``test`` also ``results_full`` and ``disparity_full`` (each language's full set, ``test-full``) and
        ``task2`` where every run has them; ``students`` and ``plan_diagnostics`` from the runs' status. An
        evaluation: the same figures plus ``eval``, ``dataset``, ``distilled`` (the languages the students were
        distilled on) and ``precision`` (fp32 or bf16 encoding).
        """
        if not runs or (self.folder is not None and len(runs) > 1):
            raise ValueError("a summary needs runs, and an evaluation's folder only one")
        n_boot = runs[0].config.get("bootstrap", 1000) if n_boot is None else n_boot
        if self.evaluation is not None:
            return self._evaluation_summary(runs, n_boot)
        return self._split_summary(runs, n_boot)

    def _evaluation_dir(self, run: Run) -> Path:
        return self.folder or evaluation_dir(run, self.evaluation)

    def _split_summary(self, runs: list[Run], n_boot: int) -> dict:
        if self.split not in SUMMARY_SPLITS:
            raise ValueError(f"split must be one of {SUMMARY_SPLITS}, got {self.split!r}")
        names = ", ".join(run.run_id for run in runs)

        def study(split: str) -> dict:
            loaded = [RankSource(split).load(run) for run in runs]
            return _summarize(loaded, runs, n_boot, f"runs {names} cannot be summarised together ({split})", (
                "a study's runs must be one experiment (same dataset, languages and split) run with different --seed"))

        body = study(self.split)  # intervals resample the runs, then the image groups
        body.update({
            "format": 1,
            "dataset": runs[0].config.get("dataset"),
            "complete": all(ranks_written(run, self.split, m) for run in runs for m in run.config.get("methods", [])),
            "runs": [run.run_id for run in runs],
            "students": students(runs),
            **({"plan_diagnostics": plans} if (plans := run_plan_diagnostics(runs)) else {}),
            **_english_term(runs),
        })
        if self.split == "val":
            body["split"] = "val"
            return body
        if all(RankSource("test-full").has(run) for run in runs):
            full = study("test-full")
            body["results_full"], body["disparity_full"] = full["results"], full["disparity"]
        if all(RankSource("task2").has(run) for run in runs):  # Multi30k's 5-caption variant (en, de): no disparity
            body["task2"] = study("task2")["results"]
        return body

    def _evaluation_summary(self, runs: list[Run], n_boot: int) -> dict:
        name = self.evaluation
        settings = [evaluation_settings(run, name, self.folder) for run in runs]
        for run, other in zip(runs[1:], settings[1:]):
            if (other["dataset"], other["languages"]) != (settings[0]["dataset"], settings[0]["languages"]):
                raise RunFormatError(
                    f"evaluation {name!r} of run {run.run_id} ({other['dataset']}: {', '.join(other['languages'])}) "
                    f"is not that of {runs[0].run_id} ({settings[0]['dataset']}: "
                    f"{', '.join(settings[0]['languages'])}): a study's evaluations must be of one dataset and language "
                    "list"
                )
        precisions = sorted({s.get("precision", "fp32") for s in settings})
        names = ", ".join(run.run_id for run in runs)
        if len(precisions) > 1:
            raise RunFormatError(f"evaluations {name!r} of {names} were encoded in {' and '.join(precisions)}: "
                                 "evaluate them again with one --precision")
        loaded = [self.load(run) for run in runs]
        body = _summarize(loaded, runs, n_boot, f"evaluations {name!r} of {names}")
        body.update({
            "format": 1,
            "eval": name,
            "dataset": settings[0]["dataset"],
            "distilled": settings[0]["distilled"],
            "precision": precisions[0],
            "complete": all(list(ranks) == s["methods"] for (ranks, _), s in zip(loaded, settings)),
            **_english_term(runs),
        })
        return body


def _summarize(loaded: list[tuple[Ranks, Groups]], runs: list[Run], n_boot: int, what: str, hint: str = "") -> dict:
    """``summarize_seeds`` of the runs' ``loaded`` ranks, seeded by the first run; RunFormatError saying ``what``
    cannot be summarised (and ``hint``) when they are no study."""
    try:
        return summarize_seeds(loaded, n_boot=n_boot, seed=runs[0].config.get("seed", 0))
    except ValueError as err:
        raise RunFormatError(f"{what}: {err}" + (f"; {hint}" if hint else "")) from None


def _english_term(runs: list[Run]) -> dict:
    """``{"english_term": ...}`` when the runs' students also read English (``english_term``), else nothing."""
    term = english_term(runs[0].config)
    return {"english_term": term} if term else {}
