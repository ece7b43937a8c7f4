"""Studies: one experiment run per training seed, listed by a study folder ``cache/runs/<study-id>/study.json``.

A study's runs are ordinary run folders ``<study-id>-s<seed>`` beside it (each resumable on its own). The study
folder holds ``study.json`` (``{"format", "seeds", "runs", "config"}``: ``config`` is the experiment's config,
whose ``seed`` each run replaces), the lock of the process running it and, once every seed is done,
``metrics.json`` (the study's summary, what the app's Home shows); it has no ``status.json``, so ``list_runs``
and the app's run lists skip it. ``python -m optical run --resume <study-id>`` continues the seeds
whose run is not done; ``report <study-id>`` summarises the runs that have results. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from optical.atomic import atomic_write_json
from optical.errors import InputError
from optical.paths import runs_dir
from optical.runs import RUNTIME_KEYS, Run, RunFormatError, check_run_id, load_run, read_json, read_versioned_json

STUDY_FORMAT = 1
STUDY_FILE = "study.json"


@dataclass
class Study:
    """A handle on one study folder."""

    path: Path

    @property
    def study_id(self) -> str:
        return self.path.name

    @property
    def data(self) -> dict:
        return read_versioned_json(self.path / STUDY_FILE, "study", STUDY_FORMAT)

    @property
    def seeds(self) -> list[int]:
        return list(self.data["seeds"])

    def config(self, seed: int) -> dict:
        """The config of the study's run with training seed ``seed``."""
        return {**self.data["config"], "seed": seed}

    def run_path(self, seed: int) -> Path:
        return self.path.parent / study_run_id(self.study_id, seed)

    def runs(self) -> list[Run]:
        """The runs of the seeds whose folder exists (started), in the study's seed order."""
        return [Run(self.run_path(s)) for s in self.seeds if (self.run_path(s) / "status.json").is_file()]

    def metrics(self) -> dict | None:
        """The study's summary written when its last seed finished (``metrics.json``), or None before."""
        file = self.path / "metrics.json"
        if not file.is_file():
            return None
        return read_json(file, "the study is not summarised yet")

    def missing_seeds(self) -> list[int]:
        """Seeds whose run is not done (never started, running, failed or interrupted)."""
        return self.missing_seeds_of(self.seeds)

    def missing_seeds_of(self, seeds: list[int]) -> list[int]:
        """Those of ``seeds`` whose run is not done (``study.json`` need not exist yet)."""
        missing = []
        for seed in seeds:
            run = Run(self.run_path(seed))
            try:
                done = run.state == "done"
            except RunFormatError:
                done = False
            if not done:
                missing.append(seed)
        return missing


def study_run_id(study_id: str, seed: int) -> str:
    """The run id of ``study_id``'s run with training seed ``seed``: ``<study-id>-s<seed>``."""
    return check_run_id(f"{study_id}-s{seed}")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; InputError on anything but distinct non-negative integers."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--seeds: expected comma-separated integers such as 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise InputError(f"--seeds: expected distinct non-negative integers such as 0,1,2, got {text!r}")
    return seeds


def is_study(ref: str | Path) -> bool:
    """Whether ``ref`` (a folder, or an id under ``cache/runs``) is a study folder."""
    path = Path(ref)
    if not path.is_dir():
        path = runs_dir() / str(ref)
    return (path / STUDY_FILE).is_file()


def create_study(config: dict, study_id: str, seeds: list[int], root: Path | None = None) -> Study:
    """Make (or reopen) the study folder ``study_id`` with ``study.json``; an existing study must have the same
    seeds and config (but for ``RUNTIME_KEYS`` and the seed), else RunFormatError."""
    path = (root or runs_dir()) / check_run_id(study_id)
    for seed in seeds:
        study_run_id(study_id, seed)  # every run id must be valid before anything is written
    if (path / "status.json").is_file():
        raise RunFormatError(f"{path}: is a run, not a study; pick another --run-id for the study")
    study = Study(path)
    if (path / STUDY_FILE).is_file():
        previous = study.data
        changed = sorted(
            k for k in set(previous["config"]) | set(config)
            if k not in (*RUNTIME_KEYS, "seed") and previous["config"].get(k) != config.get(k)
        )
        if changed or previous["seeds"] != seeds:
            what = ", ".join(changed) or f"seeds {previous['seeds']}"
            raise RunFormatError(f"{path}: a study with a different config exists ({what}); continue it with "
                                 f"--resume {study_id}, or use a new --run-id")
        return study
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        path / STUDY_FILE,
        {"format": STUDY_FORMAT, "seeds": seeds, "runs": [study_run_id(study_id, s) for s in seeds], "config": config},
    )
    return study


def list_studies(root: Path | None = None) -> list[Study]:
    """Study folders under ``cache/runs`` (newest first)."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    found = [Study(p) for p in root.iterdir() if (p / STUDY_FILE).is_file() and not (p / "status.json").exists()]
    return sorted(found, key=lambda s: (s.path / STUDY_FILE).stat().st_mtime, reverse=True)


def load_study(ref: str | Path) -> Study:
    """A study by folder or by id under ``cache/runs``; RunFormatError when it is none."""
    path = Path(ref)
    if not path.is_dir():
        path = runs_dir() / str(ref)
    study = Study(path)
    study.data  # noqa: B018 - validates the file
    return study


def resolve_runs(refs: list[str]) -> tuple[list[Run], list[str]]:
    """The runs that ``report`` summarises: each ref a run or a study (its started runs, in seed order).

    Returns the runs and notes for the reader (seeds of a study not done yet); RunFormatError when none started.
    """
    runs: list[Run] = []
    notes: list[str] = []
    for ref in refs:
        if is_study(ref):
            study = load_study(ref)
            missing = study.missing_seeds()
            if missing:
                notes.append(f"study {study.study_id}: seeds {missing} not done (continue with python -m optical run "
                             f"--resume {study.study_id})")
            runs += [load_run(run.path) for run in study.runs()]
        else:
            runs.append(load_run(ref))
    if not runs:
        raise RunFormatError(f"{', '.join(refs)}: no run of it has started yet")
    return runs, notes
