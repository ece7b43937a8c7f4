"""A small sweep with teacher reuse against the same runs one by one (each training its own teacher).

    python bench/sweep.py                      # tiny random models on a generated stamps set (seconds)
    python bench/sweep.py --preset quick --cache /work/cache4 --languages de,ga --methods zero-shot,optical
    python bench/sweep.py --grid ot.reg=0.01,0.05,0.2 --grid bitext_pairs=8,16,24,all --seeds 0,1,2   # the 3 x 4 x 3 of the issue, tiny

Default grid: ot.reg x 2, bitext_pairs x 2, 2 seeds (8 runs). Both sides run in this process on a temporary cache (with
--cache, its prepared assets are linked in; nothing is written there). "With reuse" is `run_sweep`: one teacher per
seed (cache/teachers), and in memory the teacher and the students' inputs (teacher token states of the English
bitext, frozen-layer outputs of the foreign side) shared by the points with the same bitext. "One by one" clears
all of that before every run, as separate `python -m optical run` commands would. An untimed warm-up run first
caches the image features (both sides would otherwise differ by that).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.config import ExperimentConfig, parse_grid, preset  # noqa: E402
from optical.experiment import design_sweep, forget_shared, run_experiment, run_sweep, sweep_run_config  # noqa: E402
from optical.store import Sweep, create_run, teachers_dir  # noqa: E402

GRID = ["ot.reg=0.05,0.2", "bitext_pairs=8,all"]
SEEDS = [0, 1]


def tiny_config(root: Path) -> ExperimentConfig:
    """A generated 40-stamp dataset and the tests' tiny random text tower (``tests.fakes``)."""
    from optical.data import prepare_stamps
    from tests.fakes import make_deb, saved_tiny_text_encoder, stamp_files

    prepare_stamps(make_deb(root / "stamps.deb", stamp_files(40)), progress=False)
    config = ExperimentConfig(
        languages=["de", "fr"], methods=["zero-shot", "mse", "optical"],
        text_encoder=str(saved_tiny_text_encoder(root)), embed_dim=8, bootstrap=50, plan_samples=2, teacher_train_layers=-1, student_train_layers=-1,
    )
    config.teacher.epochs, config.teacher.batch_size = 4, 8
    config.student.epochs, config.student.batch_size = 1, 8
    return config


def linked_cache(source: Path, root: Path) -> None:
    """``root`` gets links to the prepared assets of cache ``source`` (not its runs, teachers or sweeps)."""
    for entry in source.iterdir():
        if entry.name not in ("runs", "teachers", "sweeps"):
            (root / entry.name).symlink_to(entry.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["quick", "full"], help="real settings (needs --cache); default: tiny")
    parser.add_argument("--cache", type=Path, help="a prepared OPTICAL_CACHE (read only)")
    parser.add_argument("--languages", default="de,ga")
    parser.add_argument("--methods", default="zero-shot,optical")
    parser.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                        help=f"a grid axis, as for `optical sweep` (repeat; default {' '.join(GRID)})")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma-separated seeds")
    args = parser.parse_args()
    axes, seeds = args.grid or GRID, [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    root = Path(tempfile.mkdtemp(prefix="optical-bench-sweep-"))
    os.environ["OPTICAL_CACHE"] = str(root)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        if args.preset:
            if args.cache is None:
                parser.error("--preset needs --cache (a prepared cache)")
            linked_cache(args.cache, root)
            base = preset(args.preset)
            base.languages, base.methods = args.languages.split(","), args.methods.split(",")
        else:
            base = tiny_config(root)
        grid = parse_grid(axes)
        print(f"grid {axes} x seeds {seeds}, languages {base.languages}, methods {base.methods}, "
              f"{torch.get_num_threads()} torch threads", flush=True)

        warm = ExperimentConfig.from_dict({**base.to_dict(), "methods": ["zero-shot"]})  # image features cached once
        run_experiment(warm, create_run(warm.to_dict(), "warm-up"), progress=lambda f, m: None)
        shutil.rmtree(teachers_dir())
        forget_shared()
        sweep = Sweep.create(design_sweep(base, grid, seeds, "reuse"))
        t0 = time.perf_counter()
        run_sweep(sweep, progress=False)
        reuse = time.perf_counter() - t0
        teachers = len(list(teachers_dir().iterdir()))

        t0 = time.perf_counter()
        for point, seed, _ in sweep.planned():
            forget_shared()
            shutil.rmtree(teachers_dir(), ignore_errors=True)
            config = sweep_run_config(sweep, point, seed)
            run = create_run(config.to_dict(), f"alone_{point['name']}_s{seed}")
            run_experiment(config, run, progress=lambda f, m: None)
        alone = time.perf_counter() - t0
        n = len(sweep.planned())
        print(f"with teacher reuse: {reuse:7.1f} s for {n} runs ({teachers} teachers trained)")
        print(f"one by one:         {alone:7.1f} s for {n} runs ({n} teachers trained)")
        print(f"share saved by reuse: {1 - reuse / alone:.0%}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
