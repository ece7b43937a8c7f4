"""The built-in benchmark "stamps": Tux Paint's stamp images with their captions in about 75 locales.

``prepare_stamps()`` unpacks Debian's ``tuxpaint-stamps-default`` into ``cache/stamps/``: the PNG stamps under
``images/`` (relative paths kept) and ``manifest.json`` with the parsed captions and the split. The folder is
built aside and renamed into place in one step, so an interrupted run leaves nothing that looks complete.

Integrity: the manifest records each image's SHA-256, size and mtime, and one SHA-256 over its ``stamps`` list
(captions, split, groups). ``prepare_stamps()`` re-hashes everything (28 MB, about 0.1 s) and rebuilds a damaged
dataset, saying what it found; ``load_stamps()`` checks sizes and mtimes (a ``stat`` per image) and re-hashes
only images whose mtime changed, then refuses a damaged dataset naming the file.

Caption files (``<name>.txt`` beside ``<name>.png``): line 1 is the English caption, further lines are
``<locale>.utf8=<caption>``. Locales are normalised (``pt_BR`` -> ``pt-BR``, ``sr@latin`` -> ``sr-Latn``,
``ca@valencia`` -> ``ca-valencia``); English variants (``en_GB``, ``en_AU``) are skipped as they are not
target languages; a translation equal to the English caption (ignoring case, spacing and surrounding
punctuation) is dropped as untranslated and counted per locale. Locale codes unknown to ``normalize_locale`` are skipped
and counted. Stamps with only an SVG image are skipped and counted.

Split: stamps with the same English caption (``caption_key``: case, spacing and surrounding punctuation
ignored) form one group (coins, flowers, letters in several styles and both cases). Whole groups
go to train, val or test (about 70/10/20) by the SHA-1 of the group key, so the split is the same on every
machine and no image has a caption twin in another split. Evaluation treats the members of a group as
interchangeable: retrieving any of them counts as a hit (``Stamp.group``, ``RetrievalSet.image_groups``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from optical.store import atomic_dir, atomic_write_json, cache_dir
from optical.data._deb import ar_members, iter_files, read_control
from optical.data._languages import normalize_locale
from optical.errors import InputError, MissingAssetError

STAMPS_PACKAGE = "tuxpaint-stamps-default"
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)
SPLIT_SEED = 0
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 4  # 3: caption groups ignore case and leading punctuation (another split than 2); 4: content hashes
_PREFIX = "usr/share/tuxpaint/stamps/"
_PREPARE_HINT = "run `python -m optical prepare`"


@dataclass(frozen=True)
class Stamp:
    """One stamp image with its captions (``locale -> caption``, English under ``"en"``)."""

    stamp_id: str  # path of the stamp without extension, e.g. "animals/amphibians/frog"
    image: Path
    captions: dict[str, str]
    split: str  # train | val | test
    group: str  # the English caption's `caption_key`; equal groups = interchangeable images


@dataclass(frozen=True)
class ParsedCaptions:
    """The content of one caption file."""

    english: str
    translations: dict[str, str]  # normalised locale -> caption, untranslated ones removed
    untranslated: list[str]  # locales dropped as equal to the English caption
    unknown_locales: list[str]  # locale codes this project does not know (skipped)


def clean_caption(text: str) -> str:
    """NFC-normalise and collapse whitespace."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def caption_key(text: str) -> str:
    """Group key of a caption: NFC, whitespace collapsed, case folded, surrounding punctuation removed
    ("The letter C." and "the letter c" are one group: captions that differ only so are near-duplicates)."""
    key = clean_caption(text).casefold()
    start, end = 0, len(key)
    while start < end and _is_edge(key[start]):
        start += 1
    while end > start and _is_edge(key[end - 1]):
        end -= 1
    return key[start:end]


def _is_edge(char: str) -> bool:
    return unicodedata.category(char).startswith("P") or char in "| "


def parse_caption_file(text: str, path: str | Path) -> ParsedCaptions:
    """Parse a Tux Paint caption file (``path`` is only used in error messages).

    Blank lines and ``#`` comments are ignored; ``de=...`` is accepted as well as ``de.utf8=...``; for a
    locale given twice the first line wins; empty translations are ignored.
    """
    lines = [(number, line.strip()) for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1)]
    lines = [(number, line) for number, line in lines if line and not line.startswith("#")]
    if not lines:
        raise InputError("empty caption file", path)
    english = clean_caption(lines[0][1])
    translations: dict[str, str] = {}
    untranslated: list[str] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for number, line in lines[1:]:
        code, sep, caption = line.partition("=")
        if not sep or not code.strip() or " " in code.strip():
            raise InputError(f"expected '<locale>.utf8=<caption>', got {line[:60]!r}", path, number)
        try:
            locale = normalize_locale(code)
        except InputError:
            unknown.append(code.strip())
            continue
        caption = clean_caption(caption)
        if locale in seen or not caption or locale == "en" or locale.startswith("en-"):
            continue
        seen.add(locale)
        if caption_key(caption) == caption_key(english):
            untranslated.append(locale)
        else:
            translations[locale] = caption
    return ParsedCaptions(english, translations, untranslated, unknown)


