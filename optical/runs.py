"""Run folders: ``cache/runs/<run-id>/``, written by the experiment, read by the CLI report and the app.

Layout (format 1)::

    config.json         the ExperimentConfig
    status.json         {"format", "state": running|done|failed, "error", "started", "finished", "methods_done"}
    teacher/            the teacher (DualEncoder folder)
    students/<method>/  each distilled student (ProjectedTextEncoder folder)
    work/               training checkpoints for ``--resume``; removed when the run is done (``prune_work``)
    gallery.json        test images (paths, groups) and captions per language {lang: {texts, image}}; gallery.npy
                        the teacher's image embeddings (I, D) the app searches
    metrics.json        per method x language recalls, CIs, disparity, paired differences (updated per method)
    ranks.csv           per-query ranks: method, language, direction, query, rank
    plans.json          transport-plan samples for the app

Every file is written atomically; ``status.json`` says whether the rest is final. A run that raised is marked
``failed`` with the error; one whose process was killed reads as ``interrupted`` (``--resume`` continues it).
Readers never take a running, failed or interrupted run's metrics as final.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from optical.atomic import atomic_write_json
from optical.errors import OpticalError
from optical.paths import runs_dir

RUN_FORMAT = 1


class RunFormatError(OpticalError):
    """A folder that is not a readable run: missing files, another format version, corrupt JSON."""


@dataclass
class Run:
    """A handle on one run folder."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    def _read(self, name: str) -> dict | list:
        file = self.path / name
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFormatError(f"{file}: missing (the run is incomplete)") from None
        except json.JSONDecodeError as err:
            raise RunFormatError(f"{file}:{err.lineno}: corrupt JSON ({err.msg})") from None

    @property
    def status(self) -> dict:
        status = self._read("status.json")
        if not isinstance(status, dict) or status.get("format") != RUN_FORMAT:
            found = status.get("format") if isinstance(status, dict) else None
            raise RunFormatError(
                f"{self.path}: run format {found!r}, this version of optical reads format {RUN_FORMAT} "
                "(re-run the experiment)"
            )
        return status

    @property
    def state(self) -> str:
        """``running``, ``done``, ``failed``, or ``interrupted`` (running, but its process on this host is gone)."""
        status = self.status
        if status["state"] == "running" and status.get("host") == socket.gethostname() and not _alive(status.get("pid")):
            return "interrupted"
        return status["state"]

    @property
    def config(self) -> dict:
        return self._read("config.json")

    def metrics(self) -> dict:
        """``metrics.json`` (possibly partial while the run is running: see ``status['methods_done']``)."""
        return self._read("metrics.json")

    def plans(self) -> list[dict]:
        return self._read("plans.json")

    def gallery(self) -> dict:
        return self._read("gallery.json")

    @property
    def teacher_dir(self) -> Path:
        return self.path / "teacher"

    def student_dir(self, method: str) -> Path:
        return self.path / "students" / method

    def prune_work(self) -> None:
        """Delete ``work/`` (the checkpoints only ``--resume`` needs) of a finished run; its models stay."""
        work = self.path / "work"
        if work.is_dir():
            trash = self.path / f".trash-work-{os.getpid()}"
            os.replace(work, trash)  # one rename: a crash mid-delete never leaves a half checkpoint under work/
            shutil.rmtree(trash, ignore_errors=True)

    def set_status(self, **changes) -> None:
        """Merge ``changes`` into ``status.json`` atomically."""
        status = self.status if (self.path / "status.json").exists() else {"format": RUN_FORMAT}
        status.update(changes)
        atomic_write_json(self.path / "status.json", status)


def new_run_id(prefix: str = "run") -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{prefix}-{secrets.token_hex(2)}"


def create_run(config: dict, run_id: str | None = None, root: Path | None = None) -> Run:
    """Make the folder, write ``config.json`` and a ``running`` status; an existing run is resumed, not replaced."""
    path = (root or runs_dir()) / (run_id or new_run_id())
    path.mkdir(parents=True, exist_ok=True)
    run = Run(path)
    if (path / "status.json").exists():
        previous = run.config
        if previous != config:
            changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
            raise RunFormatError(f"{path}: exists with a different config ({', '.join(changed)}); use a new run id")
    else:
        atomic_write_json(path / "config.json", config)
    run.set_status(
        format=RUN_FORMAT, state="running", error=None, started=time.time(), finished=None,
        pid=os.getpid(), host=socket.gethostname(),
        methods_done=run.status.get("methods_done", []) if (path / "status.json").exists() else [],
    )
    return run


def load_run(ref: str | Path) -> Run:
    """A run by folder path or by id under ``cache/runs``; checks that it is one (RunFormatError otherwise)."""
    path = Path(ref)
    if not path.is_dir():
        path = runs_dir() / str(ref)
    if not path.is_dir():
        raise RunFormatError(f"no run {ref!r} (looked for a folder and in {runs_dir()})")
    run = Run(path)
    run.status  # noqa: B018 - validates the format
    return run


def list_runs(root: Path | None = None) -> list[Run]:
    """Run folders under ``cache/runs`` (newest first), including running and failed ones; not temp folders."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    found = [Run(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "status.json").exists()]
    return sorted(found, key=lambda r: r.path.stat().st_mtime, reverse=True)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
