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

from optical.errors import InputError
from optical.store._atomic import atomic_write_json
from optical.store._campaigns import Campaign
from optical.store._files import RunFormatError, changed_keys, read_json
from optical.store._paths import runs_dir
from optical.store._runs import RUNTIME_KEYS, check_run_id


@dataclass
class Study(Campaign, kind="study", file="study.json", resume="run --resume", home=runs_dir):
    """A handle on one study folder."""

    @property
    def runs_root(self) -> Path:
        return self.path.parent

    @property
    def study_id(self) -> str:
        return self.path.name

    def run_ids(self) -> list[str]:
        return list(self.data["runs"])

    def config(self, seed: int) -> dict:
        """The config of the study's run with training seed ``seed``."""
        return {**self.data["config"], "seed": seed}

    def describe_missing(self, run_ids: list[str]) -> str:
        return f"seeds {self.missing_seeds(run_ids)}"

    def missing_seeds(self, run_ids: list[str] | None = None) -> list[int]:
        """The seeds whose run is not done (or of ``run_ids``, some of its runs)."""
        missing = self.missing() if run_ids is None else run_ids
        return [seed for seed, run_id in zip(self.seeds, self.run_ids()) if run_id in missing]

    def metrics(self) -> dict | None:
        """The study's summary written when its last seed finished (``metrics.json``), or None before."""
        file = self.path / "metrics.json"
        if not file.is_file():
            return None
        return read_json(file, "the study is not summarised yet")

    @classmethod
    def create(cls, config: dict, study_id: str, seeds: list[int], root: Path | None = None) -> Study:
        """Make (or reopen) the study folder ``study_id`` with ``study.json``; an existing study must have the same
        seeds and config (but for ``RUNTIME_KEYS`` and the seed), else RunFormatError."""
        study = cls.design(config, study_id, seeds, root)
        if (study.path / "status.json").is_file():
            raise RunFormatError(f"{study.path}: is a run, not a study; pick another --run-id for the study")
        if (study.path / cls.FILE).is_file():
            previous = cls.load(study.path).data
            changed = changed_keys(previous["config"], config, (*RUNTIME_KEYS, "seed"))
            if changed or previous["seeds"] != seeds:
                what = ", ".join(changed) or f"seeds {previous['seeds']}"
                raise RunFormatError(f"{study.path}: a study with a different config exists ({what}); continue it "
                                     f"with --resume {study_id}, or use a new --run-id")
            return study
        atomic_write_json(study.path / cls.FILE, study.data)
        return study

    @classmethod
    def design(cls, config: dict, study_id: str, seeds: list[int], root: Path | None = None) -> Study:
        """The handle of study ``study_id`` as `create` writes it, nothing written (every run id checked)."""
        if not seeds:
            raise InputError("a study needs at least one seed")
        runs = [study_run_id(study_id, seed) for seed in seeds]
        data = {"format": cls.FORMAT, "seeds": seeds, "runs": runs, "config": config}
        return cls((root or runs_dir()) / check_run_id(study_id), data)


def study_run_id(study_id: str, seed: int) -> str:
    """The run id of ``study_id``'s run with training seed ``seed``: ``<study-id>-s<seed>``."""
    return check_run_id(f"{study_id}-s{seed}")
