"""Time of `summarize_seed` (every bootstrap figure of a run's metrics.json) at the full preset's size.

Issue 12's budget: `report` of the full preset (13 languages x 4 methods, about 140 + 140 queries each, 123 test
image groups, 1,000 draws) in <= 10 s in all. Random ranks stand in for a run's (the cost depends only on the
sizes); a few images per language have no caption, as in the stamps test split. Also times a 3-seed study.

    python bench/bootstrap.py [--draws 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.config import FULL_LANGUAGES  # noqa: E402
from optical.results import summarize_seed, summarize_seeds  # noqa: E402

METHODS = ("zero-shot", "mse", "optical", "optical+mse")
N_IMAGES, N_GROUPS, BUDGET_S = 140, 123, 10.0


def fake_split(rng: np.random.Generator) -> dict:
    """groups[lang] = (t2i group ids, i2t group ids), shaped like the full preset's test split."""
    image_group = np.sort(np.concatenate([np.arange(N_GROUPS), rng.integers(0, N_GROUPS, N_IMAGES - N_GROUPS)]))
    groups = {}
    for lang in ("en", *FULL_LANGUAGES):
        images = np.sort(rng.choice(N_IMAGES, size=int(rng.integers(N_IMAGES - 8, N_IMAGES + 1)), replace=False))
        groups[lang] = (image_group[images], image_group[images])  # one caption per image
    return groups


def fake_ranks(rng: np.random.Generator, groups: dict) -> dict:
    """ranks[method][lang] = (t2i, i2t) for the queries of ``groups``."""
    return {
        m: {lang: tuple(rng.geometric(0.2, size=len(g)) - 1 for g in pair) for lang, pair in groups.items()}
        for m in METHODS
    }


def timed(label: str, call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    met = "met" if median <= BUDGET_S else "OVER"
    print(f"{label:<44} median {median:6.2f} s  (n={repeats})  budget {BUDGET_S:.0f} s: {met}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    groups = fake_split(rng)
    runs = [(fake_ranks(rng, groups), groups) for _ in range(3)]  # a study: one test split, three training seeds
    n_queries = sum(len(t) + len(i) for t, i in runs[0][0]["mse"].values())
    print(f"{len(groups)} languages x {len(METHODS)} methods, {n_queries} queries per method, {N_GROUPS} groups, "
          f"{args.draws} draws")
    summarize_seed(*runs[0], n_boot=10)  # warm-up (imports)
    timed("summarize_seed, by image group", lambda: summarize_seed(*runs[0], n_boot=args.draws), args.repeats)
    timed("summarize_seed, by query", lambda: summarize_seed(runs[0][0], None, n_boot=args.draws), args.repeats)
    timed("summarize_seeds, 3 seeds, by image group", lambda: summarize_seeds(runs, n_boot=args.draws), args.repeats)


if __name__ == "__main__":
    main()