def split_of(group: str, seed: int = SPLIT_SEED) -> str:
    """The split of a caption group: SHA-1 of ``"<seed>:<group>"`` mapped to [0, 1), cut at 0.7 and 0.8."""
    digest = hashlib.sha1(f"{seed}:{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, fraction in zip(SPLITS, SPLIT_FRACTIONS, strict=True):
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1]


@dataclass
class StampsDataset:
    """The prepared stamps benchmark (``load_stamps()``)."""

    root: Path
    stamps: list[Stamp]
    dropped_untranslated: dict[str, int]  # locale -> number of captions dropped as untranslated
    skipped: dict[str, int]  # reason -> count of files (svg_only_stamps, captions_without_image, ...)
    unknown_locales: dict[str, int]  # locale code -> captions skipped because the code is unknown
    source: dict[str, str]  # package, version, file

    def split(self, name: str) -> list[Stamp]:
        """The stamps of one split (``train``, ``val`` or ``test``)."""
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r} (expected one of {', '.join(SPLITS)})")
        return [s for s in self.stamps if s.split == name]

    def caption_counts(self, split: str | None = None) -> Counter[str]:
        """Number of captions per foreign locale, in one split or overall (English excluded)."""
        stamps = self.stamps if split is None else self.split(split)
        return Counter(loc for s in stamps for loc in s.captions if loc != "en")

    def languages(self, min_captions: int = 0, split: str | None = None) -> list[str]:
        """Foreign locales (English is the pivot, present on every stamp) with at least ``min_captions``
        captions in ``split`` (or overall), sorted."""
        return sorted(loc for loc, n in self.caption_counts(split).items() if n >= min_captions)


def _stamps_root(root: Path | None) -> Path:
    return Path(root) if root is not None else cache_dir() / "stamps"


