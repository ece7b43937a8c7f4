"""``python -m optical report RUN [RUN ...] [--json]``: the tables of a run (final or partial) or of a study (several
runs differing by seed, or a study folder), summarised from their ranks."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from optical.cli._checks import check_refs
from optical.cli._main import Subparsers
from optical.store import Run, RunFormatError, Sweep, check_run_id, resolve_runs

if TYPE_CHECKING:
    from optical.results import RankSource


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
    from optical.results import RankSource, format_report, format_sweep_report, sweep_frame  # pandas: when it runs

    source = RankSource(args.split, args.eval)
    if len(args.run) == 1 and Sweep.exists(args.run[0]):
        sweep = Sweep.load(args.run[0])
        frame = sweep_frame(sweep, split=args.split, evaluation=args.eval)
        print(frame.to_json(orient="records", indent=2) if args.json else format_sweep_report(sweep, frame))
        return 0
    runs, notes = resolve_runs(args.run)
    if len(runs) == 1 and len(args.run) == 1 and not notes:
        return _report_run(runs[0], source, args.json)
    if args.eval:
        return _report_evaluations(runs, source, args.json)
    with_ranks = [run for run in runs if source.has(run)]
    if not with_ranks:
        raise RunFormatError(f"{', '.join(args.run)}: no run has results yet")
    metrics = source.summarize(with_ranks)
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


def _report_evaluations(runs: list[Run], source: RankSource, as_json: bool) -> int:
    """The evaluation of ``source`` of a study's runs, summarised together; every run must have it."""
    from optical.results import format_report

    name = source.evaluation
    missing = [run.run_id for run in runs if not source.has(run)]
    if missing:
        raise RunFormatError(f"runs {', '.join(missing)} have no evaluation {name!r}: make it with `python -m optical "
                             f"eval RUN --dataset DATASET --name {name}` for each")
    metrics = source.summarize(runs)
    if as_json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    print(f"runs {', '.join(run.run_id for run in runs)} evaluated on {metrics['dataset']} (evaluation {name!r}, "
          f"{len(runs)} seeds)\n")
    print(format_report(metrics))
    return 0


def _report_run(run: Run, source: RankSource, as_json: bool) -> int:
    from optical.results import format_report

    status, state, failure = run.status, run.state, run.failure()
    # the summary is a pure function of ranks/ (no model is loaded); runs from before ranks/ keep their metrics.json
    if source.evaluation or source.has(run):
        metrics = source.summarize([run])
    elif source.split == "val":
        raise RunFormatError(f"run {run.run_id} has no val ranks (made before `report --split val` existed, or "
                             "not finished)")
    elif (run.path / "metrics.json").is_file():
        metrics = run.metrics()  # checked as the app checks it
    else:
        raise RunFormatError(f"run {run.run_id} has no results: {failure or f'{state}, no method finished yet'}")
    if as_json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    if source.evaluation:
        print(f"run {run.run_id} evaluated on {metrics['dataset']} (evaluation {source.evaluation!r})\n")
    elif source.split == "val":
        print(f"run {run.run_id}, comparable val sets (choose settings here; report test)\n")
    elif state != "done":
        print(f"run {run.run_id} is {failure or state}")
        print(f"methods finished so far: {', '.join(status.get('methods_done', [])) or 'none'}\n")
    print(format_report(metrics))
    return 0
