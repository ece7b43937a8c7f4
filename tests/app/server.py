"""A streamlit server on a free local port, for the browser tests and the benches that drive the app."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float, poll: float = 0.2) -> bool:
    """Whether streamlit at ``url`` answers its health check within ``timeout`` seconds; False as soon as the
    ``server`` process has exited, or at the timeout."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            if server.poll() is not None or time.perf_counter() > deadline:
                return False
            time.sleep(poll)
