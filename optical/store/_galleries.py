"""Image paths of ``gallery.json`` (a run's test split, or an evaluation's) stored so a run folder travels: copied
to another machine, or read from a renamed checkout or another ``OPTICAL_CACHE``. Torch-free.

Format 2 (``GALLERY_FORMAT``) stores the images relative to one folder, itself named against a base::

    {"format": 2, "base": "cache", "folder": "stamps/images", "images": ["0001.png", ...], "groups", "captions"}
    {"format": 2, "base": "folder", "folder": "/data/mine/images", "images": ["dog.png", ...], ...}

``base`` ``cache``: ``folder`` is relative to the cache (``optical.store.cache_dir``) of whoever reads it, so the
prepared datasets (stamps, art4apps, ...) are found in the reader's cache. ``base`` ``folder``: a dataset folder
outside the cache (``--root``/``--images`` of captions, Multi30k), absolute, as it was when written; when it has
moved, `missing_images` names it. Image paths are POSIX, relative to ``folder``. Galleries without ``format``
(written before format 2) hold absolute paths and are read as they are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from optical.store._files import RunFormatError
from optical.store._paths import cache_dir

GALLERY_FORMAT = 2
BASES = ("cache", "folder")


def stored_images(paths: Sequence[str | Path]) -> dict:
    """``{"format", "base", "folder", "images"}`` of gallery.json for image files ``paths``: relative to their
    deepest common folder, named relative to the cache when that folder lies inside it."""
    absolute = [Path(os.path.abspath(p)) for p in paths]
    folder = Path(os.path.commonpath([p.parent for p in absolute])) if absolute else Path(os.path.abspath(cache_dir()))
    inside = _inside_cache(folder)
    return {
        "format": GALLERY_FORMAT,
        "base": "folder" if inside is None else "cache",
        "folder": str(folder) if inside is None else inside,
        "images": [p.relative_to(folder).as_posix() for p in absolute],
    }


def _inside_cache(folder: Path) -> str | None:
    """``folder`` relative to the cache (POSIX; "." for the cache itself), or None when it lies outside; compared
    as written, then with symbolic links resolved."""
    for mine, cache in ((folder, Path(os.path.abspath(cache_dir()))), (folder.resolve(), cache_dir().resolve())):
        if mine.is_relative_to(cache):
            return mine.relative_to(cache).as_posix()
    return None


def image_folder(data: dict, file: Path) -> Path | None:
    """The folder gallery.json ``file`` (content ``data``) stores its images under, resolved for this machine;
    None for a gallery of absolute paths (written before format 2). RunFormatError for another format."""
    found = data.get("format")
    if found is None:
        return None
    if found != GALLERY_FORMAT or data.get("base") not in BASES or not isinstance(data.get("folder"), str):
        raise RunFormatError(f"{file}: not a gallery this version reads (format {found!r}, base {data.get('base')!r}; "
                             f"this version reads format {GALLERY_FORMAT} with base {' or '.join(BASES)}, or older)")
    return cache_dir() / data["folder"] if data["base"] == "cache" else Path(data["folder"])


def gallery_images(data: dict, file: Path) -> list[Path]:
    """The image files of gallery.json ``file`` (content ``data``) on this machine (`image_folder`)."""
    folder = image_folder(data, file)
    return [Path(p) if folder is None else folder / p for p in data["images"]]


def missing_images(data: dict, file: Path, images: list[Path]) -> str | None:
    """Why some of ``images`` (`gallery_images`) cannot be shown, naming the folder to restore; None when all
    are files."""
    missing = [p for p in images if not p.is_file()]
    if not missing:
        return None
    folder, count = image_folder(data, file), f"{len(missing)} of {len(images)} gallery images"
    if folder is None:
        return (f"{count} are missing (e.g. {missing[0]}): {file} (written before gallery format {GALLERY_FORMAT}) "
                f"stores absolute paths, which do not survive a moved cache or checkout; re-run `python -m optical "
                f"eval` for a gallery that travels")
    if folder.is_dir():
        return f"{count} are missing from {folder} (e.g. {missing[0].name})"
    if data["base"] == "cache":
        return (f"{count} are missing: the cache {cache_dir()} has no {data['folder']}: prepare that dataset in "
                f"this cache, or point OPTICAL_CACHE at the cache that has it")
    return (f"{count} are missing: the dataset folder {folder} they were read from is missing (moved, or on another "
            f"machine): put it back there to see them")
