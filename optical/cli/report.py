"""``python -m optical report RUN [--json]``: the tables of a run (final or partial), summarised from its ranks."""

from __future__ import annotations

import argparse
import json

from optical.experiment import format_report, has_ranks, summarize_evaluation, summarize_ranks
from optical.runs import RunFormatError, load_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print the headline table of a run, recomputed from its per-query ranks")
    p.add_argument("run", help="run id (under cache/runs) or folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (metrics.json's content)")
    p.add_argument("--eval", metavar="NAME", help="the run's evaluation NAME (RUN/evals/NAME, made by `optical eval`)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    run = load_run(args.run)
    status, state, failure = run.status, run.state, run.failure()
    # the summary is a pure function of ranks/ (no model is loaded); runs from before ranks/ keep their metrics.json
    if args.eval:
        metrics = summarize_evaluation(run, args.eval)
    elif has_ranks(run):
        metrics = summarize_ranks(run)
    elif (run.path / "metrics.json").is_file():
        metrics = run.metrics()  # checked as the app checks it
    else:
        raise RunFormatError(f"run {run.run_id} has no results: {failure or f'{state}, no method finished yet'}")
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    if args.eval:
        print(f"run {run.run_id} evaluated on {metrics['dataset']} (evaluation {args.eval!r})\n")
    elif state != "done":
        print(f"run {run.run_id} is {failure or state}")
        print(f"methods finished so far: {', '.join(status.get('methods_done', [])) or 'none'}\n")
    print(format_report(metrics))
    return 0
