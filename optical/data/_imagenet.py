"""ImageNet's 1,000 classes as text: WordNet id, lemmas and gloss of each class, in the order of the classifier
head of an ImageNet model (``imagenet_synsets.txt``, the standard order of the 1k labels).

``prepare_imagenet_classes()`` reads three files of PyPI ``timm``'s wheel as data (timm itself is never imported
or installed): ``timm/data/_info/imagenet_synsets.txt`` (1,000 WordNet ids, one a line, in label order),
``imagenet_synset_to_lemma.txt`` and ``imagenet_synset_to_definition.txt`` (``<wnid>\\t<text>`` lines over all of
ImageNet-21k). The wheel is fetched with ``pip download timm --no-deps`` (or passed with ``--timm-wheel FILE``)
and its licence copied beside ``cache/imagenet/classes.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from optical.store import atomic_dir, atomic_write_bytes, atomic_write_json, cache_dir
from optical.errors import InputError, MissingAssetError

IMAGENET_CLASSES = 1000
_INFO = "timm/data/_info/"
_SYNSETS = _INFO + "imagenet_synsets.txt"
_LEMMAS = _INFO + "imagenet_synset_to_lemma.txt"
_DEFINITIONS = _INFO + "imagenet_synset_to_definition.txt"
_FORMAT = 1
_OPTION = "--timm-wheel"


@dataclass(frozen=True)
class ImageNetClass:
    """One ImageNet-1k class: its WordNet id, its lemmas (most common first) and its WordNet gloss."""

    synset: str  # e.g. "n01440764"
    lemmas: tuple[str, ...]  # e.g. ("tench", "Tinca tinca")
    definition: str


def _root() -> Path:
    return cache_dir() / "imagenet"


def _tab_file(text: str, path: str) -> dict[str, str]:
    """``<wnid>\\t<text>`` lines -> {wnid: text}; a line without a tab raises ``InputError`` with its number."""
    out = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        wnid, sep, value = line.partition("\t")
        if not sep or not value.strip():
            raise InputError(f"expected '<wordnet id><TAB><text>', got {line[:60]!r}", path, number)
        out[wnid.strip()] = value.strip()
    return out


def parse_timm_wheel(wheel: Path) -> tuple[list[ImageNetClass], dict[str, str], bytes]:
    """The 1,000 classes in label order, the wheel's ``{name, version}`` and its licence text, from ``wheel``."""
    wheel = Path(wheel)
    try:
        with zipfile.ZipFile(wheel) as z:
            names = set(z.namelist())
            missing = [n for n in (_SYNSETS, _LEMMAS, _DEFINITIONS) if n not in names]
            if missing:
                raise InputError(f"not a timm wheel with ImageNet class files (missing {', '.join(missing)})", wheel)
            read = {n: z.read(n).decode("utf-8") for n in (_SYNSETS, _LEMMAS, _DEFINITIONS)}
            licences = sorted(n for n in names if ".dist-info/" in n and "LICENSE" in n.rsplit("/", 1)[-1])
            licence = z.read(licences[0]) if licences else b""
    except (zipfile.BadZipFile, UnicodeDecodeError) as err:
        raise InputError(f"not a readable wheel ({err})", wheel) from None
    synsets = [line.strip() for line in read[_SYNSETS].splitlines() if line.strip()]
    if len(synsets) != IMAGENET_CLASSES or len(set(synsets)) != IMAGENET_CLASSES:
        raise InputError(f"{_SYNSETS}: expected {IMAGENET_CLASSES} distinct WordNet ids, found {len(synsets)}", wheel)
    lemmas, definitions = _tab_file(read[_LEMMAS], _LEMMAS), _tab_file(read[_DEFINITIONS], _DEFINITIONS)
    classes = []
    for wnid in synsets:
        if wnid not in lemmas or wnid not in definitions:
            raise InputError(f"{wnid} of {_SYNSETS} has no lemma or no definition", wheel)
        lemma_list = tuple(part.strip() for part in lemmas[wnid].split(",") if part.strip())
        classes.append(ImageNetClass(wnid, lemma_list, definitions[wnid]))
    stem = wheel.name.split("-")
    source = {"package": stem[0], "version": stem[1] if len(stem) > 1 else "?", "file": wheel.name}
    return classes, source, licence


def load_imagenet_classes(root: Path | None = None) -> list[ImageNetClass]:
    """The 1,000 classes in label order, as ``prepare_imagenet_classes()`` stored them."""
    file = (Path(root) if root is not None else _root()) / "classes.json"
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        body = {}
    if body.get("format") != _FORMAT:
        raise MissingAssetError(f"ImageNet class names not found (or outdated) in {file.parent}; "
                                "run `python -m optical prepare`")
    return [ImageNetClass(c["synset"], tuple(c["lemmas"]), c["definition"]) for c in body["classes"]]


def download_timm_wheel(folder: Path) -> Path:
    """``pip download timm --no-deps`` into ``folder``; the wheel (its code is never imported)."""
    hint = f"or download the wheel yourself (`pip download timm --no-deps`) and pass it with `{_OPTION} FILE`"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "timm", "--no-deps", "--only-binary", ":all:", "-d", str(folder)],
        capture_output=True, text=True,
    )
    wheels = sorted(folder.glob("timm-*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr.strip().splitlines() or ["no wheel was written"])[-1]
        raise MissingAssetError(f"`pip download timm --no-deps` failed ({reason}); {hint}")
    return wheels[0]


def prepare_imagenet_classes(wheel: Path | None = None, progress: bool = True) -> Path:
    """Write ``cache_dir()/"imagenet"/classes.json`` from timm's wheel (downloaded unless given); idempotent."""
    root = _root()
    try:
        load_imagenet_classes(root)
    except MissingAssetError:
        pass
    else:
        if progress:
            print(f"imagenet classes: already prepared in {root}", file=sys.stderr)
        return root
    with tempfile.TemporaryDirectory(prefix="optical-wheel-") as folder:
        classes, source, licence = parse_timm_wheel(Path(wheel) if wheel else download_timm_wheel(Path(folder)))
    with atomic_dir(root) as tmp:
        atomic_write_bytes(tmp / "LICENSE", licence)
        atomic_write_json(tmp / "classes.json", {
            "format": _FORMAT, "source": source,
            "classes": [{"synset": c.synset, "lemmas": list(c.lemmas), "definition": c.definition} for c in classes],
        })
    if progress:
        print(f"imagenet classes: prepared {root}: {len(classes)} classes from {source['file']}", file=sys.stderr)
    return root
