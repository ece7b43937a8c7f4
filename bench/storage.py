"""Disk use of a run: the tests' tiny experiment (fake stamps, tiny 2-layer BERT, every trained method) run in a
temporary cache; prints the run folder's size by part and the bytes the process wrote while running it.

    python bench/storage.py [--train-layers 1]

``--train-layers`` sets the teacher's and the students' trainable top layers (-1: all; the tiny tower has 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (0 when absent)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _written() -> int:
    """Bytes this process passed to write calls so far (Linux ``/proc/self/io``, ``wchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-layers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["OPTICAL_CACHE"] = str(root / "cache")
        from optical.data import prepare_stamps
        from optical.config import ExperimentConfig
        from optical.experiment import run_experiment
        from optical.store import create_run
        from tests.fakes import make_deb, saved_tiny_text_encoder, stamp_files

        prepare_stamps(make_deb(root / "stamps.deb", stamp_files(40)), progress=False)
        config = ExperimentConfig(
            languages=["de", "fr"], text_encoder=str(saved_tiny_text_encoder(root)), embed_dim=8, bootstrap=50,
            plan_samples=2, teacher_train_layers=args.train_layers, student_train_layers=args.train_layers,
        )
        config.teacher.epochs = config.student.epochs = 2
        config.teacher.batch_size = config.student.batch_size = 8
        run = create_run(config.to_dict(), "storage")
        before = _written()
        run_experiment(config, run, progress=lambda f, m: None)
        written = _written() - before
        base = _size(root / "tiny-text" / "model.safetensors")
        print(f"tiny experiment, train layers {args.train_layers}, methods {', '.join(config.methods)}")
        print(f"base text tower weights: {base / 1e3:.1f} kB")
        for part in ("teacher", "students", "work"):
            print(f"  {part + '/':10s} {_size(run.path / part) / 1e3:9.1f} kB")
        print(f"run folder: {_size(run.path) / 1e3:.1f} kB; bytes written by the run: {written / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
