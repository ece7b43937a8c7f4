"""Bitext (English, foreign) pairs for distillation, from any of the supported sources, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

from optical.data._art4apps import load_art4apps
from optical.data._captions import captions_bitext, load_captions
from optical.data._languages import normalize_locale
from optical.data._multi30k import caption_files
from optical.data._stamps import StampsDataset, clean_caption, load_stamps
from optical.data._text import iter_lines
from optical.errors import InputError


def _stamps_pairs(dataset: StampsDataset, language: str, split: str) -> Iterator[tuple[str, str]]:
    for stamp in dataset.split(split):
        if language in stamp.captions:
            yield stamp.captions["en"], stamp.captions[language]


def _aligned_pairs(en_path: Path, foreign_path: Path) -> Iterator[tuple[str, str]]:
    """Line ``i`` of one file with line ``i`` of the other; files of different lengths raise ``InputError``."""
    en_lines, foreign_lines = iter_lines(en_path), iter_lines(foreign_path)
    number = 0
    for number, (en, foreign) in enumerate(zip_longest(en_lines, foreign_lines), start=1):
        if en is None or foreign is None:
            shorter, longer = (en_path, foreign_path) if en is None else (foreign_path, en_path)
            raise InputError(f"has more lines than {shorter} ({number - 1}): the files are not aligned",
                             longer, number)
        yield en[1], foreign[1]
    if number == 0:
        raise InputError("empty file: no sentence pairs", en_path)


def _multi30k_pairs(root: Path, language: str, split: str) -> Iterator[tuple[str, str]]:
    files = caption_files(root, task=1).get(split, {})
    for lang in ("en", language):
        if lang not in files:
            raise InputError(f"Multi30k task 1 has no {split!r} captions in {lang}", root / "data/task1/raw")
    yield from _aligned_pairs(files["en"][0], files[language][0])


def _tsv_pairs(path: Path) -> Iterator[tuple[str, str]]:
    seen_any = False
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise InputError(f"expected 'english<TAB>foreign', found {len(fields)} tab-separated field(s)",
                             path, number)
        seen_any = True
        yield fields[0], fields[1]
    if not seen_any:
        raise InputError("empty TSV: no 'english<TAB>foreign' lines", path)


BITEXT_SOURCES = ("'stamps', 'art4apps', 'captions:<dir>', 'multi30k:<root>', a TSV file or "
                  "'<english_file>,<foreign_file>'")


def _source_pairs(source: str, language: str, split: str) -> Iterator[tuple[str, str]]:
    if source == "stamps":
        return _stamps_pairs(load_stamps(), language, split)
    if source == "art4apps":
        return _stamps_pairs(load_art4apps(), language, split)
    if source.startswith("captions:"):
        return iter(captions_bitext(load_captions(source.removeprefix("captions:"), decode_images=False),
                                    language, split))
    if source.startswith("multi30k:"):
        return _multi30k_pairs(Path(source.removeprefix("multi30k:")), language, split)
    if Path(source).is_file():
        return _tsv_pairs(Path(source))
    if "," in source:
        en_file, foreign_file = (Path(p.strip()) for p in source.split(",", 1))
        return _aligned_pairs(en_file, foreign_file)
    raise InputError(f"bitext source not found (expected {BITEXT_SOURCES})", source)


def iter_bitext(source: str, language: str, *, split: str = "train", min_words: int = 1,
                max_words: int = 64) -> Iterator[tuple[str, str]]:
    """Yield ``(english, foreign)`` sentence pairs, deduplicated and length-filtered, as they are read.

    Parameters
    ----------
    source : ``"stamps"`` or ``"art4apps"`` (the prepared benchmarks), ``"captions:<dir>"`` (a captions folder,
        see ``captions_bitext``), ``"multi30k:<root>"`` (task 1 translations), a path to a
        TSV file (``english<TAB>foreign`` per line) or ``"<english_file>,<foreign_file>"`` (aligned lines).
    language : the foreign language (``de``, ``pt-BR``, ...); it selects the captions of ``stamps`` and
        ``multi30k`` and only labels the pairs of files.
    split : the split of the benchmark / ``multi30k`` to read (ignored for files). Never use a test split here.
    min_words, max_words : both sides must have this many whitespace-separated words (spaces are collapsed
        first). Scripts written without spaces (ja, zh, th, km) count a caption as one word.

    Bad input raises ``InputError`` naming the file and line.
    """
    language = normalize_locale(language)
    if not 0 <= min_words <= max_words:
        raise InputError(f"need 0 <= min_words <= max_words, got {min_words} and {max_words}")
    seen: set[int] = set()
    for en, foreign in _source_pairs(source, language, split):
        en, foreign = clean_caption(en), clean_caption(foreign)
        if not all(min_words <= len(text.split()) <= max_words for text in (en, foreign)):
            continue
        key = hash((en, foreign))
        if key not in seen:
            seen.add(key)
            yield en, foreign
