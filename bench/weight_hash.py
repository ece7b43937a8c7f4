"""What checking converted weights by content hash costs a process: hashing e5's model.safetensors (470 MB), printed;
nothing is asserted.

Run from the repository root after ``python -m optical prepare``: ``python -m bench.weight_hash``. The first load of
the text tower in a process hashes the file in full (``optical.encoders._weights.content_sha256``); later loads in
the same process find the hash in memory. The first figure may include reading the file from disk; the best one
reads it from the page cache.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from optical.encoders import create_text_encoder
from optical.store import models_dir

E5 = "multilingual-e5-small"


def sha256_seconds(file: Path) -> float:
    """Seconds to hash ``file`` as the check does (sha256, 4 MiB reads)."""
    start = time.perf_counter()
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return time.perf_counter() - start


def bench_weight_hash(repeats: int = 3) -> dict[str, float]:
    """Seconds to hash e5's weights (the first time and the best of ``repeats``) and to load the tower twice in
    one process: the first load includes the check, the second finds it done."""
    file = models_dir() / E5 / "model.safetensors"
    times = [sha256_seconds(file) for _ in range(repeats)]
    loads = []
    for _ in range(2):
        start = time.perf_counter()
        create_text_encoder(E5)
        loads.append(time.perf_counter() - start)
    size_mb = file.stat().st_size / 1e6
    result = {"size_mb": size_mb, "hash_first_s": times[0], "hash_best_s": min(times),
              "hash_mb_per_s": size_mb / min(times), "first_load_s": loads[0], "second_load_s": loads[1]}
    print(f"sha256 of {file} ({size_mb:.0f} MB): first {times[0]:.2f} s, best of {repeats} {min(times):.2f} s "
          f"({result['hash_mb_per_s']:.0f} MB/s)")
    print(f"create_text_encoder({E5!r}): first load in this process {loads[0]:.2f} s (with the check), "
          f"second {loads[1]:.2f} s (checked already)")
    return result


if __name__ == "__main__":
    bench_weight_hash()
