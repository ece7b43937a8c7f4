"""OpenClipart drawings with an English caption, a teacher training source (never an evaluation set).

``prepare_openclipart()`` reads two Debian packages in pure Python: ``openclipart-png`` (the drawings,
``usr/share/openclipart/png/<path>.png``) and ``openclipart-svg`` (the same drawings as SVG, whose RDF metadata
holds a ``dc:title``, ``dc:subject`` keywords and the ``dc:creator``). Titles are noisy: many are the name of a
collection ("gramastar" on 1,375 stars, "Part of the Flat Icon Collection (...)"), so the caption is built from

- the title, unless it is empty, shared by ``COLLECTION_MIN`` or more drawings or names a collection, theme
  or icon set (a collection name);
- the file name's words, unless the title already holds them, without digits and without the creator's name
  (Debian's file names are ``<title>_<creator, truncated>_<nn>``: a word that starts a word of the creator's
  name is dropped);
- the keywords, unless on more than ``KEYWORD_MAX_SHARE`` of the drawings and ``COLLECTION_MIN`` at least
  (structural tags: "computer", "hash", "icons"), already in the caption or the creator's name,

joined with ", ". Drawings over ``MAX_PIXELS`` and drawings whose PNG bytes repeat another's are dropped; of
drawings with the same caption at most ``MAX_PER_CAPTION`` are kept. The dataset is written in the stamps format
(``load_openclipart()`` returns a ``StampsDataset`` with English captions only, split by caption group as stamps
is), so its val split is the held-out slice that measures a teacher on this source. Evaluation images are removed
at training time (``optical.experiment``'s teacher data), by image hash, caption and image feature.
"""

from __future__ import annotations

import hashlib
import html
import re
import struct
import sys
import tempfile
from collections import Counter
from pathlib import Path, PurePosixPath

from optical.store import atomic_dir, atomic_write_bytes, cache_dir
from optical.data._deb import iter_files
from optical.data._stamps import (
    MANIFEST_FORMAT,
    SPLIT_FRACTIONS,
    SPLIT_SEED,
    SPLITS,
    StampsDataset,
    caption_key,
    check_given_deb,
    check_package,
    clean_caption,
    download_deb,
    is_prepared,
    load_stamps,
    read_manifest,
    seal_manifest,
    split_of,
    summary,
)
from optical.errors import InputError, MissingAssetError

PNG_PACKAGE = "openclipart-png"
SVG_PACKAGE = "openclipart-svg"
COLLECTION_MIN = 8
KEYWORD_MAX_SHARE = 0.05
MAX_PER_CAPTION = 3
MAX_PIXELS = 2048 * 2048  # a few drawings are rendered at up to 20,990 x 29,700 px: too slow to decode, left out
OPENCLIPART_FORMAT = 2  # rules of this module's version; an older build is rebuilt by prepare
_PNG = "usr/share/openclipart/png/"
_SVG = "usr/share/openclipart/svg/"
_COPYRIGHT = "usr/share/doc/openclipart-png/copyright"
_WORK = re.compile(r"<cc:Work\b.*?</cc:Work>", re.S)
_AGENT = re.compile(r"<cc:Agent\b.*?</cc:Agent>", re.S)
_TITLE = re.compile(r"<dc:title>(.*?)</dc:title>", re.S)
_CREATOR = re.compile(r"<dc:creator>.*?<dc:title>(.*?)</dc:title>", re.S)
_KEYWORD = re.compile(r"<rdf:li>(.*?)</rdf:li>", re.S)
_WORD = re.compile(r"[^\W_]+")
_COLLECTION = re.compile(r"\b(collection|theme|iconset)\b", re.I)  # "Part of the Flat Icon Collection"
_CREDIT = re.compile(r"^clipart by [^-]+ - ", re.I)  # "Clipart by Nicu Buculei - smiley111"


