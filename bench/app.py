"""The app's budgets (design section 7), measured and printed; no asserts.

1. Cold start: ``streamlit run app.py`` started fresh -> Home's headline table rendered in headless Chromium
   (goal <= 5 s). Uses the newest finished run in ``cache/runs`` when there is one, else builds the tests'
   tiny run in a temporary cache (Home reads only JSON, so the model size does not matter there).
2. Query latency of ``optical.explore.search_images`` (what the Image Search page calls): encode one query
   with the text tower + top-10 search, over 1k and 100k L2-normalised random image embeddings (goals
   <= 30 ms / <= 100 ms). The text model is multilingual-e5-small with a projection (made by
   ``python -m optical prepare``), else the tiny test model (said in the output).
3. Memory added by loading a teacher and 3 students the app's way (students share the frozen word
   embeddings; goal <= 1.5 GB), e5 only: anonymous and file-backed (mapped weight files) apart.

    python bench/app.py [--repeats 3] [--queries 50] [--skip-browser]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optical import explore  # noqa: E402
from optical.errors import MissingAssetError  # noqa: E402
from optical.evaluate import FAISS_MIN_GALLERY, build_index  # noqa: E402
from optical.store import cache_dir  # noqa: E402
from tests.app.server import free_port, wait_healthy  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
QUERIES = ["ein roter Apfel", "un bateau bleu", "an madra", "isihlahla esiluhlaza", "تفاحة حمراء", "🍎 on a table"]


def _cache_with_a_run() -> tuple[Path, str]:
    """(OPTICAL_CACHE, description): the real cache if it holds a finished run, else a tiny one built now."""
    done = [info for info in explore.describe_runs() if info.state == "done" and info.has_results]
    if done:
        return cache_dir(), f"run {done[0].run_id} in {cache_dir()}"
    from tests.app.fixtures import build_runs

    root = Path(tempfile.mkdtemp(prefix="optical-bench-"))
    build_runs(root)
    return root, "the tests' tiny run (no finished run in cache/runs)"


def cold_start(cache: Path, repeats: int) -> list[tuple[float, float]]:
    """(seconds to the server answering, seconds to Home's table rendered), per fresh server process."""
    from playwright.sync_api import sync_playwright

    timings = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        for _ in range(repeats):
            page = browser.new_page()
            port = free_port()
            command = [
                sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
                "--server.port", str(port), "--server.headless", "true",
            ]
            start = time.perf_counter()
            server = subprocess.Popen(
                command, cwd=REPO, env={**os.environ, "OPTICAL_CACHE": str(cache)},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                if not wait_healthy(f"http://127.0.0.1:{port}", server, timeout=120, poll=0.05):
                    sys.exit(f"streamlit did not start on port {port}")
                ready = time.perf_counter() - start
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_text("Verdict.").wait_for(timeout=120_000)
                page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=120_000)
                timings.append((ready, time.perf_counter() - start))
            finally:
                server.terminate()
                server.wait(10)
                page.close()
        browser.close()
    return timings


def _text_model():
    """(model, name): e5-small + a 256-d projection (as a student), or the tiny test model."""
    from optical.distill import ProjectedTextEncoder
    from optical.encoders import create_text_encoder

    try:
        return ProjectedTextEncoder(create_text_encoder("multilingual-e5-small"), 256).eval(), "multilingual-e5-small"
    except MissingAssetError:
        from tests.fakes import tiny_text_encoder

        tiny = tiny_text_encoder()
        return ProjectedTextEncoder(tiny, 256).eval(), "tiny test BERT (run `python -m optical prepare` for e5)"


def query_latency(model, sizes: list[int], n_queries: int) -> None:
    """Median and p95 of query -> top-10 over random galleries: the app's choice (``Gallery.index``), and faiss."""
    rng = np.random.default_rng(0)
    for size in sizes:
        gallery = rng.standard_normal((size, model.embed_dim), dtype=np.float32)
        gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
        start = time.perf_counter()
        index = build_index(gallery)
        built_ms = 1e3 * (time.perf_counter() - start)
        app_path = "faiss IndexFlatIP" if size >= FAISS_MIN_GALLERY else "exact numpy"
        for path, searched in ((f"{app_path}, the app's choice", index if size >= FAISS_MIN_GALLERY else gallery),
                               (f"faiss IndexFlatIP, built once in {built_ms:.0f} ms", index)):
            explore.search_images(model, QUERIES[0], searched, 10)  # warm-up
            results = [explore.search_images(model, QUERIES[i % len(QUERIES)], searched, 10) for i in range(n_queries)]
            total = np.array([r.latency_ms for r in results])
            search_only = np.array([r.search_ms for r in results])
            print(
                f"  {size:>7,} images ({path}): median {np.median(total):.1f} ms, p95 {np.percentile(total, 95):.1f} ms "
                f"(search alone median {np.median(search_only):.2f} ms)   goal <= {30 if size <= 1_000 else 100} ms"
            )
            if size >= FAISS_MIN_GALLERY:
                break


def _memory_gib() -> dict[str, float]:
    """Resident memory of this process: anonymous (heap, tensors) and file-backed (mapped weight files)."""
    status = Path("/proc/self/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", status).group(1)) / 2**20 for key in ("RssAnon", "RssFile")}