def read_manifest(root: Path) -> dict | None:
    """The manifest of a complete dataset of the current format, else None."""
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("format") == MANIFEST_FORMAT else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stamps_sha256(stamps: list[dict]) -> str:
    """SHA-256 over the manifest's stamp records (ids, image paths, captions, split, groups)."""
    return _sha256(json.dumps(stamps, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def find_damage(root: Path, manifest: dict, full: bool = True) -> list[str]:
    """What is damaged in the dataset at ``root``: ``"<file>: <what>"`` per problem, empty when intact.

    ``full`` re-hashes every image; otherwise only images whose size matches but mtime differs from the
    manifest's are hashed (a ``stat`` per image).
    """
    try:
        stamps, images = manifest["stamps"], manifest["images"]
        problems = [] if _stamps_sha256(stamps) == manifest["stamps_sha256"] else [
            f"{root / MANIFEST}: captions or split edited (its content hash differs)"]
        wanted = [(s["image"], images[s["image"]]) for s in stamps]
    except (KeyError, TypeError):
        return [f"{root / MANIFEST}: incomplete manifest"]
    for relative, record in wanted:
        path = root / relative
        try:
            info = path.stat()
        except OSError:
            problems.append(f"{path}: missing")
            continue
        if info.st_size != record["size"]:
            problems.append(f"{path}: {info.st_size} bytes, expected {record['size']} (truncated or replaced)")
        elif (full or info.st_mtime_ns != record["mtime_ns"]) and _sha256(path.read_bytes()) != record["sha256"]:
            problems.append(f"{path}: content changed (SHA-256 differs)")
    return problems


def load_stamps(root: Path | None = None) -> StampsDataset:
    """Read the dataset that ``prepare_stamps()`` built (default ``cache_dir()/"stamps"``).

    Raises ``MissingAssetError`` when it is absent, outdated or damaged (naming the damaged file).
    """
    root = _stamps_root(root)
    manifest = read_manifest(root)
    if manifest is None:
        raise MissingAssetError(f"stamps dataset not found (or outdated) in {root}; {_PREPARE_HINT}")
    problems = find_damage(root, manifest, full=False)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MissingAssetError(f"{problems[0]}{more}: the stamps dataset is damaged; {_PREPARE_HINT} to rebuild it")
    stamps = [Stamp(s["id"], root / s["image"], s["captions"], s["split"], s["group"]) for s in manifest["stamps"]]
    return StampsDataset(root, stamps, manifest["dropped_untranslated"], manifest["skipped"],
                         manifest["unknown_locales"], manifest["source"])


def download_deb(folder: Path, package: str = STAMPS_PACKAGE, option: str = "--stamps-deb") -> Path:
    """``apt-get download <package>`` into ``folder``; the downloaded file (``option`` is the flag that passes a
    .deb instead, named in the error)."""
    hint = f"or download the .deb yourself and pass it with `{option} PATH`"
    try:
        done = subprocess.run(["apt-get", "download", package], cwd=folder, capture_output=True, text=True)
    except FileNotFoundError:
        raise MissingAssetError(f"apt-get is not available to fetch {package}; {hint}") from None
    debs = sorted(folder.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        reason = (done.stderr.strip().splitlines() or ["no .deb was written"])[-1]
        if "locate package" in reason or "No packages found" in reason or "has no installation candidate" in reason:
            reason = "the package lists are missing: run `sudo apt-get update` once"
        raise MissingAssetError(f"`apt-get download {package}` failed ({reason}); {hint}")
    return debs[0]


def check_package(deb: Path, package: str = STAMPS_PACKAGE) -> dict[str, str]:
    """The control fields of ``deb``; ``InputError`` if it is missing or another package."""
    if not deb.is_file():
        raise InputError("file not found", deb)
    control = read_control(deb)
    if control.get("Package") != package:
        raise InputError(f"this is the package {control.get('Package')!r}, not {package!r}", deb)
    return control


def _wanted(name: str) -> bool:
    return name.startswith(_PREFIX) and name.endswith((".png", ".svg", ".txt")) and ".." not in name.split("/")


def _build(deb: Path, root: Path, progress: bool) -> dict:
    """Unpack ``deb`` into ``root`` (atomically) and return the manifest."""
    control = check_package(deb)
    data_size = next(m.size for m in ar_members(deb) if m.name.startswith("data.tar"))
    texts: dict[str, tuple[str, str]] = {}  # stamp id -> (caption file text, its path in the package)
    pngs: dict[str, str] = {}  # stamp id -> SHA-256 of its PNG
    svgs: set[str] = set()
    with atomic_dir(root) as tmp, tqdm(total=data_size, unit="B", unit_scale=True, disable=not progress,
                                       desc=f"unpacking {deb.name}") as bar:
        for name, content in iter_files(deb, "data", _wanted, on_read=bar.update):
            stem, ext = name[len(_PREFIX):].rsplit(".", 1)
            if ext == "txt":
                try:
                    texts[stem] = (content.decode("utf-8"), name)
                except UnicodeDecodeError as err:
                    raise InputError(f"{name}: caption file is not valid UTF-8 ({err.reason})", deb) from None
            elif ext == "svg":
                svgs.add(stem)
            else:
                target = tmp / "images" / f"{stem}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                pngs[stem] = _sha256(content)
        if not texts:
            raise InputError(f"no stamps under {_PREFIX} in this package", deb)
        for stem in pngs.keys() - texts.keys():  # e.g. "<name>_mirror.png", the mirrored variant of a stamp
            (tmp / "images" / f"{stem}.png").unlink()
        manifest = _manifest(control, deb, texts, pngs, svgs)
        seal_manifest(tmp, manifest, {f"images/{stem}.png": sha for stem, sha in pngs.items()})
    return manifest


def seal_manifest(folder: Path, manifest: dict, image_sha256: dict[str, str]) -> None:
    """Add what `find_damage` checks (a SHA-256 over the stamp records; each image's SHA-256, size and mtime),
    then write ``folder/manifest.json``, last: its presence marks a complete dataset (mtimes survive the rename).

    ``image_sha256`` maps each record's ``image`` (relative path) to the SHA-256 of the bytes written there.
    """
    manifest["stamps_sha256"] = _stamps_sha256(manifest["stamps"])
    manifest["images"] = {}
    for stamp in manifest["stamps"]:
        info = (folder / stamp["image"]).stat()
        manifest["images"][stamp["image"]] = {
            "sha256": image_sha256[stamp["image"]], "size": info.st_size, "mtime_ns": info.st_mtime_ns,
        }
    atomic_write_json(folder / MANIFEST, manifest)


def _manifest(control: dict[str, str], deb: Path, texts: dict[str, tuple[str, str]],
              pngs: dict[str, str], svgs: set[str]) -> dict:
    """The manifest without its hashes (`seal_manifest` adds them)."""
    stamps = []
    dropped: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    for stem in sorted(texts.keys() & pngs.keys()):
        text, name = texts[stem]
        parsed = parse_caption_file(text, PurePosixPath(deb.name) / name)
        dropped.update(parsed.untranslated)
        unknown.update(parsed.unknown_locales)
        group = caption_key(parsed.english)
        stamps.append({
            "id": stem,
            "image": f"images/{stem}.png",
            "captions": {"en": parsed.english, **dict(sorted(parsed.translations.items()))},
            "split": split_of(group),
            "group": group,
        })
    return {
        "format": MANIFEST_FORMAT,
        "source": {"package": control["Package"], "version": control.get("Version", "?"), "file": deb.name},
        "split": {"seed": SPLIT_SEED, "fractions": dict(zip(SPLITS, SPLIT_FRACTIONS, strict=True)),
                  "by": "english caption"},
        "skipped": {
            "svg_only_stamps": len((texts.keys() & svgs) - pngs.keys()),
            "captions_without_image": len(texts.keys() - pngs.keys() - svgs),
            "pngs_without_caption": len(pngs.keys() - texts.keys()),
        },
        "unknown_locales": dict(sorted(unknown.items())),
        "dropped_untranslated": dict(sorted(dropped.items())),
        "stamps": stamps,
    }


def summary(manifest: dict) -> str:
    per_split = Counter(s["split"] for s in manifest["stamps"])
    skipped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in manifest["skipped"].items() if n)
    return (f"{len(manifest['stamps'])} images ({', '.join(f'{k} {per_split[k]}' for k in SPLITS)}), "
            f"{sum(manifest['dropped_untranslated'].values())} untranslated captions dropped"
            + (f"; skipped {skipped}" if skipped else ""))


def is_prepared(name: str, root: Path, manifest: dict | None, progress: bool) -> bool:
    """Whether the dataset ``name`` at ``root`` (its current-format ``manifest``, or None) is complete and intact
    (every content hash verified); says so with ``progress``. A damaged one is reported even without ``progress``
    (the rebuild needs the package: the user should know why), and False is returned so that it is rebuilt."""
    problems = find_damage(root, manifest) if manifest is not None else []
    if manifest is not None and not problems:
        if progress:
            print(f"{name}: already prepared in {root} ({summary(manifest)})", file=sys.stderr)
        return True
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        print(f"{name}: damaged dataset in {root} ({shown}); rebuilding it", file=sys.stderr)
    return False


def check_given_deb(name: str, deb: Path, package: str, root: Path, manifest: dict | None) -> None:
    """A .deb the user passed for dataset ``name`` is checked whether or not the dataset is prepared: a missing file,
    another package or a file that is not a .deb raises InputError; when the prepared dataset in ``root`` was built
    from another version of ``package``, a note on stderr says so (the dataset is kept)."""
    control = check_package(deb, package)
    source = (manifest or {}).get("source", {})
    if manifest is not None and source.get("package") == package and control.get("Version", "?") != source.get("version"):
        print(f"{name}: {deb} is version {control.get('Version', '?')}, the dataset in {root} was built from "
              f"{source.get('version')}: kept (delete {root} to rebuild it from {deb})", file=sys.stderr)


def prepare_stamps(deb: Path | None = None, progress: bool = True) -> Path:
    """Build the stamps dataset in ``cache_dir()/"stamps"`` and return that folder.

    Idempotent: when a complete, intact dataset is already there (every content hash verified), nothing is done
    (and, with ``progress``, it says so); a damaged one is rebuilt, saying what was damaged.
    ``deb`` is a downloaded ``tuxpaint-stamps-default`` .deb; by default ``apt-get download`` fetches one into a
    temporary folder. A given ``deb`` is checked even when the dataset is prepared: another package or a file that
    is not a .deb raises InputError; another version of the package is named on stderr. ``progress`` shows a
    progress bar and a one-line summary on stderr.
    """
    root = _stamps_root(None)
    return prepare_from_deb("stamps", root, STAMPS_PACKAGE, "--stamps-deb", lambda d: _build(d, root, progress), deb,
                            progress)


def prepare_from_deb(name: str, root: Path, package: str, option: str, build: Callable[[Path], dict],
                     deb: Path | None, progress: bool) -> Path:
    """Dataset ``name`` in ``root`` from one Debian ``package``: ``deb`` (checked even when the dataset is prepared,
    ``check_given_deb``) or, when it is None, ``apt-get download`` into a temporary folder (``option`` is the flag
    that passes a .deb instead); ``build(deb) -> manifest`` unpacks it. Nothing is done when ``root`` is prepared;
    ``progress`` says so, or prints a one-line summary of what was built."""
    manifest = read_manifest(root)
    if deb is not None:  # a wrong file is an error, prepared or not
        check_given_deb(name, Path(deb), package, root, manifest)
    if is_prepared(name, root, manifest, progress):
        return root
    if deb is not None:
        manifest = build(Path(deb))
    else:
        with tempfile.TemporaryDirectory(prefix="optical-deb-") as folder:
            manifest = build(download_deb(Path(folder), package, option))
    if progress:
        print(f"{name}: prepared {root}: {summary(manifest)}", file=sys.stderr)
    return root
