"""Sweeps: every point of a grid x every seed is a normal run in ``cache/runs/``; ``cache/sweeps/<id>/sweep.json``
lists them. Resumable: runs already done are skipped, the others continue from their checkpoints.

``sweep.json`` (format 1): ``format``, ``sweep_id``, ``created``, ``base`` (the ExperimentConfig every point
starts from), ``grid`` (dotted key -> values), ``seeds``, ``points`` (each ``name``, ``values`` {key: value},
``runs`` {seed: run id}). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from optical.errors import InputError
from optical.store._atomic import atomic_write_json
from optical.store._campaigns import Campaign
from optical.store._paths import runs_dir, sweeps_dir


@dataclass
class Sweep(Campaign, kind="sweep", file="sweep.json", resume="sweep --resume", home=sweeps_dir):
    """A handle on one sweep folder; ``data`` is its ``sweep.json``."""

    @property
    def runs_root(self) -> Path:
        return runs_dir()

    @property
    def sweep_id(self) -> str:
        return self.path.name

    def planned(self) -> list[tuple[dict, int, str]]:
        """(point, seed, run id) of every run, seed by seed (the points of a seed share its teacher)."""
        return [(p, seed, p["runs"][str(seed)]) for seed in self.data["seeds"] for p in self.data["points"]]

    def run_ids(self) -> list[str]:
        return [run_id for _, _, run_id in self.planned()]

    @classmethod
    def create(cls, spec: dict) -> Sweep:
        """Write ``cache/sweeps/<id>/sweep.json`` (``spec``: ``optical.experiment.design_sweep``); InputError when
        that sweep or a folder of its runs exists (resume it instead)."""
        sweep = cls(sweeps_dir() / spec["sweep_id"], spec)
        if (sweep.path / cls.FILE).exists():
            raise InputError(f"sweep {sweep.sweep_id} exists; continue it with sweep --resume {sweep.sweep_id}")
        for run_id in sweep.run_ids():
            if (sweep.runs_root / run_id).exists():
                raise InputError(f"run folder {sweep.runs_root / run_id} exists already; pick another --sweep-id (or "
                                 f"continue that sweep with sweep --resume {sweep.sweep_id})")
        atomic_write_json(sweep.path / cls.FILE, spec)
        return sweep
