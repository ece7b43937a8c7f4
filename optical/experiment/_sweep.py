"""Sweeps: every point of a grid x every seed is a normal run in ``cache/runs/``; ``cache/sweeps/<id>/sweep.json``
lists them. Resumable: runs already done are skipped, the others continue from their checkpoints. Teachers are
shared across the points of a seed (``optical.experiment._teachers``). Torch is imported only to plan and run
(``report`` of a sweep and the app's Sweeps page load without it).

``sweep.json`` (format 1): ``format``, ``sweep_id``, ``created``, ``base`` (the ExperimentConfig every point
starts from), ``grid`` (dotted key -> values), ``seeds``, ``points`` (each ``name``, ``values`` {key: value},
``runs`` {seed: run id}).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from optical.atomic import atomic_write_json
from optical.errors import InputError, OpticalError
from optical.experiment._evals import has_evaluation, load_evaluation_ranks
from optical.experiment._grid import format_point, grid_points, point_config, point_name
from optical.experiment._metrics import summarize_study
from optical.experiment._ranks import has_ranks, load_ranks
from optical.paths import runs_dir, sweeps_dir
from optical.runs import Run, RunFormatError, check_run_id, new_run_id, read_versioned_json

if TYPE_CHECKING:
    from optical.experiment._config import ExperimentConfig

SWEEP_FORMAT = 1
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


@dataclass
class Sweep:
    """A handle on one sweep folder."""

    path: Path

    @property
    def sweep_id(self) -> str:
        return self.path.name

    @property
    def spec(self) -> dict:
        """``sweep.json``, checked (RunFormatError when missing, corrupt or of another format)."""
        return read_versioned_json(self.path / "sweep.json", "sweep", SWEEP_FORMAT)

    def planned(self) -> list[tuple[dict, int, str]]:
        """(point, seed, run id) of every run, seed by seed (the points of a seed share its teacher)."""
        spec = self.spec
        return [(p, seed, p["runs"][str(seed)]) for seed in spec["seeds"] for p in spec["points"]]

    def config(self, point: dict, seed: int) -> ExperimentConfig:
        return point_config(self.spec["base"], point["values"], seed, f"sweep {self.sweep_id}: {point['name']}")


def plan_sweep(base: ExperimentConfig, grid: dict[str, list], seeds: list[int], sweep_id: str | None = None) -> dict:
    """``sweep.json``'s content for ``grid`` x ``seeds`` over ``base``; every point's config is validated first
    (InputError naming the point) and no run folder may exist yet."""
    if not grid:
        raise InputError("a sweep needs at least one --grid KEY=V1,V2,...")
    if not seeds or len(set(seeds)) < len(seeds):
        raise InputError(f"--seeds: expected distinct integers, e.g. 0,1,2; got {seeds}")
    sweep_id = check_run_id(sweep_id or new_run_id("sweep"), what="sweep id", under=sweeps_dir())
    points = grid_points(grid)
    base_dict = base.to_dict()
    for point in points:
        for seed in seeds:
            point_config(base_dict, point, seed, f"--grid point {format_point(point)}, seed {seed}")
    names = [point_name(p) for p in points]
    readable = len(set(names)) == len(names) and all(len(f"{sweep_id}_{n}_s{s}") <= 100 for n in names for s in seeds)
    if not readable:
        names = [f"p{i}" for i in range(len(points))]
    entries = []
    for name, point in zip(names, points):
        runs = {str(seed): f"{sweep_id}_{name}_s{seed}" for seed in seeds}
        for run_id in runs.values():
            try:
                check_run_id(run_id)
            except InputError:
                raise InputError(f"sweep id {sweep_id!r} is too long for its run ids ({run_id!r}); use a shorter "
                                 "--sweep-id") from None
            if (runs_dir() / run_id).exists():
                raise InputError(f"run folder {runs_dir() / run_id} exists already; pick another --sweep-id (or "
                                 f"continue that sweep with sweep --resume {sweep_id})")
        entries.append({"name": name, "values": point, "runs": runs})
    return {
        "format": SWEEP_FORMAT, "sweep_id": sweep_id, "created": time.time(), "base": base_dict, "grid": grid,
        "seeds": list(seeds), "points": entries,
    }


def create_sweep(spec: dict) -> Sweep:
    """Write ``cache/sweeps/<id>/sweep.json`` (InputError when that sweep exists: resume it instead)."""
    path = sweeps_dir() / spec["sweep_id"]
    if (path / "sweep.json").exists():
        raise InputError(f"sweep {spec['sweep_id']} exists; continue it with sweep --resume {spec['sweep_id']}")
    atomic_write_json(path / "sweep.json", spec)
    return Sweep(path)


def load_sweep(ref: str | Path) -> Sweep:
    """A sweep by folder (holding ``sweep.json``) or by id under ``cache/sweeps``; RunFormatError otherwise."""
    path = Path(ref)
    if not (path / "sweep.json").is_file():
        path = sweeps_dir() / str(ref)
    if not (path / "sweep.json").is_file():
        raise RunFormatError(f"no sweep {ref!r} (looked for a folder with sweep.json and in {sweeps_dir()})")
    sweep = Sweep(path)
    sweep.spec  # noqa: B018 - validates the format
    return sweep


def is_sweep(ref: str | Path) -> bool:
    """Whether ``ref`` names a sweep (a folder with sweep.json, or an id under ``cache/sweeps``)."""
    return (Path(ref) / "sweep.json").is_file() or (sweeps_dir() / str(ref) / "sweep.json").is_file()


def run_state(run_id: str) -> str:
    """``pending`` (no folder yet) or the run's state (running, done, failed, interrupted)."""
    path = runs_dir() / run_id
    if not (path / "status.json").is_file():
        return "pending"
    try:
        return Run(path).state
    except RunFormatError:
        return "failed"


