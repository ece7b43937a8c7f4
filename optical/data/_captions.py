"""A user's own benchmark: ``DIR/images/<file>`` and ``DIR/captions.tsv`` (``--dataset captions --root DIR``).

``captions.tsv`` is UTF-8 with a header naming the columns ``image``, ``lang``, ``caption`` and optionally
``split`` (``train``/``val``/``test``), in any order, tab-separated; one caption per line. An image may have
several captions per language: all of them are queries whose relevant image is that image (as in Multi30k
task 2). Every image needs at least one English (``en``) caption: English trains the teacher and is the pivot
of the bitext. Locale codes are anything ``normalize_locale`` takes (``de``, ``pt_BR``, ``lkt``).

Groups and split as for stamps: images whose English captions are the same (``caption_key`` of each, as a set)
form one group and are interchangeable at evaluation. Without a ``split`` column each group goes to
train/val/test by ``split_of`` (deterministic); ``has_split`` is then False and evaluation on another run's
models uses every row (``captions_retrieval_set(..., split=None)``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from optical.data._images import open_rgb
from optical.data._languages import normalize_locale
from optical.data._stamps import SPLITS, caption_key, clean_caption, split_of
from optical.data._text import iter_lines
from optical.errors import InputError

CAPTIONS_FILE = "captions.tsv"
IMAGES_DIR = "images"
REQUIRED_COLUMNS = ("image", "lang", "caption")
OPTIONAL_COLUMNS = ("split",)
_HEADER = "image<TAB>lang<TAB>caption[<TAB>split]"


@dataclass(frozen=True)
class CaptionedImage:
    """One image of the benchmark."""

    name: str  # path under DIR/images, as written in captions.tsv
    path: Path
    split: str  # train | val | test
    group: str  # the image's English caption keys, sorted and joined; equal groups = interchangeable images


@dataclass(frozen=True)
class CaptionRow:
    """One caption: ``image`` indexes ``CaptionsDataset.images``; ``line`` is its line in captions.tsv."""

    image: int
    language: str
    caption: str
    line: int


@dataclass
class CaptionsDataset:
    """A loaded captions folder (``load_captions``)."""

    root: Path
    images: list[CaptionedImage]
    rows: list[CaptionRow]
    has_split: bool  # captions.tsv has a split column (else the split is by group, as for stamps)

    def split_images(self, split: str | None) -> list[int]:
        """Indices of the images of ``split`` (all images for None)."""
        if split is not None and split not in SPLITS:
            raise InputError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
        return [i for i, image in enumerate(self.images) if split is None or image.split == split]

    def caption_counts(self, split: str | None = None) -> Counter[str]:
        """Captions per foreign language in ``split`` (or overall); English excluded."""
        wanted = set(self.split_images(split))
        return Counter(r.language for r in self.rows if r.image in wanted and r.language != "en")

    def languages(self, min_captions: int = 0, split: str | None = None) -> list[str]:
        """Foreign languages with at least ``min_captions`` captions in ``split`` (or overall), sorted."""
        return sorted(lang for lang, n in self.caption_counts(split).items() if n >= min_captions)


def _header(text: str, path: Path) -> dict[str, int]:
    """Column name -> index, from line 1."""
    names = [name.strip().lower() for name in text.split("\t")]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InputError(f"missing header column(s) {missing}: expected a header line {_HEADER!r}, got "
                         f"{text[:80]!r}", path, 1)
    unknown = [n for n in names if n not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    duplicate = [n for n, k in Counter(names).items() if k > 1]
    if unknown or duplicate:
        raise InputError(f"header: unknown column(s) {unknown + duplicate} (expected {_HEADER!r})", path, 1)
    return {name: i for i, name in enumerate(names)}


def _check_image(root: Path, name: str, path: Path, number: int, decode: bool) -> Path:
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or ".." in parts:
        raise InputError(f"image {name!r}: expected a file name relative to {root / IMAGES_DIR}", path, number)
    image = root / IMAGES_DIR / name
    if not image.is_file():
        raise InputError(f"image {name!r} not found in {root / IMAGES_DIR}", path, number)
    if not decode:
        return image
    try:
        open_rgb(image)
    except InputError as err:
        raise InputError(f"image {name!r}: {err.message}", path, number) from None
    return image


def load_captions(root: str | Path, decode_images: bool = True) -> CaptionsDataset:
    """Read and validate ``root/captions.tsv`` and the images it names (each is decoded once; with
    ``decode_images=False`` only their presence is checked, for readers of the text alone).

    Raises ``InputError`` naming captions.tsv and the line for: a missing folder or file, an empty file, a
    missing header or column, a wrong number of fields, non-UTF-8 text, an unknown locale, an empty caption, an
    unknown split, an image in two splits, an image that is absent or does not decode, and captions of an image
    that has no English caption.
    """
    root = Path(root)
    path = root / CAPTIONS_FILE
    if not root.is_dir():
        raise InputError(f"captions folder not found (expected {IMAGES_DIR}/ and {CAPTIONS_FILE} in it)", root)
    lines = ((number, text) for number, text in iter_lines(path) if text.strip())
    first = next(lines, None)
    if first is None:
        raise InputError(f"empty file: expected a header {_HEADER!r} and one caption per line", path)
    columns = _header(first[1], path)
    has_split = "split" in columns
    names: dict[str, int] = {}  # image name -> index
    image_paths: list[Path] = []
    image_split: list[str | None] = []
    first_line: list[int] = []
    rows: list[CaptionRow] = []
    for number, text in lines:
        fields = text.split("\t")
        if len(fields) != len(columns):
            raise InputError(f"expected {len(columns)} tab-separated fields ({', '.join(columns)}), found "
                             f"{len(fields)}", path, number)
        name = fields[columns["image"]].strip()
        try:
            language = normalize_locale(fields[columns["lang"]])
        except InputError as err:
            raise InputError(err.message, path, number) from None
        caption = clean_caption(fields[columns["caption"]])
        if not caption:
            raise InputError("empty caption", path, number)
        split = fields[columns["split"]].strip().lower() if has_split else None
        if has_split and split not in SPLITS:
            raise InputError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})", path, number)
        if name not in names:
            names[name] = len(image_paths)
            image_paths.append(_check_image(root, name, path, number, decode_images))
            image_split.append(split)
            first_line.append(number)
        index = names[name]
        if split != image_split[index]:
            raise InputError(f"image {name!r} is in split {image_split[index]!r} on line {first_line[index]} "
                             f"and in {split!r} here", path, number)
        rows.append(CaptionRow(index, language, caption, number))
    if not rows:
        raise InputError("no caption lines after the header", path)
    english: list[set[str]] = [set() for _ in image_paths]
    for row in rows:
        if row.language == "en":
            english[row.image].add(caption_key(row.caption))
    for row in rows:
        if not english[row.image]:
            raise InputError(f"image {list(names)[row.image]!r} has a {row.language} caption but no English (en) "
                             "caption: every image needs one (it trains the teacher and pairs the bitext)",
                             path, row.line)
    images = []
    for name, index in names.items():
        group = " | ".join(sorted(english[index]))
        images.append(CaptionedImage(name, image_paths[index], image_split[index] or split_of(group), group))
    return CaptionsDataset(root, images, rows, has_split)


def captions_bitext(dataset: CaptionsDataset, language: str, split: str = "train") -> list[tuple[str, str]]:
    """``(english, foreign)`` pairs of the images of ``split``: the k-th ``language`` caption of an image with
    the image's (k mod n)-th of its n English captions, in file order (captions of one image are descriptions of
    the same thing, not always translations of each other)."""
    language = normalize_locale(language)
    wanted = set(dataset.split_images(split))
    english: dict[int, list[str]] = {}
    foreign: dict[int, list[str]] = {}
    for row in dataset.rows:
        if row.image in wanted and row.language in ("en", language):
            (english if row.language == "en" else foreign).setdefault(row.image, []).append(row.caption)
    return [(english[i][k % len(english[i])], caption) for i, captions in foreign.items()
            for k, caption in enumerate(captions)]
