"""Launching runs: one run in its folder (``launch_run``: the folder's lock, the folder made or reopened, the device
in its status), and a study (``run_study``: a run per seed, then its summary). Rank-aware under torchrun: rank 0
locks and writes the folders, the other ranks only train in them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from optical.config import ExperimentConfig
from optical.distill.distributed import process_group, resolve_device, world_info_from_env
from optical.experiment._runner import Progress, run_experiment
from optical.results import RankSource
from optical.store import Run, Study, atomic_write_json, create_run, lock_run, run_state, runs_dir, study_run_id


def _print(line: str) -> None:
    print(line, flush=True)


def launch_run(
    config: ExperimentConfig, run_id: str, *, written: dict | None = None, sweep: str | None = None,
    progress: Progress | None = None, say: Callable[[str], None] | None = _print,
) -> dict:
    """Run (or continue) the run ``run_id`` of ``cache/runs`` with ``config`` and return ``metrics.json``'s content
    (empty on ranks other than 0).

    The device is resolved before any folder exists (an absent one is an InputError). Rank 0 holds the folder's
    lock, makes or reopens it (``written``: its ``config.json``, default ``config``'s; a resumed run keeps its
    own), records the device and the ``sweep`` that made it in ``status.json`` and says where the folder is
    (``say``; None: silent); the other ranks only train in it. A failure is recorded by ``run_experiment``.
    """
    rank, _, local_rank = world_info_from_env()
    device = resolve_device(config.device, local_rank)
    if rank != 0:
        return run_experiment(config, Run(runs_dir() / run_id), progress=progress)
    with lock_run(runs_dir() / run_id):
        run = create_run(config.to_dict() if written is None else written, run_id)
        run.set_status(device=str(device), **({"sweep": sweep} if sweep is not None else {}))
        if say is not None:
            say(f"run folder: {run.path}")
        return run_experiment(config, run, progress=progress)


def run_study(config: dict, study_id: str, seeds: list[int], *, device: str | None = None) -> dict:
    """Make (or reopen: ``Study.create``) study ``study_id`` of ``config`` (an ExperimentConfig dict) over
    ``seeds``, run each seed whose run is not done, in turn (``launch_run``), then write its summary to the study
    folder (what the app's Home shows) and return it (empty on ranks other than 0). ``device`` overrides the
    config's (a runtime setting). Under torchrun the runs share one process group."""
    rank = world_info_from_env()[0]
    study = Study.create(config, study_id, seeds) if rank == 0 else Study.design(config, study_id, seeds)
    todo = [seed for seed in seeds if run_state(study_run_id(study_id, seed)) != "done"]  # before any run starts
    with ExitStack() as stack:
        if rank == 0:
            stack.enter_context(lock_run(study.path))
            done = [s for s in seeds if s not in todo]
            _print(f"study folder: {study.path} (seeds {seeds}; done already: {done or 'none'})")
        stack.enter_context(process_group(config.get("device", "auto") if device is None else device))  # one group
        for seed in todo:
            run_config = ExperimentConfig.from_dict(study.config(seed), study.path / study.FILE)
            if device is not None:
                run_config.device = device
            _print(f"study {study_id}: seed {seed}")
            launch_run(run_config, study_run_id(study_id, seed))
    if rank != 0:
        return {}
    metrics = RankSource().summarize(study.started_runs())
    atomic_write_json(study.path / "metrics.json", metrics)
    return metrics
