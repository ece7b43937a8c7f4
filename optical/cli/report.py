"""``python -m optical report RUN [--json]``: the tables of a run (final or partial)."""

from __future__ import annotations

import argparse
import json

from optical.experiment import format_report
from optical.runs import RunFormatError, load_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print the headline table of a run")
    p.add_argument("run", help="run id (under cache/runs) or folder")
    p.add_argument("--json", action="store_true", help="print metrics.json as is")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    run = load_run(args.run)
    status, state, failure = run.status, run.state, run.failure()
    if not (run.path / "metrics.json").is_file():
        raise RunFormatError(f"run {run.run_id} has no results: {failure or f'{state}, no method finished yet'}")
    metrics = run.metrics()  # checked as the app checks it
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    if state != "done":
        print(f"run {run.run_id} is {failure or state}")
        print(f"methods finished so far: {', '.join(status.get('methods_done', [])) or 'none'}\n")
    print(format_report(metrics))
    return 0
