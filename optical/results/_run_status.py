"""What the runs' ``status.json`` adds to their summary: the epoch each student's validation chose and the
alignment their transport plans carry (recorded by the pipeline as each run trains). Torch-free."""

from __future__ import annotations

from optical.store import Run

_WORST = {"row_error": max, "column_error": max, "iterations": max, "converged": all}  # over runs; the rest: means


def run_plan_diagnostics(runs: list[Run]) -> dict | None:
    """The runs' ``plan_diagnostics`` (recorded in ``status.json`` when a run finishes; None when no run has them):
    the split, pairs and settings of the first run that has them, ``runs`` (how many have them) and per method the
    mean over those runs of each figure, the worst of the marginal errors, iterations and convergence."""
    recorded = [d for run in runs if (d := run.status.get("plan_diagnostics"))]
    if not recorded:
        return None
    methods: dict[str, dict] = {}
    for method in dict.fromkeys(m for d in recorded for m in d.get("methods", {})):
        rows = [d["methods"][method] for d in recorded if method in d.get("methods", {})]
        keys = dict.fromkeys(k for row in rows for k in row)
        methods[method] = {key: _combine(key, [row.get(key) for row in rows]) for key in keys}
    first = recorded[0]
    return {**{k: v for k, v in first.items() if k != "methods"}, "runs": len(recorded), "methods": methods}


def _combine(key: str, values: list) -> object:
    """One figure over runs: the worst for errors, iterations and convergence, else the mean (None if none has it)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    if key in _WORST:
        return _WORST[key](values)
    return sum(values) / len(values) if key != "pairs" else values[0]


def students(runs: list[Run]) -> dict[str, dict[str, list]]:
    """Per student method, the epoch its validation chose and its val mR, one entry per run (None if unrecorded); a
    method that recorded its first step (optical+mse) also has ``weighting``, ``grad_ratio`` and
    ``weighted_grad_ratio`` (|grad OT| / |grad MSE| before and after weighting)."""
    recorded = [run.status.get("students") or {} for run in runs]
    methods = [m for m in runs[0].config.get("methods", []) if any(m in r for r in recorded)]
    by_method = {
        m: {key: [r.get(m, {}).get(key) for r in recorded] for key in ("best_epoch", "val_mR")} for m in methods
    }
    for method, entry in by_method.items():
        first = [r.get(method, {}).get("first_step") or {} for r in recorded]
        if any(first):
            entry.update({key: [f.get(key) for f in first] for key in ("weighting", "grad_ratio", "weighted_grad_ratio")})
    return by_method
