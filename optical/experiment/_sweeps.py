"""Running sweeps: ``design_sweep`` lays out a grid x seeds as runs (``sweep.json``'s content, every point's
config validated first), ``run_sweep`` runs those not done, each through ``launch_run``. Teachers are shared across
the points of a seed (``optical.experiment._teachers``). The folder: ``optical.store.Sweep``; its tables:
``optical.results.sweep_frame``."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack

from optical.config import ExperimentConfig, format_point, grid_points, point_config, point_name
from optical.distill.distributed import process_group, world_info_from_env
from optical.errors import InputError, OpticalError
from optical.experiment._launch import launch_run
from optical.experiment._model_check import check_models
from optical.store import Sweep, check_run_id, lock_run, new_run_id, sweeps_dir

def design_sweep(base: ExperimentConfig, grid: dict[str, list], seeds: list[int], sweep_id: str | None = None) -> dict:
    """``sweep.json``'s content for ``grid`` x ``seeds`` over ``base`` (nothing is written: ``Sweep.create``);
    every point's config is validated first (InputError naming the point) and every run id checked."""
    if not grid:
        raise InputError("a sweep needs at least one --grid KEY=V1,V2,...")
    if not seeds or len(set(seeds)) < len(seeds):
        raise InputError(f"--seeds: expected distinct integers, e.g. 0,1,2; got {seeds}")
    sweep_id = check_run_id(sweep_id or new_run_id("sweep"), what="sweep id", under=sweeps_dir())
    points = grid_points(grid)
    base_dict = base.to_dict()
    for point in points:
        for seed in seeds:
            source = f"--grid point {format_point(point)}, seed {seed}"
            check_models(point_config(base_dict, point, seed, source), source)  # its ot.layer against the tower
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
        entries.append({"name": name, "values": point, "runs": runs})
    return {
        "format": Sweep.FORMAT, "sweep_id": sweep_id, "created": time.time(), "base": base_dict, "grid": grid,
        "seeds": list(seeds), "points": entries,
    }


def sweep_run_config(sweep: Sweep, point: dict, seed: int) -> ExperimentConfig:
    """The config of ``sweep``'s run at ``point`` (an entry of its ``points``) with training seed ``seed``."""
    return point_config(sweep.data["base"], point["values"], seed, f"sweep {sweep.sweep_id}: {point['name']}")


def start_sweep(spec: dict) -> Sweep:
    """The new sweep of ``spec`` (``design_sweep``): rank 0 writes its folder (``Sweep.create``, under its lock),
    the other ranks of torchrun take the same spec as it is."""
    if world_info_from_env()[0] != 0:
        return Sweep(sweeps_dir() / spec["sweep_id"], spec)
    with lock_run(sweeps_dir() / spec["sweep_id"]):
        return Sweep.create(spec)


def run_sweep(sweep: Sweep, *, device: str | None = None, progress: bool = True,
              on_run: Callable[[str], None] | None = None) -> list[str]:
    """Run every run of ``sweep`` not done yet (``launch_run``; a tqdm bar over them) and return its run ids.

    A run that raises is marked failed and the sweep goes on with the others; OpticalError at the end names them
    (``sweep --resume`` retries them). ``device`` overrides the configs' (a runtime setting). ``on_run(run_id)`` is
    called before each run starts. Under torchrun every rank reads which runs are done before any starts, the runs
    share one process group, rank 0 holds the sweep folder's lock throughout, and a failed run stops the sweep (the
    ranks could not agree on going on).
    """
    from tqdm import tqdm

    main = world_info_from_env()[0] == 0
    planned = sweep.planned()
    todo = [(point, seed, run_id) for point, seed, run_id in planned if sweep.run_state(run_id) != "done"]
    failed: list[str] = []
    with ExitStack() as stack:
        if main:
            stack.enter_context(lock_run(sweep.path))
        shared = sweep.data["base"].get("device", "auto") if device is None else device
        info = stack.enter_context(process_group(shared))  # one process group for every run
        bar = tqdm(todo, desc=f"sweep {sweep.sweep_id}", unit="run", disable=not progress or not main)
        for point, seed, run_id in bar:
            bar.set_postfix_str(f"{format_point(point['values'])}, seed {seed}")
            config = sweep_run_config(sweep, point, seed)
            if device is not None:
                config.device = device
            if on_run is not None:
                on_run(run_id)
            try:
                launch_run(config, run_id, sweep=sweep.sweep_id, say=None,
                           progress=lambda f, m, rid=run_id: bar.write(f"{rid} [{f:4.0%}] {m}"))
            except Exception as err:  # recorded in the run's status.json by run_experiment
                if info.distributed:
                    raise
                failed.append(f"{run_id} ({type(err).__name__}: {err})")
    if failed:
        raise OpticalError(f"{len(failed)} of {len(planned)} runs of sweep {sweep.sweep_id} failed: "
                           f"{'; '.join(failed)}; "
                           f"see python -m optical report RUN, then continue with python -m optical sweep --resume "
                           f"{sweep.sweep_id}")
    return [run_id for _, _, run_id in planned]
