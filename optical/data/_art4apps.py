"""The second built-in benchmark "art4apps": the Art4Apps clip-art drawings of Debian's ``pysiogame``, with the
word of each drawing in English and up to 12 more languages (among them Lakota, ``lkt``, which XLM-R never saw).

``prepare_art4apps()`` unpacks the package into ``cache/art4apps/`` exactly as ``prepare_stamps()`` does
(pure-Python .deb reading, built aside and renamed into place, idempotent) and writes a manifest in the stamps
format, so ``load_art4apps()`` returns a ``StampsDataset`` and everything that reads stamps reads it too:

- images: ``usr/share/games/pysiogame/res/images/art4apps/<category>/<word>.jpg`` (585, 200 x 200);
- captions: ``usr/share/games/pysiogame/i18n/custom/a4a_po/<locale>.po``, msgid = the English word (the file stem
  with ``_`` as space), msgstr = its translation. The English caption is the plain word ("cow"), not a sentence
  ("a drawing of a cow"): the dataset is what the package ships. Empty and fuzzy translations are skipped, a
  translation equal to the word (ignoring case) is dropped as untranslated and counted, as for stamps; the
  English variants (``en_GB``, ``en_US``) are not target languages.

Split and groups as for stamps: drawings with the same word form one group, whole groups go to train/val/test by
the SHA-1 of the word (``split_of``). The package's ``copyright`` file is copied beside the manifest.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path, PurePosixPath

from optical.store import atomic_dir, atomic_write_bytes, cache_dir
from optical.data._deb import iter_files
from optical.data._languages import normalize_locale
from optical.data._stamps import (
    MANIFEST_FORMAT,
    SPLIT_FRACTIONS,
    SPLIT_SEED,
    SPLITS,
    StampsDataset,
    caption_key,
    check_package,
    clean_caption,
    load_stamps,
    prepare_from_deb,
    read_manifest,
    seal_manifest,
    split_of,
)
from optical.errors import InputError, MissingAssetError

ART4APPS_PACKAGE = "pysiogame"
_IMAGES = "usr/share/games/pysiogame/res/images/art4apps/"
_PO = "usr/share/games/pysiogame/i18n/custom/a4a_po/"
_COPYRIGHT = "usr/share/doc/pysiogame/copyright"
_OPTION = "--art4apps-deb"


def parse_po(text: str, path: str | Path) -> list[tuple[str, str]]:
    """The ``(msgid, msgstr)`` entries of a gettext .po file, header and fuzzy entries left out.

    Handles comments, continuation lines and the C escapes of .po strings; a line that is none of these, or an
    entry without its ``msgstr``, raises ``InputError`` naming ``path`` and the line.
    """
    entries: list[tuple[str, str]] = []
    current: dict[str, str] = {}
    field = None
    fuzzy = False

    def flush(number: int) -> None:
        nonlocal current, fuzzy, field
        if current:
            if "msgstr" not in current:
                raise InputError("entry has a msgid but no msgstr", path, number)
            if current.get("msgid") and not fuzzy:
                entries.append((current["msgid"], current["msgstr"]))
        current, fuzzy, field = {}, False, None

    lines = text.removeprefix("\ufeff").splitlines()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            flush(number)
        elif line.startswith("#"):
            if "msgstr" in current:
                flush(number)
            fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in line)
        elif line.startswith(("msgid ", "msgstr ", "msgctxt ")) and line.endswith('"'):
            key, _, value = line.partition(" ")
            if key in ("msgid", "msgctxt") and "msgstr" in current:
                flush(number)
            field = key
            current[field] = _unquote(value, path, number)
        elif line.startswith('"') and field is not None:
            current[field] += _unquote(line, path, number)
        else:
            raise InputError(f"not a .po line: {line[:60]!r}", path, number)
    flush(len(lines))
    return entries


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}


def _unquote(value: str, path: str | Path, number: int) -> str:
    """The content of a quoted .po string (``"a \\"b\\""`` -> ``a "b"``)."""
    value = value.strip()
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        raise InputError(f"expected a quoted string, got {value[:60]!r}", path, number)
    out, chars = [], iter(value[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPES:
                raise InputError(f"unknown escape \\{escaped} in a .po string", path, number)
            out.append(_ESCAPES[escaped])
        else:
            out.append(char)
    return "".join(out)


def _art4apps_root() -> Path:
    return cache_dir() / "art4apps"


def load_art4apps(root: Path | None = None) -> StampsDataset:
    """Read the dataset that ``prepare_art4apps()`` built (default ``cache_dir()/"art4apps"``)."""
    root = Path(root) if root is not None else _art4apps_root()
    if read_manifest(root) is None:
        raise MissingAssetError(f"art4apps dataset not found (or outdated) in {root}; "
                                "run `python -m optical prepare --with art4apps`")
    return load_stamps(root)


def _wanted(name: str) -> bool:
    if ".." in name.split("/"):
        return False
    return ((name.startswith(_IMAGES) and name.endswith(".jpg")) or (name.startswith(_PO) and name.endswith(".po"))
            or name == _COPYRIGHT)


def _build(deb: Path, root: Path) -> dict:
    """Unpack ``deb`` into ``root`` (atomically) and return the manifest."""
    control = check_package(deb, ART4APPS_PACKAGE)
    words: dict[str, str] = {}  # word -> image path in the dataset
    po: dict[str, tuple[str, str]] = {}  # locale code as in the file name -> (text, path in the package)
    hashes: dict[str, str] = {}  # image path in the dataset -> SHA-256
    with atomic_dir(root) as tmp:
        for name, content in iter_files(deb, "data", _wanted):
            if name == _COPYRIGHT:
                atomic_write_bytes(tmp / "COPYRIGHT", content)
            elif name.startswith(_IMAGES):
                relative = name[len(_IMAGES):]
                word = clean_caption(PurePosixPath(relative).stem.replace("_", " "))
                if word in words:
                    raise InputError(f"{name}: a second drawing of {word!r} (first: {words[word]})", deb)
                atomic_write_bytes(tmp / "images" / relative, content)
                words[word] = f"images/{relative}"
                hashes[words[word]] = hashlib.sha256(content).hexdigest()
            else:
                try:
                    po[PurePosixPath(name).stem] = (content.decode("utf-8"), name)
                except UnicodeDecodeError as err:
                    raise InputError(f"{name}: not valid UTF-8 ({err.reason})", deb) from None
        if not words:
            raise InputError(f"no drawings under {_IMAGES} in this package", deb)
        manifest = _manifest(control, deb, words, po)
        seal_manifest(tmp, manifest, hashes)
    return manifest


def _manifest(control: dict[str, str], deb: Path, words: dict[str, str], po: dict[str, tuple[str, str]]) -> dict:
    captions: dict[str, dict[str, str]] = {word: {"en": word} for word in words}
    dropped: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    no_drawing: Counter[str] = Counter()
    for code, (text, name) in sorted(po.items()):
        try:
            locale = normalize_locale(code)
        except InputError:
            unknown[code] += 1
            continue
        if locale == "en" or locale.startswith("en-"):
            continue
        for msgid, msgstr in parse_po(text, PurePosixPath(deb.name) / name):
            word, translation = clean_caption(msgid), clean_caption(msgstr)
            if word not in captions:
                no_drawing[locale] += 1
            elif translation.casefold() == word.casefold():
                dropped[locale] += 1
            elif translation:
                captions[word].setdefault(locale, translation)
    stamps = []
    for word in sorted(words, key=words.get):
        group = caption_key(word)
        stamps.append({
            "id": words[word].removeprefix("images/").rsplit(".", 1)[0],
            "image": words[word],
            "captions": {"en": word, **dict(sorted((k, v) for k, v in captions[word].items() if k != "en"))},
            "split": split_of(group),
            "group": group,
        })
    return {
        "format": MANIFEST_FORMAT,
        "source": {"package": control["Package"], "version": control.get("Version", "?"), "file": deb.name},
        "split": {"seed": SPLIT_SEED, "fractions": dict(zip(SPLITS, SPLIT_FRACTIONS, strict=True)), "by": "word"},
        "skipped": {"translations_without_drawing": sum(no_drawing.values())},
        "unknown_locales": dict(sorted(unknown.items())),
        "dropped_untranslated": dict(sorted(dropped.items())),
        "stamps": stamps,
    }


def prepare_art4apps(deb: Path | None = None, progress: bool = True) -> Path:
    """Build the art4apps dataset in ``cache_dir()/"art4apps"`` and return that folder.

    Idempotent: a complete dataset already there is kept (delete the folder to rebuild). ``deb`` is a downloaded
    ``pysiogame`` .deb (checked even when the dataset is prepared, see ``check_given_deb``); by default
    ``apt-get download pysiogame`` fetches one into a temporary folder.
    """
    root = _art4apps_root()
    return prepare_from_deb("art4apps", root, ART4APPS_PACKAGE, _OPTION, lambda d: _build(d, root), deb, progress)
