"""``python -m optical report RUN [--json]``: the tables of a run (final or partial), summarised from its ranks."""

from __future__ import annotations

import argparse
import json

from optical.experiment import (
    format_report,
    format_sweep_report,
    has_ranks,
    is_sweep,
    load_sweep,
    summarize_ranks,
    sweep_frame,
)
from optical.runs import RunFormatError, load_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print the headline table of a run (or a table per point of a sweep), "
                                      "recomputed from the per-query ranks")
    p.add_argument("run", help="run id (under cache/runs), sweep id (under cache/sweeps) or either's folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (metrics.json's content)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    if is_sweep(args.run):
        sweep = load_sweep(args.run)
        frame = sweep_frame(sweep)
        print(frame.to_json(orient="records", indent=2) if args.json else format_sweep_report(sweep, frame))
        return 0
    run = load_run(args.run)
    status, state, failure = run.status, run.state, run.failure()
    # the summary is a pure function of ranks/ (no model is loaded); runs from before ranks/ keep their metrics.json
    if has_ranks(run):
        metrics = summarize_ranks(run)
    elif (run.path / "metrics.json").is_file():
        metrics = run.metrics()  # checked as the app checks it
    else:
        raise RunFormatError(f"run {run.run_id} has no results: {failure or f'{state}, no method finished yet'}")
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    if state != "done":
        print(f"run {run.run_id} is {failure or state}")
        print(f"methods finished so far: {', '.join(status.get('methods_done', [])) or 'none'}\n")
    print(format_report(metrics))
    return 0