def run_sweep(sweep: Sweep, *, device: str | None = None, progress: bool = True,
              on_run: Callable[[str], None] | None = None) -> list[str]:
    """Run every run of ``sweep`` not done yet (a tqdm bar over them) and return the run ids done.

    A run that raises is marked failed and the sweep goes on with the others; OpticalError at the end names them
    (``sweep --resume`` retries them). ``device`` overrides the configs' (a runtime setting). ``on_run(run_id)`` is
    called before each run starts.
    """
    from tqdm import tqdm

    from optical.experiment._runner import run_experiment
    from optical.runs import create_run, lock_run

    planned = sweep.planned()
    failed: list[str] = []
    bar = tqdm(planned, desc=f"sweep {sweep.sweep_id}", unit="run", disable=not progress)
    for point, seed, run_id in bar:
        if run_state(run_id) == "done":
            continue
        bar.set_postfix_str(f"{format_point(point['values'])}, seed {seed}")
        config = sweep.config(point, seed)
        if device is not None:
            config.device = device
        if on_run is not None:
            on_run(run_id)
        with lock_run(runs_dir() / run_id):
            run = create_run(config.to_dict(), run_id)
            run.set_status(sweep=sweep.sweep_id)
            try:
                run_experiment(config, run, progress=lambda f, m, rid=run_id: bar.write(f"{rid} [{f:4.0%}] {m}"))
            except Exception as err:  # recorded in the run's status.json by run_experiment
                failed.append(f"{run_id} ({type(err).__name__}: {err})")
    if failed:
        raise OpticalError(f"{len(failed)} of {len(planned)} runs of sweep {sweep.sweep_id} failed: "
                           f"{'; '.join(failed)}; "
                           f"see python -m optical report RUN, then continue with python -m optical sweep --resume "
                           f"{sweep.sweep_id}")
    return [run_id for _, _, run_id in planned]


def sweep_frame(sweep: Sweep, n_boot: int | None = None, split: str = "test",
                evaluation: str | None = None) -> pd.DataFrame:
    """One row per point x method x figure of the sweep's finished runs, intervals over the point's seeds.

    Columns: ``point`` (its name), one per grid key, ``method``, ``figure`` (``SWEEP_FIGURES``, then for every method
    but zero-shot ``DIFFERENCE_FIGURES``, its paired differences from zero-shot, then ``mR <language>``, then
    ``PLAN_FIGURES`` where the runs recorded plan diagnostics: mean over seeds, lo/hi their range),
    ``value``, ``lo``, ``hi`` (95%, ``summarize_study``: seeds, then test image groups, resampled), ``n_seeds``.
    Points with no finished run are left out. ``split="val"``: the comparable val sets (choose on these);
    ``evaluation``: each run's evaluation of that name (``optical eval``, e.g. on art4apps) instead of a split, runs
    without it left out.
    """
    spec = sweep.spec
    n_boot = spec["base"].get("bootstrap", 1000) if n_boot is None else n_boot
    rows = []
    for point in spec["points"]:
        runs = [Run(runs_dir() / run_id) for run_id in point["runs"].values() if run_state(run_id) == "done"]
        if evaluation is None:
            runs = [run for run in runs if has_ranks(run, split)]
            studies = [load_ranks(run, split) for run in runs]
        else:
            runs = [run for run in runs if has_evaluation(run, evaluation)]
            studies = [load_evaluation_ranks(run, evaluation) for run in runs]
        if not runs:
            continue
        against = [(m, BASELINE) for m in studies[0][0] if m != BASELINE]
        summary = summarize_study(studies, n_boot=n_boot, comparisons=against)
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
    spec = sweep.spec
    states: dict[str, list[str]] = {}
    for _, _, run_id in sweep.planned():
        states.setdefault(run_state(run_id), []).append(run_id)
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
        cells = table.assign(cell=[_cell(r.value, r.lo, r.hi) for r in table.itertuples()])
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


def _cell(value: float, lo: float, hi: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f} [{lo:.1f}, {hi:.1f}]"

