"""Disk size and time of the region-feature cache (issue 22's budget: stamps + OpenClipart + art4apps <= 1 GB).

    python bench/region_cache.py [--encoder efficientnet-lite0] [--limit N]

Encodes the region grids (``encode_image_regions``: fp16, (R, C) per image) of every prepared image of the three
datasets (run ``prepare --with openclipart --with art4apps`` first; a dataset not prepared is skipped and named)
into the real cache, then prints the images, regions per image, bytes on disk and the seconds taken; a second call
reads the cache and prints how long that took. ``--limit N`` encodes N images per dataset and scales the size up.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.encoders import create_image_encoder, encode_image_regions  # noqa: E402
from optical.store import cache_dir  # noqa: E402

DATASETS = {"stamps": "stamps/images", "openclipart": "openclipart/images", "art4apps": "art4apps/images"}
SUFFIXES = {".png", ".jpg", ".jpeg", ".gif"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="efficientnet-lite0")
    parser.add_argument("--limit", type=int, help="images per dataset (the size is scaled to all of them)")
    args = parser.parse_args()
    encoder = create_image_encoder(args.encoder).eval()
    total_images, total_bytes = 0, 0.0
    for name, folder in DATASETS.items():
        root = cache_dir() / folder
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES) if root.is_dir() else []
        if not paths:
            print(f"{name}: not prepared ({root}), skipped")
            continue
        chosen = paths[: args.limit] if args.limit else paths
        t0 = time.perf_counter()
        regions = encode_image_regions(chosen, encoder, progress=False)
        encoded = time.perf_counter() - t0
        t0 = time.perf_counter()
        encode_image_regions(chosen, encoder, progress=False)
        cached = time.perf_counter() - t0
        size = regions[0].nbytes * len(paths)  # fp16 (R, C) per distinct image, the .npy header aside
        total_images += len(paths)
        total_bytes += size
        print(f"{name}: {len(paths)} images, {regions.shape[1]} regions x {regions.shape[2]} per image, "
              f"{size / 2**20:.0f} MiB; encoded {len(chosen)} in {encoded:.1f} s, read back from the cache in "
              f"{cached:.2f} s")
    print(f"all: {total_images} images, {total_bytes / 2**30:.2f} GiB of region features (budget <= 1 GB)")


if __name__ == "__main__":
    main()
