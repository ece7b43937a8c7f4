"""``python -m optical report RUN [RUN ...] [--json]``: the tables of a run (final or partial) or of a study (several
runs differing by seed, or a study folder), summarised from their ranks."""

from __future__ import annotations

import argparse
import json

from optical.cli._checks import check_refs
from optical.cli._main import Subparsers
from optical.runs import Run, RunFormatError, check_run_id
from optical.studies import resolve_runs


def register(sub: Subparsers) -> None:
    p = sub.add_parser("report", help="print the headline table of a run, a study (several runs) or a sweep (a "
                                      "table per point), recomputed from per-query ranks")
    p.add_argument("run", nargs="+", help="run, study or sweep id (under cache/runs, cache/sweeps) or folder; several "
                                          "runs: one study (mean over seeds, intervals resampling seeds and image "
                                          "groups)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (metrics.json's content)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="val: the comparable val sets (what settings are chosen on; runs made before this option "
                        "have no val ranks); default: test")
    p.add_argument("--eval", metavar="NAME", help="the evaluation NAME (RUN/evals/NAME, made by `optical eval`) of the "
                                                 "run, of every run of a study (over seeds) or of a sweep (per point)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    check_refs(args.run, "run, study or sweep id")
    if args.eval is not None:
        check_run_id(args.eval, what="evaluation name", under="RUN/evals")
    from optical.experiment import (  # pandas: imported when the command runs, not when the CLI parses
        format_report,
        format_sweep_report,
        has_ranks,
        is_sweep,
        load_sweep,
        summarize_runs,
        sweep_frame,
    )

    if len(args.run) == 1 and is_sweep(args.run[0]):
        sweep = load_sweep(args.run[0])
        frame = sweep_frame(sweep, split=args.split, evaluation=args.eval)
        print(frame.to_json(orient="records", indent=2) if args.json else format_sweep_report(sweep, frame))
        return 0
    runs, notes = resolve_runs(args.run)
    if len(runs) == 1 and len(args.run) == 1 and not notes:
        return _report_run(runs[0], args.json, args.eval, args.split)
    if args.eval:
        return _report_evaluations(runs, args.eval, args.json)
    with_ranks = [run for run in runs if has_ranks(run, args.split)]
    if not with_ranks:
        raise RunFormatError(f"{', '.join(args.run)}: no run has results yet")
    metrics = summarize_runs(with_ranks, split=args.split)
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    for note in notes:
        print(note)
    for run in with_ranks:
        if run.state != "done":
            print(f"run {run.run_id} is {run.failure() or run.state} (its finished methods are included)")
    print(format_report(metrics))
    return 0


def _report_evaluations(runs: list[Run], name: str, as_json: bool) -> int:
    """Evaluation ``name`` of a study's runs, summarised together; every run must have it."""
    from optical.experiment import format_report, has_evaluation, summarize_evaluations

    missing = [run.run_id for run in runs if not has_evaluation(run, name)]
    if missing:
        raise RunFormatError(f"runs {', '.join(missing)} have no evaluation {name!r}: make it with `python -m optical "
                             f"eval RUN --dataset DATASET --name {name}` for each")
    metrics = summarize_evaluations(runs, name)
    if as_json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    print(f"runs {', '.join(run.run_id for run in runs)} evaluated on {metrics['dataset']} (evaluation {name!r}, "
          f"{len(runs)} seeds)\n")
    print(format_report(metrics))
    return 0


def _report_run(run: Run, as_json: bool, evaluation: str | None = None, split: str = "test") -> int:
    from optical.experiment import format_report, has_ranks, summarize_evaluation, summarize_runs

    status, state, failure = run.status, run.state, run.failure()
    # the summary is a pure function of ranks/ (no model is loaded); runs from before ranks/ keep their metrics.json
    if evaluation:
        metrics = summarize_evaluation(run, evaluation)
    elif has_ranks(run, split):
        metrics = summarize_runs([run], split=split)
    elif split == "val":
        raise RunFormatError(f"run {run.run_id} has no val ranks (made before `report --split val` existed, or "
                             "not finished)")
    elif (run.path / "metrics.json").is_file():
        metrics = run.metrics()  # checked as the app checks it
    else:
        raise RunFormatError(f"run {run.run_id} has no results: {failure or f'{state}, no method finished yet'}")
    if as_json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    if evaluation:
        print(f"run {run.run_id} evaluated on {metrics['dataset']} (evaluation {evaluation!r})\n")
    elif split == "val":
        print(f"run {run.run_id}, comparable val sets (choose settings here; report test)\n")
    elif state != "done":
        print(f"run {run.run_id} is {failure or state}")
        print(f"methods finished so far: {', '.join(status.get('methods_done', [])) or 'none'}\n")
    print(format_report(metrics))
    return 0