def parse_svg_metadata(svg: str) -> tuple[str, list[str], str]:
    """``(title, keywords, creator)`` from an OpenClipart SVG's RDF ``cc:Work`` (empty when absent)."""
    work = _WORK.search(svg)
    if not work:
        return "", [], ""
    creator = _CREATOR.search(work.group(0))
    own = _AGENT.sub("", work.group(0))  # the agents' dc:title are names of people, not of the drawing
    title = _TITLE.search(own)

    def text(value: str) -> str:
        return clean_caption(html.unescape(re.sub(r"<[^>]*>", "", value)))

    keywords = [text(k) for k in _KEYWORD.findall(own)]
    return (_CREDIT.sub("", text(title.group(1))) if title else "", [k for k in keywords if k],
            text(creator.group(1)) if creator else "")


def _words(text: str) -> list[str]:
    """Lower-case words of ``text`` (``_`` and ``-`` separate), trailing digits cut, words with other digits out."""
    words = []
    for word in _WORD.findall(text.replace("_", " ").lower()):
        word = word.rstrip("0123456789")
        if len(word) > 1 and not any(c.isdigit() for c in word):
            words.append(word)
    return words


def name_words(stem: str, creator: str) -> list[str]:
    """The words of a file name without the creator's (possibly truncated) name: ``pesca_architetto_frances_01``
    by "Architetto Francesco Rollandin" -> ``["pesca"]``."""
    author = _words(creator)
    return [w for w in _words(stem) if not any(a.startswith(w) for a in author)]


def build_captions(items: dict[str, tuple[str, list[str], str]]) -> dict[str, str]:
    """{stem: caption} from {stem: (title, keywords, creator)} by the rules of this module (empty ones left out)."""
    titles = Counter(title.casefold() for title, _, _ in items.values())
    keyword_counts = Counter(k.casefold() for _, keywords, _ in items.values() for k in set(keywords))
    limit = max(KEYWORD_MAX_SHARE * len(items), COLLECTION_MIN)
    captions = {}
    for stem, (title, keywords, creator) in items.items():
        parts, seen = [], set()
        if title and titles[title.casefold()] < COLLECTION_MIN and not _COLLECTION.search(title):
            parts.append(title.replace("_", " "))
            seen.update(_words(title))
        author = set(_words(creator))
        name = [w for w in name_words(PurePosixPath(stem).name, creator) if w not in seen]
        if name:
            parts.append(" ".join(name))
            seen.update(name)
        for keyword in keywords:
            words = _words(keyword)
            if words and keyword_counts[keyword.casefold()] <= limit and not set(words) <= seen | author:
                parts.append(" ".join(words))
                seen.update(words)
        caption = clean_caption(", ".join(parts))
        if caption:
            captions[stem] = caption
    return captions


def _openclipart_root() -> Path:
    return cache_dir() / "openclipart"


def load_openclipart(root: Path | None = None) -> StampsDataset:
    """Read the dataset that ``prepare_openclipart()`` built (default ``cache_dir()/"openclipart"``)."""
    root = Path(root) if root is not None else _openclipart_root()
    if _read_manifest(root) is None:
        raise MissingAssetError(f"openclipart dataset not found (or outdated) in {root}; "
                                "run `python -m optical prepare --with openclipart`")
    return load_stamps(root)


def _read_metadata(svg_deb: Path) -> dict[str, tuple[str, list[str], str]]:
    check_package(svg_deb, SVG_PACKAGE)
    items = {}
    for name, content in iter_files(svg_deb, "data", lambda n: n.startswith(_SVG) and n.endswith(".svg")):
        items[name[len(_SVG):-4]] = parse_svg_metadata(content.decode("utf-8", "replace"))
    if not items:
        raise InputError(f"no drawings under {_SVG} in this package", svg_deb)
    return items


def _pixels(png: bytes) -> int:
    """Width x height from a PNG's IHDR chunk (no decoding); 0 when the bytes are not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return 0
    width, height = struct.unpack(">II", png[16:24])
    return width * height


def _read_manifest(root: Path) -> dict | None:
    """The manifest of a complete build by this module's current rules, else None."""
    manifest = read_manifest(root)
    return manifest if manifest is not None and manifest.get("openclipart_format") == OPENCLIPART_FORMAT else None


