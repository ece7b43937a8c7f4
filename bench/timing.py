"""Timing a child process: wall time, its own peak RSS and CPU time (the benches run the CLI as a user would)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Run ``command`` in the checkout: (wall s, its peak RSS GiB, its CPU s, stdout); exits when it fails."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                                 stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN sums them all)
        wall = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if child.returncode != 0:
            sys.exit(f"{' '.join(command[:4])} ... failed ({child.returncode}):\n{err.read()[-3000:]}")
        return wall, usage.ru_maxrss / 2**20, usage.ru_utime + usage.ru_stime, out.read()  # ru_maxrss: KiB
