"""Query latency of `optical.evaluate.search`: one text query -> top-k images, exact numpy vs faiss IndexFlatIP.

Design budget (section 7): <= 30 ms per query for 1k images, <= 100 ms for 100k. Random L2-normalised vectors
stand in for image features (search cost depends only on the sizes). Prints ms per query (median and p95 of
single-query calls), the one-off faiss index build, and batched throughput.

    python bench/search.py [--dim 384] [--sizes 1000 100000] [--queries 200] [--k 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faiss  # noqa: E402,F401  (imported here so its import time is not counted as index build)

from optical.evaluate import FAISS_MIN_GALLERY, build_index, search  # noqa: E402

BUDGET_MS = {1_000: 30.0, 100_000: 100.0}


def normalised(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def per_query_ms(queries: np.ndarray, gallery, k: int, method: str) -> np.ndarray:
    search(queries[:1], gallery, k, method=method)  # warm-up
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query[None], gallery, k, method=method)
        times.append(1e3 * (time.perf_counter() - start))
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=384, help="feature width (the teacher's embedding width)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000], help="gallery sizes")
    parser.add_argument("--queries", type=int, default=200, help="single queries timed per size and method")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    queries = normalised(rng, args.queries, args.dim)
    print(f"dim={args.dim} k={args.k} queries={args.queries} cpus={os.cpu_count()} auto->faiss at >= {FAISS_MIN_GALLERY}")
    for size in args.sizes:
        gallery = normalised(rng, size, args.dim)
        start = time.perf_counter()
        index = build_index(gallery)
        build_ms = 1e3 * (time.perf_counter() - start)
        budget = BUDGET_MS.get(size)
        print(f"gallery {size:>7}: faiss index build {build_ms:7.2f} ms (once)" + (f", budget {budget:.0f} ms/query" if budget else ""))
        for label, target, method in (("exact numpy", gallery, "exact"), ("faiss (built)", index, "faiss"), ("auto", gallery, "auto")):
            if method == "auto" and size >= FAISS_MIN_GALLERY:
                target = index  # auto on a cached index is the app's path; rebuilding per query is not
            times = per_query_ms(queries, target, args.k, method)
            verdict = "" if budget is None else ("  ok" if np.median(times) <= budget else "  OVER BUDGET")
            print(f"  {label:<14} single query: median {np.median(times):7.3f} ms, p95 {np.percentile(times, 95):7.3f} ms{verdict}")
        for label, target, method in (("exact numpy", gallery, "exact"), ("faiss (built)", index, "faiss")):
            start = time.perf_counter()
            search(queries, target, args.k, method=method)
            batch_ms = 1e3 * (time.perf_counter() - start) / len(queries)
            print(f"  {label:<14} batch of {len(queries)}: {batch_ms:7.3f} ms/query")


if __name__ == "__main__":
    main()