def _build(png_deb: Path, svg_deb: Path, root: Path) -> dict:
    """Unpack the drawings that get a caption into ``root`` (atomically) and return the manifest."""
    captions = build_captions(_read_metadata(svg_deb))
    control = check_package(png_deb, PNG_PACKAGE)
    kept: list[tuple[str, str]] = []  # (stem, caption)
    hashes: dict[str, str] = {}  # image path in the dataset -> SHA-256
    seen: set[str] = set()  # SHA-256 of the drawings kept
    per_caption: Counter[str] = Counter()
    skipped = Counter()

    def wanted(name: str) -> bool:
        return name == _COPYRIGHT or (name.startswith(_PNG) and name[len(_PNG):-4] in captions and ".." not in name)

    with atomic_dir(root) as tmp:
        for name, content in iter_files(png_deb, "data", wanted):
            if name == _COPYRIGHT:
                atomic_write_bytes(tmp / "COPYRIGHT", content)
                continue
            stem = name[len(_PNG):-4]
            digest = hashlib.sha256(content).hexdigest()
            key = caption_key(captions[stem]).casefold()
            if _pixels(content) > MAX_PIXELS:
                skipped["oversized_images"] += 1
            elif digest in seen:
                skipped["duplicate_images"] += 1
            elif per_caption[key] >= MAX_PER_CAPTION:
                skipped["over_caption_limit"] += 1
            else:
                hashes[f"images/{stem}.png"] = digest
                seen.add(digest)
                per_caption[key] += 1
                atomic_write_bytes(tmp / "images" / f"{stem}.png", content)
                kept.append((stem, captions[stem]))
        if not kept:
            raise InputError(f"no captioned drawings under {_PNG} in this package", png_deb)
        manifest = _manifest(control, png_deb, svg_deb, sorted(kept), skipped)
        seal_manifest(tmp, manifest, hashes)
    return manifest


def _manifest(control: dict[str, str], png_deb: Path, svg_deb: Path, kept: list[tuple[str, str]],
              skipped: Counter) -> dict:
    stamps = []
    for stem, caption in kept:
        group = caption_key(caption)
        stamps.append({"id": stem, "image": f"images/{stem}.png", "captions": {"en": caption},
                       "split": split_of(group), "group": group})
    return {
        "format": MANIFEST_FORMAT,
        "openclipart_format": OPENCLIPART_FORMAT,
        "source": {"package": control["Package"], "version": control.get("Version", "?"),
                   "file": f"{png_deb.name} + {svg_deb.name}"},
        "split": {"seed": SPLIT_SEED, "fractions": dict(zip(SPLITS, SPLIT_FRACTIONS, strict=True)), "by": "caption"},
        "skipped": {r: skipped[r] for r in ("oversized_images", "duplicate_images", "over_caption_limit")},
        "unknown_locales": {},
        "dropped_untranslated": {},
        "stamps": stamps,
    }


def prepare_openclipart(png_deb: Path | None = None, svg_deb: Path | None = None, progress: bool = True) -> Path:
    """Build the openclipart dataset in ``cache_dir()/"openclipart"`` and return that folder.

    Idempotent: a complete dataset already there is kept (delete the folder to rebuild). The .debs are
    downloaded with ``apt-get download`` unless given; given ones are checked even when the dataset is prepared.
    """
    root = _openclipart_root()
    manifest = _read_manifest(root)
    for given, package in ((png_deb, PNG_PACKAGE), (svg_deb, SVG_PACKAGE)):
        if given:  # a wrong file is an error, prepared or not
            check_given_deb("openclipart", Path(given), package, root, manifest)
    if is_prepared("openclipart", root, manifest, progress):
        return root
    with tempfile.TemporaryDirectory(prefix="optical-deb-") as folder:
        png = Path(png_deb) if png_deb else download_deb(Path(folder), PNG_PACKAGE, "--openclipart-png-deb")
        svg = Path(svg_deb) if svg_deb else download_deb(Path(folder), SVG_PACKAGE, "--openclipart-svg-deb")
        manifest = _build(png, svg, root)
    if progress:
        print(f"openclipart: prepared {root}: {summary(manifest)}", file=sys.stderr)
    return root
