"""A sweep's tables: per point x method x figure over the seeds of its finished runs (``sweep_frame``), the research
goal against zero-shot (``goal_table``) and the report of ``python -m optical report SWEEP``. Torch-free: the app's
Sweeps page draws them without the model stack. The sweep folder itself: ``optical.store.Sweep``.
"""

from __future__ import annotations

import math

import pandas as pd

from optical.config import format_point
from optical.results._metrics import summarize_seeds
from optical.results._sources import RankSource
from optical.store import Run, Sweep

SWEEP_FIGURES = ("mean mR", "std", "high-minus-low")  # per method and point, over the non-English languages
_DISPARITY_KEYS = {"mean mR": "mean", "std": "std", "high-minus-low": "high_minus_low"}
BASELINE = "zero-shot"
# each method against zero-shot at the same point and seeds: paired differences (shared bootstrap draws)
DIFFERENCE_FIGURES = ("std - zero-shot", "mR en - zero-shot")
# how much alignment each method's plans carry (the runs' plan diagnostics, status.json): figure -> key
PLAN_FIGURES = {"plan best-match share": "best_match_share", "plan entropy / uniform": "relative_entropy",
                "plan row error": "row_error"}
# the research goal of a sweep: cut zero-shot's std by this share while English loses at most this many points
GOAL_STD_CUT, GOAL_EN_DROP = 0.30, 1.0


