"""Run folders: ``cache/runs/<run-id>/``, written by the experiment, read by the CLI report and the app.

Layout (format 1)::

    config.json         the ExperimentConfig
    status.json         {"format", "state": running|done|failed, "error", "traceback", "started", "finished",
                        "methods_done", "pid", "host", "device", "students": {method: {"best_epoch", "epochs_run",
                        "val_mR"}} (the epoch each student's validation chose; optical+mse also "first_step": its
                        terms' gradient norms at the first step and their ratio, before and after weighting),
                        "teacher" (its key in cache/teachers), "sweep" (the sweep that made the run, if any),
                        "plan_diagnostics" (how much alignment the OT plans carry per method, on a fixed sample of
                        val pairs: ``optical.experiment.plan_statistics``; written when the run finishes)}
    teacher/            the teacher (DualEncoder folder): hard links to ``cache/teachers/<key>/``, which every run
                        with the same teacher settings, data and seed loads instead of training it again; its
                        ``training.json`` ({"best_epoch", "epochs_run", "val_mR"}: the epoch English val chose) is
                        absent for teachers stored before it was recorded
    students/<method>/  each distilled student (ProjectedTextEncoder folder)
    work/               training checkpoints for ``--resume``; removed when the run is done (``prune_work``)
    gallery.json        test images (paths, groups) and captions per language {lang: {texts, image}}; gallery.npy
                        the teacher's image embeddings (I, D) the app searches. Image paths are relative to the
                        cache or to their dataset folder (``optical.store.stored_images``: format 2), so a copied run folder
                        finds them; older galleries hold absolute paths
    ranks/<dataset>/    per-query ranks, one <method>.csv per method (language, direction, query, group, rank) and
                        groups.json (the image paths of each group id); dataset "test" (every language on the images
                        captioned in all of the run's languages), "test-full" (each language's own test set), and
                        "task2" for Multi30k
    metrics.json        per method x language recalls, CIs, disparity, paired differences: summarised from ranks/
                        (a partial one with fewer bootstrap draws after each method while running)
                        (``metrics`` format 1: keys ``format``, ``languages``, ``methods``, ``resource``, ``results``;
                        ``plan_diagnostics``, from status.json, when the run recorded them)
    plans.json          transport-plan samples for the app
    .lock               the OS lock of the process writing the run; .lock-owner.json says who took it

A study (``optical.store.Study``) is a folder ``cache/runs/<id>/`` with ``study.json`` and no ``status.json``, listing
its runs ``<id>-s<seed>``; ``list_runs`` skips it. A run id is one path component (``RUN_ID_PATTERN``); nothing is ever written outside ``cache/runs``. Every file is written atomically; ``status.json`` says whether the rest is final. Runs from before ranks/ have a
``ranks.csv`` instead, which nothing reads (their metrics.json is what the app and ``report`` show). A run that
raised is marked ``failed`` with the error; one whose process was killed reads as ``interrupted`` (``--resume`` continues it).
Readers never take a running, failed or interrupted run's metrics as final.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from optical.errors import InputError
from optical.store._atomic import atomic_write_json
from optical.store._files import RunFormatError, changed_keys, newest_first, read_json
from optical.store._paths import runs_dir

RUN_FORMAT = 1
METRICS_FORMAT = 1
METRICS_KEYS = ("languages", "methods", "resource", "results")
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
TEACHER_TRAINING = "training.json"  # in the teacher folder: the epoch its validation chose (``Run.teacher_training``)
RUNTIME_KEYS = ("device",)  # config keys a resumed run may change (recorded in status.json, not config.json)


@dataclass
class Run:
    """A handle on one run folder."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    def _read(self, name: str) -> dict | list:
        return read_json(self.path / name, "the run is incomplete")

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
        """``metrics.json``, checked to be one this version reads (RunFormatError otherwise); possibly partial
        while the run is running (see ``status['methods_done']``). The CLI's report and the app both read it here."""
        metrics = self._read("metrics.json")
        found = metrics.get("format") if isinstance(metrics, dict) else None
        missing = [k for k in METRICS_KEYS if k not in metrics] if isinstance(metrics, dict) else list(METRICS_KEYS)
        if missing or found != METRICS_FORMAT:
            raise RunFormatError(
                f"{self.path / 'metrics.json'}: not a metrics file this version reads (format {found!r}, expected "
                f"{METRICS_FORMAT}; missing keys: {', '.join(missing) or 'none'}); re-run the experiment "
                f"(python -m optical run --run-id NEW_ID)"
            )
        return metrics

    def failure(self) -> str | None:
        """Why the run stopped, in one line: the recorded error and where it was raised, or that its process is
        gone; None for a running or finished run."""
        status, state = self.status, self.state
        if state == "interrupted":
            return (
                f"interrupted: its process (pid {status.get('pid')} on {status.get('host')}) is gone; continue it "
                f"with python -m optical run --resume {self.run_id}"
            )
        if state != "failed":
            return None
        lines = (status.get("traceback") or "").splitlines()
        frames = [line.strip() for line in lines if line.strip().startswith("File ")]
        where = f" ({frames[-1]})" if frames else ""
        return f"failed: {status.get('error') or 'no error recorded'}{where}"

    def mark_failed(self, err: BaseException) -> None:
        """Record ``err`` (and the traceback being handled) as the reason the run failed."""
        self.set_status(state="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())

    def plans(self) -> list[dict]:
        return self._read("plans.json")

    def gallery(self) -> dict:
        return self._read("gallery.json")

    def teacher_training(self) -> dict | None:
        """``teacher/training.json`` (``best_epoch``, ``epochs_run``, ``val_mR``), or None when the teacher has none
        (a pretrained teacher, a run still training it, or one stored before it was recorded)."""
        if not (self.teacher_dir / TEACHER_TRAINING).is_file():
            return None
        training = self._read(f"teacher/{TEACHER_TRAINING}")
        if not isinstance(training, dict):
            raise RunFormatError(f"{self.teacher_dir / TEACHER_TRAINING}: expected a JSON object")
        return training

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


def check_run_id(run_id: str, what: str = "run id", under: str | Path | None = None) -> str:
    """``run_id`` if it is one safe path component (``RUN_ID_PATTERN``), else an InputError saying what is allowed.
    The same names the folders of sweeps (``what="sweep id"``) and evaluations (``"evaluation name"``), each one
    folder name under ``under`` (default ``cache/runs``)."""
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise InputError(
            f"{what} {run_id!r} is not allowed: use 1-100 letters, digits, '.', '_' or '-', starting with a letter "
            f"or digit (one folder name under {under or runs_dir()}, no '/')"
        )
    return run_id


def create_run(config: dict, run_id: str | None = None, root: Path | None = None) -> Run:
    """Make the folder, write ``config.json`` and a ``running`` status; an existing run is resumed, not replaced.

    An existing run keeps its ``config.json``; ``config`` may differ from it only in ``RUNTIME_KEYS``.
    """
    path = (root or runs_dir()) / check_run_id(run_id or new_run_id())
    path.mkdir(parents=True, exist_ok=True)
    run = Run(path)
    if (path / "status.json").exists():
        changed = changed_keys(run.config, config, RUNTIME_KEYS)
        if changed:
            raise RunFormatError(f"{path}: exists with a different config ({', '.join(changed)}); use a new run id")
    else:
        atomic_write_json(path / "config.json", config)
    run.set_status(
        format=RUN_FORMAT, state="running", error=None, traceback=None, started=time.time(), finished=None,
        pid=os.getpid(), host=socket.gethostname(),
        methods_done=run.status.get("methods_done", []) if (path / "status.json").exists() else [],
    )
    return run


def load_run(ref: str | Path, *, writable: bool = False) -> Run:
    """A run by folder path or by id under ``cache/runs``; checks that it is one (RunFormatError otherwise).

    ``writable``: the run will be written to, so it must be a folder directly inside ``cache/runs`` (InputError
    otherwise); any folder may be read.
    """
    if not str(ref).strip():
        raise InputError("an empty run id was given: pass a run id (under cache/runs) or a run's folder")
    path = Path(ref)
    if not path.is_dir():
        path = runs_dir() / str(ref)
    if not path.is_dir():
        raise RunFormatError(f"no run {ref!r} (looked for a folder and in {runs_dir()})")
    if not (path / "status.json").exists() and not (path / "config.json").exists():
        raise RunFormatError(f"{path}: not a run folder (it has no status.json or config.json); pass a run id under "
                             f"{runs_dir()} or the folder of a run")
    if writable and (path.resolve().parent != runs_dir().resolve() or not RUN_ID_PATTERN.fullmatch(path.name)):
        raise InputError(
            f"{path}: only runs inside {runs_dir()} can be continued (nothing is written elsewhere); copy the folder "
            f"there and pass its id"
        )
    run = Run(path)
    run.status  # noqa: B018 - validates the format
    return run


def list_runs(root: Path | None = None) -> list[Run]:
    """Run folders under ``cache/runs`` (newest first), including running and failed ones; not temp folders."""
    return [Run(path) for path in newest_first(root or runs_dir(), "status.json")]


def run_state(run_id: str, root: Path | None = None) -> str:
    """``pending`` (no run in folder ``run_id`` of ``root``, default ``cache/runs``, yet) or the run's state (running,
    done, failed, interrupted); an unreadable run reads as failed."""
    path = (root or runs_dir()) / run_id
    if not (path / "status.json").is_file():
        return "pending"
    try:
        return Run(path).state
    except RunFormatError:
        return "failed"


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
