"""The question asked in both settings: a pooled-teacher study and a late-teacher study (same data, same seeds)
side by side, from their ranks alone. Per setting: the teacher's English mR, OPTICAL - MSE and OPTICAL - zero-shot
on the mean over foreign languages, the high- and low-resource means, their gap and the std across languages
(paired over seeds, then test image groups); across settings: late - pooled for each method's English and mean mR
(paired by seed index on the same test images). What the README's "late interaction" tables are printed from.

    python scripts/setting_table.py fair-full late-full [--eval art4apps] [--split val] [--n-boot 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.results import RankSource, summarize_seeds  # noqa: E402
from optical.store import resolve_runs  # noqa: E402

FIGURES = (("mean", "mean"), ("mean_high", "high"), ("mean_low", "low"), ("high_minus_low", "high-low"),
           ("std", "std"))
WITHIN = (("optical", "mse"), ("optical", "zero-shot"), ("mse", "zero-shot"), ("optical+mse", "mse"),
          ("token-nn", "optical"))


def _ci(d: dict, key: str = "diff") -> str:
    """``+x.x [lo, hi]``, or ``-`` where the figure is undefined (no low-resource language evaluated, say)."""
    if d.get(key) is None or d.get("lo") is None:
        return "-"
    return f"{d[key]:+.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}]"


def load(ref: str, source: RankSource) -> list:
    """The (ranks, groups) of each finished run of study ``ref`` that has ``source``'s ranks, in seed order."""
    runs, _notes = resolve_runs([ref])
    runs = [r for r in runs if r.state == "done" and source.has(r)]
    if not runs:
        sys.exit(f"{ref}: no finished run with these ranks")
    return sorted(runs, key=lambda r: r.config.get("seed", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pooled", help="the pooled-teacher study (or run)")
    parser.add_argument("late", help="the late-teacher study (or run)")
    parser.add_argument("--eval", help="an evaluation of both (optical eval ... --name NAME), e.g. art4apps")
    parser.add_argument("--split", default="test", help="test (default) or val")
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    source = RankSource(evaluation=args.eval) if args.eval else RankSource(split=args.split)
    studies = {name: load(ref, source) for name, ref in (("pooled", args.pooled), ("late", args.late))}
    seeds = {name: [r.config.get("seed", 0) for r in runs] for name, runs in studies.items()}
    common = sorted(set(seeds["pooled"]) & set(seeds["late"]))
    print(f"{args.eval or args.split}: pooled {args.pooled} (seeds {seeds['pooled']} done), late {args.late} (seeds "
          f"{seeds['late']} done); every figure below on the seeds both have: {common}")
    merged = []
    for seed in common:
        ranks, groups = {}, None
        for name, runs in studies.items():
            run_ranks, groups = source.load(next(r for r in runs if r.config.get("seed", 0) == seed))
            ranks.update({f"{name}:{m}": by_lang for m, by_lang in run_ranks.items()})
        merged.append((ranks, groups))
    methods = [m.split(":", 1)[1] for m in merged[0][0] if m.startswith("pooled:")]
    pairs = [(f"{s}:{a}", f"{s}:{b}") for s in ("pooled", "late") for a, b in WITHIN]
    pairs += [(f"late:{m}", f"pooled:{m}") for m in methods]
    summary = summarize_seeds(merged, n_boot=args.n_boot, comparisons=pairs)
    results = summary["results"]
    print(f"{'setting':8s} " + " ".join(f"{m + ' en':>18s}" for m in methods))
    for setting in ("pooled", "late"):
        cells = []
        for m in methods:
            r = results.get(f"{setting}:{m}", {}).get("en")
            cells.append(f"{r['metrics']['mR']:5.1f} [{r['ci']['mR'][0]:4.1f}, {r['ci']['mR'][1]:4.1f}]" if r else "-")
        print(f"{setting:8s} " + " ".join(f"{c:>18s}" for c in cells))
    print(f"\n{'difference':34s} " + " ".join(f"{label:>18s}" for _, label in FIGURES) + f" {'en':>18s}")
    for a, b in pairs:
        key = f"{a} - {b}"
        if key not in summary["disparity_difference"]:
            continue
        diff = summary["disparity_difference"][key]["diff"]
        english = summary["paired"][key].get("en")
        print(f"{key:34s} " + " ".join(f"{_ci(diff[f]):>18s}" for f, _ in FIGURES)
              + f" {(_ci(english) if english else '-'):>18s}")
    for setting in ("pooled", "late"):
        zero = summary["disparity"].get(f"{setting}:zero-shot")
        for m in methods:
            d = summary["disparity"].get(f"{setting}:{m}")
            if zero and d and m != "zero-shot":
                cut = 100 * (1 - d["std"] / zero["std"]) if zero["std"] else float("nan")
                print(f"{setting}:{m}: std across languages {d['std']:.1f} vs zero-shot {zero['std']:.1f} "
                      f"({cut:+.1f}% cut; moonshot: >= 30% with English -1 at most)")


if __name__ == "__main__":
    main()