def sweep_frame(sweep: Sweep, n_boot: int | None = None, split: str = "test",
                evaluation: str | None = None) -> pd.DataFrame:
    """One row per point x method x figure of the sweep's finished runs, intervals over the point's seeds.

    Columns: ``point`` (its name), one per grid key, ``method``, ``figure`` (``SWEEP_FIGURES``, then for every method
    but zero-shot ``DIFFERENCE_FIGURES``, its paired differences from zero-shot, then ``mR <language>``, then
    ``PLAN_FIGURES`` where the runs recorded plan diagnostics: mean over seeds, lo/hi their range),
    ``value``, ``lo``, ``hi`` (95%, ``summarize_seeds``: seeds, then test image groups, resampled), ``n_seeds``.
    Points with no finished run are left out. ``split="val"``: the comparable val sets (choose on these);
    ``evaluation``: each run's evaluation of that name (``optical eval``, e.g. on art4apps) instead of a split, runs
    without it left out.
    """
    spec = sweep.data
    n_boot = spec["base"].get("bootstrap", 1000) if n_boot is None else n_boot
    source = RankSource(split, evaluation)
    rows = []
    for point in spec["points"]:
        runs = [run for run in sweep.finished_runs(list(point["runs"].values())) if source.has(run)]
        if not runs:
            continue
        studies = [source.load(run) for run in runs]
        against = [(m, BASELINE) for m in studies[0][0] if m != BASELINE]
        summary = summarize_seeds(studies, n_boot=n_boot, comparisons=against)
        base = {"point": point["name"], **{key: _label(v) for key, v in point["values"].items()}}
        for method in summary["methods"]:
            figures = summary["disparity_ci"].get(method, {})
            for figure, key in _DISPARITY_KEYS.items():
                if key in figures:
                    ci = figures[key]
                    rows.append({**base, "method": method, "figure": figure, "value": ci["value"], "lo": ci["lo"],
                                 "hi": ci["hi"], "n_seeds": len(runs)})
            pair = f"{method} - {BASELINE}"
            differences = (summary["disparity_difference"].get(pair, {}).get("diff", {}).get("std"),
                           summary["paired"].get(pair, {}).get("en"))
            for figure, d in zip(DIFFERENCE_FIGURES, differences):
                if d is not None:
                    rows.append({**base, "method": method, "figure": figure, "value": d["diff"], "lo": d["lo"],
                                 "hi": d["hi"], "n_seeds": len(runs)})
            for lang, result in summary["results"][method].items():
                lo, hi = result["ci"]["mR"]
                rows.append({**base, "method": method, "figure": f"mR {lang}", "value": result["metrics"]["mR"],
                             "lo": lo, "hi": hi, "n_seeds": len(runs)})
            rows += _plan_rows(base, method, runs)
    columns = ["point", *spec["grid"], "method", "figure", "value", "lo", "hi", "n_seeds"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({c: float for c in ("value", "lo", "hi")})


def _plan_rows(base: dict, method: str, runs: list[Run]) -> list[dict]:
    """``PLAN_FIGURES`` of ``method`` over the runs that recorded plan diagnostics: the mean over seeds, ``lo`` and
    ``hi`` their smallest and largest (not an interval: a plan figure has no test-set resampling)."""
    rows = []
    recorded = [d["methods"][method] for run in runs
                if method in ((run.status.get("plan_diagnostics") or {}).get("methods") or {})
                for d in [run.status["plan_diagnostics"]]]
    for figure, key in PLAN_FIGURES.items():
        values = [v for d in recorded if (v := d.get(key)) is not None]
        if values:
            rows.append({**base, "method": method, "figure": figure, "value": sum(values) / len(values),
                         "lo": min(values), "hi": max(values), "n_seeds": len(values)})
    return rows


def goal_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Each point x method of ``sweep_frame`` against zero-shot at the same point: the research goal (std of mR over
    the non-English languages cut by ``GOAL_STD_CUT`` while English mR drops at most ``GOAL_EN_DROP``).

    Columns: ``point``, ``method``, ``std`` (the method's), ``std zero-shot``, ``std change %`` (point estimates),
    ``std diff``, ``std diff lo``/``hi``, ``en diff``, ``en diff lo``/``hi`` (paired, 95%), ``meets goal`` (on the
    point estimates; read the intervals beside it), ``n_seeds``. Empty when the frame has no difference rows.
    """
    cell = frame.set_index(["point", "method", "figure"])
    std_figure, en_figure = DIFFERENCE_FIGURES
    rows = []
    for point, method in frame.loc[frame["figure"] == std_figure, ["point", "method"]].itertuples(index=False):
        if (point, BASELINE, "std") not in cell.index:  # fewer than 3 non-English languages: no std
            continue
        own, base, d = (cell.loc[(point, m, f)] for m, f in ((method, "std"), (BASELINE, "std"), (method, std_figure)))
        en = cell.loc[(point, method, en_figure)] if (point, method, en_figure) in cell.index else None
        change = 100 * d["value"] / base["value"] if base["value"] else math.nan
        en_diff, en_lo, en_hi = (math.nan,) * 3 if en is None else (en["value"], en["lo"], en["hi"])
        rows.append({
            "point": point, "method": method, "std": own["value"], "std zero-shot": base["value"],
            "std change %": change, "std diff": d["value"], "std diff lo": d["lo"], "std diff hi": d["hi"],
            "en diff": en_diff, "en diff lo": en_lo, "en diff hi": en_hi,
            "meets goal": bool(change <= -100 * GOAL_STD_CUT and en_diff >= -GOAL_EN_DROP), "n_seeds": int(own["n_seeds"]),
        })
    return pd.DataFrame(rows, columns=["point", "method", "std", "std zero-shot", "std change %", "std diff", "std diff lo",
                                       "std diff hi", "en diff", "en diff lo", "en diff hi", "meets goal", "n_seeds"])


def format_goal(table: pd.DataFrame) -> str:
    """``goal_table`` as text: one line per point and method."""
    lines = [f"against zero-shot at the same point (goal: std -{GOAL_STD_CUT:.0%} with English within "
             f"{GOAL_EN_DROP:g} point; paired 95% intervals):"]
    for r in table.to_dict("records"):
        lines.append(
            f"  {r['point']:24s} {r['method']:12s} std {r['std']:5.2f} vs {r['std zero-shot']:5.2f} "
            f"({r['std change %']:+5.1f}%; diff {r['std diff']:+.2f} [{r['std diff lo']:+.2f}, {r['std diff hi']:+.2f}])"
            f"  English {r['en diff']:+5.1f} [{r['en diff lo']:+.1f}, {r['en diff hi']:+.1f}]"
            f"  {'meets the goal' if r['meets goal'] else '-'}"
        )
    return "\n".join(lines)


def _label(value: object) -> object:
    """A grid value as the table shows it: None (no cap) is ``all``."""
    return "all" if value is None else value


def format_sweep_report(sweep: Sweep, frame: pd.DataFrame) -> str:
    """The sweep's runs by state, then one table per point: a row per method, ``SWEEP_FIGURES`` and each language's mR
    as ``value [lo, hi]``."""
    spec = sweep.data
    states: dict[str, list[str]] = {}
    for run_id, state in sweep.states().items():
        states.setdefault(state, []).append(run_id)
    lines = [f"sweep {sweep.sweep_id}: grid {spec['grid']}, seeds {spec['seeds']}",
             "runs: " + ", ".join(f"{len(ids)} {state}" for state, ids in states.items())]
    lines += [f"  not done: {', '.join(ids)}" for state, ids in states.items() if state != "done"]
    for point in spec["points"]:
        table = frame[frame["point"] == point["name"]]
        lines.append(f"\n{format_point(point['values'])}")
        if table.empty:
            lines.append("  no finished run yet")
            continue
        lines.append(f"  seeds: {int(table['n_seeds'].iloc[0])}; mR points, 95% CI")
        cells = table.assign(cell=[_cell(r.value, r.lo, r.hi, r.figure) for r in table.itertuples()])
        wide = cells.pivot(index="method", columns="figure", values="cell")
        figures = [f for f in dict.fromkeys(table["figure"]) if f not in DIFFERENCE_FIGURES]  # those: the goal table
        order = [f for f in SWEEP_FIGURES if f in figures] + [f for f in figures if f not in SWEEP_FIGURES]
        wide = wide.reindex(index=list(dict.fromkeys(table["method"])), columns=order).fillna("-")
        wide.columns.name = None
        lines.append(wide.to_string())
    goal = goal_table(frame)
    if not goal.empty:
        lines += ["", format_goal(goal)]
    return "\n".join(lines)


def _cell(value: float, lo: float, hi: float, figure: str = "") -> str:
    """``value [lo, hi]``: mR points with one decimal, plan shares with three, a plan's marginal error in
    scientific notation (1e-2 and 1e-5 both read 0.0 at three decimals)."""
    if value is None or math.isnan(value):
        return "-"
    style = {"plan row error": ".1e"}.get(figure, ".3f" if figure in PLAN_FIGURES else ".1f")
    return f"{value:{style}} [{lo:{style}}, {hi:{style}}]"

