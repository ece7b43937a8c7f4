"""``python -m optical report RUN [--json]``: the tables of a run (final or partial)."""

from __future__ import annotations

import argparse
import json

from optical.experiment import format_report
from optical.runs import load_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print the headline table of a run")
    p.add_argument("run", help="run id (under cache/runs) or folder")
    p.add_argument("--json", action="store_true", help="print metrics.json as is")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    run = load_run(args.run)
    status, state = run.status, run.state
    metrics = run.metrics()
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    if state != "done":
        print(f"run {run.run_id} is {state}" + (f": {status.get('error')}" if status.get("error") else ""))
        print(f"methods finished so far: {', '.join(status.get('methods_done', [])) or 'none'}\n")
    print(format_report(metrics))
    return 0
