"""``python -m optical report RUN`` on a synthetic run folder of the full preset's size (goal <= 10 s).

    python bench/report.py [--images 140] [--boot 1000] [--keep DIR]

Writes ranks/test/<method>.csv for the full preset's 13 languages (English + 12) x 4 methods, one caption per
image (t2i) and one i2t query per image, with per-method quality levels so the bootstrap has real spread; then
times the summary in this process and the whole ``report`` command in a fresh one (Python start and imports
included).
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.store import RUN_FORMAT, Run, atomic_write_json  # noqa: E402
from optical.config import ExperimentConfig  # noqa: E402
from optical.results import RankSource, write_groups, write_ranks  # noqa: E402


def synthetic_run(folder: Path, n_images: int, n_boot: int) -> Run:
    """A done run whose ranks files have the full preset's shape; ranks are geometric, better for later methods."""
    config = ExperimentConfig(bootstrap=n_boot)
    atomic_write_json(folder / "config.json", config.to_dict())
    atomic_write_json(folder / "status.json", {"format": RUN_FORMAT, "state": "done", "methods_done": config.methods})
    run = Run(folder)
    rng = np.random.default_rng(0)
    image_group = np.arange(n_images) * 9 // 10  # about 10% of the images share a group with a neighbour
    write_groups(run, "test", [[f"img{i}.png" for i in np.flatnonzero(image_group == g)] for g in range(image_group[-1] + 1)])
    languages = ["en", *config.languages]
    for m, method in enumerate(config.methods):
        ranks, groups = {}, {}
        for lang_index, lang in enumerate(languages):
            p = 0.15 + 0.05 * m + 0.3 / (1 + lang_index)  # per-query chance of a hit at each rank
            ranks[lang] = (rng.geometric(p, n_images) - 1, rng.geometric(p, n_images) - 1)
            groups[lang] = (image_group, image_group)
        write_ranks(run, "test", method, ranks, groups)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=140, help="test images (t2i and i2t queries) per language")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap draws")
    parser.add_argument("--keep", type=Path, help="write the run folder here instead of a temporary one")
    args = parser.parse_args()
    folder = args.keep if args.keep is not None else Path(tempfile.mkdtemp(prefix="bench-report-")) / "synthetic-full"
    run = synthetic_run(folder, args.images, args.boot)
    config = run.config
    size = sum(f.stat().st_size for f in (folder / "ranks").rglob("*") if f.is_file())
    print(f"synthetic run {folder}: {len(config['languages']) + 1} languages x {len(config['methods'])} methods x "
          f"{args.images} t2i + {args.images} i2t queries, {args.boot} bootstrap draws, ranks/ {size / 1024:.0f} KiB")
    t0 = time.perf_counter()
    summary = RankSource().summarize([run])
    in_process = time.perf_counter() - t0
    print(f"RankSource.summarize (in process):      {in_process:6.2f} s  ({len(summary['paired'])} paired comparisons)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "optical", "report", str(folder)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    check = subprocess.run(
        [sys.executable, "-c", "import sys; from optical.cli import main; main(['report', sys.argv[1]]); "
         "print('torch' in sys.modules)", str(folder)], env=env, capture_output=True, text=True,
    )
    torch_loaded = check.stdout.strip().splitlines()[-1]
    print(f"python -m optical report RUN (fresh process): {wall:6.2f} s  goal <= 10 s: {'met' if wall <= 10 else 'MISSED'}"
          f"; torch imported: {torch_loaded}")
    if args.keep is None:
        shutil.rmtree(folder.parent)


if __name__ == "__main__":
    main()