def app_memory(model) -> dict[str, float]:
    """Memory after loading a teacher and 3 students the way the app does (``explore.load_models``)."""
    from optical.distill import DualEncoder
    from optical.store import RUN_FORMAT, Run

    run = Run(Path(tempfile.mkdtemp(prefix="optical-bench-run-")))
    teacher = DualEncoder(model.text, 256, 1280)
    teacher.freeze(4)  # as the experiment trains it: run folders then store the top layers on the e5 base
    teacher.save(run.teacher_dir)
    for method in ("mse", "optical", "optical+mse"):
        teacher.text_side().save(run.student_dir(method))
    (run.path / "config.json").write_text(json.dumps({"methods": ["zero-shot", "mse", "optical", "optical+mse"]}))
    (run.path / "status.json").write_text(json.dumps({"format": RUN_FORMAT, "state": "done"}))
    del teacher
    gc.collect()
    before = _memory_gib()
    start = time.perf_counter()
    loaded = explore.load_models(run)
    seconds = time.perf_counter() - start
    gc.collect()
    after = _memory_gib()
    assert len(loaded.students) == 3
    return {**{key: after[key] - before[key] for key in after}, "load_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh server starts timed")
    parser.add_argument("--queries", type=int, default=50, help="queries timed per gallery size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--skip-browser", action="store_true", help="only the query latency")
    args = parser.parse_args()
    print(f"optical app bench, {os.cpu_count()} CPU cores, torch threads {__import__('torch').get_num_threads()}")

    if not args.skip_browser:
        cache, what = _cache_with_a_run()
        print(f"cold start -> Home's headline table in Chromium, {what}:")
        for i, (ready, rendered) in enumerate(cold_start(cache, args.repeats), 1):
            print(f"  start {i}: server answering after {ready:.2f} s, table rendered after {rendered:.2f} s   goal <= 5 s")

    import torch

    model, name = _text_model()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        note = " (what the app uses)" if threads == 1 else ""
        print(f"text query -> top-10 images via optical.explore.search_images, {name}, width 256, {threads} torch thread(s){note}:")
        query_latency(model, args.sizes, args.queries)
    if name == "multilingual-e5-small":
        grown = app_memory(model)
        print(
            f"memory added by loading teacher + 3 students as the app does: anonymous {grown['RssAnon']:.2f} GiB, "
            f"file-backed (mapped weights) {grown['RssFile']:.2f} GiB   goal <= 1.5 GB; loaded in {grown['load_s']:.2f} s"
        )


if __name__ == "__main__":
    main()
