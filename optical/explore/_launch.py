"""The built-in experiment started from the app: ``prepare`` then ``run`` as child processes, read back live.

The app stays responsive (and survives a crash of the run) because the work happens in other processes; a
background thread starts them one after the other and their output goes to a log file the app tails. The
run itself reports progress as lines ``[ 25%] message`` (``optical.experiment.run_experiment``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from optical.store import REPO_ROOT, cache_dir

_PROGRESS = re.compile(r"^\[\s*(\d+)%\]\s*(.*)$")


def experiment_commands(preset: str, run_id: str, python: str = sys.executable) -> list[list[str]]:
    """The commands the app runs: make the offline assets (idempotent), then the experiment into ``run_id``.
    The full preset's teacher also trains on OpenClipart (``FULL_TEACHER_SOURCES`` of optical.config)."""
    extras = ["--with", "openclipart"] if preset == "full" else []
    return [
        [python, "-m", "optical", "prepare", *extras],
        [python, "-m", "optical", "run", "--preset", preset, "--run-id", run_id],
    ]


def parse_progress(lines: Iterable[str]) -> tuple[float, str] | None:
    """The last ``[ NN%] message`` line as ``(fraction, message)``, or None before the first one."""
    last = None
    for line in lines:
        match = _PROGRESS.match(line.strip())
        if match:
            last = (min(int(match.group(1)), 100) / 100, match.group(2))
    return last


class ExperimentJob:
    """Child processes run one after the other in the background, their output appended to ``log_path``.

    ``state`` is ``running`` until every command exited 0 (``done``), one failed (``failed``, see
    ``returncode``) or ``stop()`` was called (``stopped``).
    """

    def __init__(self, run_id: str, commands: list[list[str]], log_path: Path | None = None):
        self.run_id = run_id
        self.commands = commands
        self.log_path = log_path or cache_dir() / "logs" / f"{run_id}.log"
        self.state = "running"
        self.step = 0
        self.returncode: int | None = None
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drive, name=f"optical-{run_id}", daemon=True)

    def start(self) -> ExperimentJob:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")
        self._thread.start()
        return self

    def _drive(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab", buffering=0) as log:
            for step, command in enumerate(self.commands):
                with self._lock:
                    if self.state != "running":
                        return
                    self.step = step
                    log.write(f"$ {shlex.join(command)}\n".encode())
                    self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
                code = self._process.wait()
                with self._lock:
                    if self.state != "running":
                        return
                    if code != 0:
                        self.returncode, self.state = code, "failed"
                        return
        with self._lock:
            self.returncode, self.state = 0, "done"

    def stop(self) -> None:
        """Terminate the running command and start no further one."""
        with self._lock:
            if self.state != "running":
                return
            self.state = "stopped"
            if self._process is not None and self._process.poll() is None:
                self._process.terminate()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends (or ``timeout`` seconds pass); returns ``state``."""
        self._thread.join(timeout)
        return self.state

    def log_lines(self, n: int | None = None) -> list[str]:
        """The log's last ``n`` non-empty lines (all by default); progress-bar redraws (``\\r``) split lines."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        lines = [line.rstrip() for line in re.split(r"[\r\n]+", text) if line.strip()]
        return lines[-n:] if n else lines

    def progress(self) -> tuple[float, str]:
        """``(fraction, message)`` of the run's last progress line, or the stage before the first one."""
        found = parse_progress(self.log_lines())
        if found is not None:
            return found
        return 0.0, "preparing the offline assets" if self.step < len(self.commands) - 1 else "starting the run"
