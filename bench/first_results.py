"""Time to first results, as a new user meets it: a fresh clone, README command 1, the app's quick-preset button,
the first per-language table on Home (goal <= 5 min on these 2 cores).

    python bench/first_results.py [--clone-from .] [--keep]

1. ``git clone`` of this checkout's HEAD into a temporary folder;
2. README command 1 there, timed step by step: ``python3 -m venv .venv``, ``pip install -r requirements.lock -e .``
   (pip's own download cache is whatever this machine has), ``python -m optical prepare``, then ``streamlit run
   app.py`` headless on 127.0.0.1 until its health check answers;
3. headless Chromium (Debian's, through this checkout's playwright) opens Home, picks the quick preset, clicks
   "Run the built-in experiment" and waits for the table "mR per language and method" with a row per language
   (it appears when the first method, zero-shot, has its ranks; the others follow as they finish).

Prints each phase and the total from the clone to that table; then (``--finish``) how long the whole quick run took.
The clone, its venv and its cache are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.app.server import free_port, wait_healthy  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
HEADLINE = "mR per language and method"


def _phase(name: str, command: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - t0
    print(f"{name:44s} {seconds:7.1f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clone-from", default=str(REPO), help="repository to clone (default: this checkout)")
    parser.add_argument("--keep", action="store_true", help="keep the clone (printed)")
    parser.add_argument("--finish", action="store_true", help="also wait for the whole quick run to finish")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="optical-first-results-"))
    clone = home / "optical"
    env = {k: v for k, v in os.environ.items() if k not in ("OPTICAL_CACHE", "PYTHONPATH", "VIRTUAL_ENV")}
    env["HF_HUB_OFFLINE"] = "1"
    server = None
    try:
        total = _phase("git clone", ["git", "clone", "-q", args.clone_from, str(clone)], home, env)
        total += _phase("python3 -m venv .venv", ["python3", "-m", "venv", ".venv"], clone, env)
        total += _phase("pip install -r requirements.lock -e .",
                        [".venv/bin/pip", "install", "-q", "-r", "requirements.lock", "-e", "."], clone, env)
        total += _phase("python -m optical prepare", [".venv/bin/python", "-m", "optical", "prepare"], clone, env)
        port = free_port()
        t0 = time.perf_counter()
        log = open(home / "streamlit.log", "wb")
        server = subprocess.Popen([".venv/bin/streamlit", "run", "app.py", "--server.address", "127.0.0.1",
                                   "--server.port", str(port), "--server.headless", "true",
                                   "--browser.gatherUsageStats", "false"], cwd=clone, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        if not wait_healthy(url, server, timeout=120):
            sys.exit(f"streamlit did not start:\n{(home / 'streamlit.log').read_text()[-3000:]}")
        seconds = time.perf_counter() - t0
        total += seconds
        print(f"{'streamlit run app.py (health check answers)':44s} {seconds:7.1f} s", flush=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            t0 = time.perf_counter()
            page.goto(url)
            button = page.get_by_role("button", name="Run the built-in experiment")
            button.wait_for(timeout=60_000)
            page.get_by_text("quick", exact=True).first.click()
            button.click()
            clicked = time.perf_counter()
            page.get_by_text(HEADLINE).wait_for(timeout=20 * 60_000)
            page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=60_000)
            seconds = time.perf_counter() - t0
            total += seconds
            print(f"{'page, click quick, first per-language table':44s} {seconds:7.1f} s "
                  f"({time.perf_counter() - clicked:.1f} s after the click)", flush=True)
            print(f"{'total: fresh clone to first results':44s} {total:7.1f} s = {total / 60:.1f} min (goal <= 5)",
                  flush=True)
            if args.finish:
                page.get_by_text("finished; its results are below").wait_for(timeout=30 * 60_000)
                print(f"{'the whole quick run, from the click':44s} {time.perf_counter() - clicked:7.1f} s",
                      flush=True)
            page.screenshot(path=str(home / "first-results.png"))
            browser.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
