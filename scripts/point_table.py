"""One line per sweep point and split (val, test, or an evaluation): the methods' mean mR over the foreign
languages and English mR, the paired differences between methods (over the point's seeds, then test image groups:
``report RUN RUN ... --json``) and OPTICAL's plans. What the README's sweep tables are printed from.

    python scripts/point_table.py fair-eps fair-sharp [--splits val,test] [--eval art4apps]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.results import RankSource  # noqa: E402
from optical.store import Sweep, load_run, run_state  # noqa: E402

PAIRS = ("optical - mse", "optical+mse - mse", "token-nn - optical", "optical - zero-shot")
FIGURES = ("mean", "high_minus_low", "std")


def _ci(d: dict) -> str:
    return f"{d['diff']:+.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}]"


def point_lines(sweep: Sweep, source: RankSource, label: str) -> list[str]:
    """The lines of ``sweep``'s points on ``source`` (runs without it are left out)."""
    lines = []
    for point in sweep.data["points"]:
        runs = [load_run(run_id) for run_id in point["runs"].values() if run_state(run_id) == "done"]
        runs = [run for run in runs if source.has(run)]
        if not runs:
            continue
        summary = source.summarize(runs)
        methods = summary["methods"]
        means = " / ".join(f"{summary['disparity_ci'][m]['mean']['value']:.1f}" for m in methods)
        english = " / ".join(f"{summary['results'][m]['en']['metrics']['mR']:.1f}"
                             for m in methods if "en" in summary["results"][m])
        diffs = []
        for pair in PAIRS:
            if pair in summary["disparity_difference"]:
                figures = summary["disparity_difference"][pair]["diff"]
                diffs.append(f"{pair}: " + ", ".join(f"{f} {_ci(figures[f])}" for f in FIGURES
                                                    if figures.get(f, {}).get("diff") is not None))
        recorded = [r.status["plan_diagnostics"]["methods"]["optical"] for r in runs
                    if "optical" in ((r.status.get("plan_diagnostics") or {}).get("methods") or {})]
        mean = {key: sum(d[key] for d in recorded) / len(recorded)
                for key in ("best_match_share", "relative_entropy", "iterations", "row_error")} if recorded else {}
        plan = (f"optical plans on the runs' val pairs (mean over seeds): best-match {mean['best_match_share']:.3f}, "
                f"entropy/uniform {mean['relative_entropy']:.3f}, iterations {mean['iterations']:.0f}, "
                f"row error {mean['row_error']:.1e}" if mean else "no plan diagnostics")
        lines.append(f"{sweep.sweep_id} {point['name']} [{label}, {len(runs)} seeds] methods {', '.join(methods)}")
        lines.append(f"  mean mR {means}; English {english}")
        lines += [f"  {d}" for d in diffs]
        lines.append(f"  {plan}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="+")
    parser.add_argument("--splits", default="val,test")
    parser.add_argument("--eval", help="an evaluation name (optical eval) instead of the splits")
    args = parser.parse_args()
    sources = ([(RankSource(evaluation=args.eval), args.eval)] if args.eval else
               [(RankSource(split), split) for split in args.splits.split(",")])
    for ref in args.sweeps:
        for source, label in sources:
            print("\n".join(point_lines(Sweep.load(ref), source, label)))


if __name__ == "__main__":
    main()
