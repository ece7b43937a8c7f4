"""Campaigns: a folder listing the runs of one experiment that a command runs in turn, resumably (a study: one run
per training seed; a sweep: grid points x seeds). Its listing (``study.json``, ``sweep.json``) is written once; its
runs are ordinary run folders; the folder holds the lock of the process running it. Torch-free."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

from optical.errors import InputError
from optical.store._files import RunFormatError, newest_first, read_versioned_json
from optical.store._runs import Run, load_run, run_state

C = TypeVar("C", bound="Campaign")


@dataclass
class Campaign:
    """A handle on one campaign folder; ``data`` is its listing, read when the handle is made (it never changes).

    A kind of campaign names itself in its class statement: ``kind`` ("study", "sweep"), ``file`` (its listing),
    ``resume`` (the command that continues one, before its id) and ``home`` (the folder whose subfolders its ids
    name, e.g. ``runs_dir``).
    """

    path: Path
    data: dict

    KIND: ClassVar[str]
    FILE: ClassVar[str]
    RESUME: ClassVar[str]
    FORMAT: ClassVar[int] = 1  # the listing's format version
    _HOME: ClassVar[Callable[[], Path]]

    def __init_subclass__(cls, *, kind: str, file: str, resume: str, home: Callable[[], Path], **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.KIND, cls.FILE, cls.RESUME, cls._HOME = kind, file, resume, staticmethod(home)

    @classmethod
    def home(cls) -> Path:
        """The folder whose subfolders the campaign ids name."""
        return cls._HOME()

    @property
    def runs_root(self) -> Path:
        """The folder its run folders lie in."""
        raise NotImplementedError

    def run_ids(self) -> list[str]:
        """Every run it plans, in the order they run."""
        raise NotImplementedError

    def describe_missing(self, run_ids: list[str]) -> str:
        """``run_ids`` (some of `run_ids`) as the note of `resolve_runs` names them."""
        return f"runs {', '.join(run_ids)}"

    @classmethod
    def folder(cls, ref: str | Path) -> Path:
        """The folder ``ref`` names: itself when it holds the listing, else the id ``ref`` under `home`."""
        path = Path(ref)
        return path if (path / cls.FILE).is_file() else cls.home() / str(ref)

    @classmethod
    def exists(cls, ref: str | Path) -> bool:
        """Whether ``ref`` (a folder, or an id under `home`) is a campaign of this kind."""
        path = cls.folder(ref)
        return (path / cls.FILE).is_file() and not (path / "status.json").exists()

    @classmethod
    def load(cls: type[C], ref: str | Path, *, writable: bool = False) -> C:
        """The campaign ``ref`` names (`folder`); RunFormatError when it is none. ``writable``: it will be run, so it
        must be a folder directly inside `home` (InputError otherwise)."""
        path = cls.folder(ref)
        if not (path / cls.FILE).is_file():
            raise RunFormatError(f"no {cls.KIND} {ref!r} (looked for a folder with {cls.FILE} and in {cls.home()})")
        if writable and path.resolve().parent != cls.home().resolve():
            raise InputError(f"{path}: only a {cls.KIND} inside {cls.home()} can be continued (nothing is written "
                             "elsewhere)")
        return cls(path, read_versioned_json(path / cls.FILE, cls.KIND, cls.FORMAT))

    @classmethod
    def find_all(cls: type[C], root: Path | None = None) -> list[C]:
        """The readable campaigns of this kind under ``root`` (default `home`), newest first."""
        found = []
        for path in newest_first(root or cls.home(), cls.FILE):
            if cls.exists(path):
                try:
                    found.append(cls.load(path))
                except RunFormatError:
                    continue
        return found

    @property
    def seeds(self) -> list[int]:
        return list(self.data["seeds"])

    def run(self, run_id: str) -> Run:
        return Run(self.runs_root / run_id)

    def run_state(self, run_id: str) -> str:
        """``pending`` (not started) or the state of its run ``run_id``."""
        return run_state(run_id, self.runs_root)

    def states(self) -> dict[str, str]:
        """Run id -> `run_state`, in plan order."""
        return {run_id: self.run_state(run_id) for run_id in self.run_ids()}

    def started_runs(self) -> list[Run]:
        """Its runs whose folder exists (started), checked, in plan order."""
        return [load_run(self.run(run_id).path) for run_id, state in self.states().items() if state != "pending"]

    def finished_runs(self, run_ids: list[str] | None = None) -> list[Run]:
        """Those of its runs (or of ``run_ids``) that are done, in that order."""
        run_ids = self.run_ids() if run_ids is None else run_ids
        return [self.run(run_id) for run_id in run_ids if self.run_state(run_id) == "done"]

    def missing(self) -> list[str]:
        """Its runs not done (never started, running, failed or interrupted), in plan order."""
        return [run_id for run_id, state in self.states().items() if state != "done"]

    def note(self) -> str | None:
        """What the reader of its summary should know: the runs not done yet and how to continue them."""
        missing = self.missing()
        if not missing:
            return None
        return (f"{self.KIND} {self.path.name}: {self.describe_missing(missing)} not done (continue with python -m "
                f"optical {self.RESUME} {self.path.name})")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (``--seeds`` of a study or a sweep); InputError on anything but distinct
    non-negative integers."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--seeds: expected comma-separated integers such as 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise InputError(f"--seeds: expected distinct non-negative integers such as 0,1,2, got {text!r}")
    return seeds
