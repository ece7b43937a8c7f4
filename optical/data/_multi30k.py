"""Multi30k in its official layout (github.com/multi30k/dataset); the Flickr30k images come from a folder.

Task 1 (one caption per image, translations of each other)::

    <root>/data/task1/raw/{split}.{lang}[.gz]          split: train, val, test_2016_flickr, test_2017_flickr,
    <root>/data/task1/image_splits/{split}.txt                test_2018_flickr, test_2017_mscoco; lang: en de fr cs

Task 2 (five independent captions per image, en and de)::

    <root>/data/task2/raw/{split}.{1..5}.{lang}[.gz]    split: train, val, test_2016
    <root>/data/task2/image_splits/{split}_images.txt

Line ``i`` of every caption file describes the image named on line ``i`` of the image list (test_2017_mscoco lists
``COCO_<set>_<id>.jpg#<caption id>``: the part after ``#`` is dropped; its images are MSCOCO's, not Flickr30k's,
so pass the folder that holds them). All files are checked:
line counts against the image list, strict UTF-8, language codes; images only when an image folder is given.
A blank caption line keeps its image but gives no query: ``load_multi30k`` warns (``DataWarning``) naming the file
and the lines, and records them in ``Multi30kSplit.blank_lines``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from optical.data._languages import normalize_locale
from optical.data._text import read_lines
from optical.errors import DataWarning, InputError

TASKS = (1, 2)
COCO_SPLITS = ("test_2017_mscoco",)
CAPTIONS_PER_IMAGE = {1: 1, 2: 5}
_FILE = {
    1: re.compile(r"(?P<split>[A-Za-z0-9_]+)\.(?P<lang>[^.]+)(?:\.gz)?"),
    2: re.compile(r"(?P<split>[A-Za-z0-9_]+)\.(?P<index>[1-5])\.(?P<lang>[^.]+)(?:\.gz)?"),
}


def _task_dir(root: str | Path, task: int) -> Path:
    if task not in TASKS:
        raise InputError(f"unknown Multi30k task {task!r} (expected 1 or 2)")
    root = Path(root)
    if not root.is_dir():
        raise InputError("Multi30k root not found (expected a clone of github.com/multi30k/dataset)", root)
    raw = root / "data" / f"task{task}" / "raw"
    if not raw.is_dir():
        raise InputError(f"not a Multi30k folder: data/task{task}/raw is missing", root)
    return raw.parent


def _image_list(task_dir: Path, task: int, split: str) -> Path:
    return task_dir / "image_splits" / (f"{split}.txt" if task == 1 else f"{split}_images.txt")


def caption_files(root: str | Path, task: int = 1) -> dict[str, dict[str, list[Path]]]:
    """The caption files under ``data/task<task>/raw``: ``{split: {language: [file, ...]}}``.

    Task 1 has one file per language, task 2 five (``.1`` to ``.5``, in order). Both ``x.en`` and ``x.en.gz`` may
    exist; the plain file wins. A file whose language suffix is not a known language code raises ``InputError``.
    """
    raw = _task_dir(root, task) / "raw"
    found: dict[str, dict[str, dict[int, Path]]] = {}
    for path in sorted(raw.iterdir(), key=lambda p: (p.name.endswith(".gz"), p.name)):
        match = _FILE[task].fullmatch(path.name)
        if not match or not path.is_file():
            continue
        try:
            lang = normalize_locale(match["lang"])
        except InputError as err:
            raise InputError(f"caption file with {err.message}", path) from None
        index = int(match["index"]) if task == 2 else 1
        found.setdefault(match["split"], {}).setdefault(lang, {}).setdefault(index, path)
    files = {}
    for split, by_lang in found.items():
        for lang, by_index in by_lang.items():
            missing = [i for i in range(1, CAPTIONS_PER_IMAGE[task] + 1) if i not in by_index]
            if missing:
                raise InputError(f"split {split!r}, language {lang}: caption file(s) {missing} missing", raw)
            files.setdefault(split, {})[lang] = [by_index[i] for i in sorted(by_index)]
    return files


@dataclass(frozen=True)
class Multi30kSplit:
    """One split of one task: image names and, per language, their captions."""

    task: int
    split: str
    image_names: list[str]  # [I], as in the image list
    captions: dict[str, list[list[str]]]  # language -> [I] lists of captions (1 for task 1, 5 for task 2)
    images_dir: Path | None  # the Flickr30k image folder, when given
    blank_lines: dict[Path, list[int]] = field(default_factory=dict)  # caption file -> its blank lines (1-based)

    def image_paths(self) -> list[Path]:
        """Paths of the images, in list order (``images_dir`` must have been given)."""
        if self.images_dir is None:
            raise InputError("this Multi30k split was loaded without an image folder (pass --images PATH)")
        return [self.images_dir / name for name in self.image_names]


def load_multi30k(root: str | Path, split: str = "test_2016_flickr", task: int = 1,
                  languages: list[str] | None = None, images: str | Path | None = None) -> Multi30kSplit:
    """Load and validate one Multi30k split.

    Parameters
    ----------
    root : the clone of ``multi30k/dataset`` (holding ``data/``).
    split : e.g. ``train``, ``val``, ``test_2016_flickr`` (task 1) or ``test_2016`` (task 2).
    task : 1 (translations, en/de/fr/cs) or 2 (five independent captions, en/de).
    languages : the languages to load (default: all present for the split).
    images : the Flickr30k image folder; when given, every listed image must exist.

    Every problem raises ``InputError`` naming the file (and line): a missing root, split or caption file, a
    caption file whose line count differs from the image list, non-UTF-8 text, an unknown language code, an
    image that is missing. Blank caption lines are kept (line ``i`` stays image ``i``) and warned about.
    """
    task_dir = _task_dir(root, task)
    files = caption_files(root, task)
    if split not in files:
        known = ", ".join(sorted(files)) or "none"
        raise InputError(f"no caption files for split {split!r} (found: {known})", task_dir / "raw")
    wanted = [normalize_locale(code) for code in languages] if languages is not None else sorted(files[split])
    list_path = _image_list(task_dir, task, split)
    if not list_path.is_file():
        raise InputError(f"image list of split {split!r} not found", list_path)
    names = [line.split("#", 1)[0].strip() for line in read_lines(list_path)]  # "COCO_...jpg#<caption id>"
    for number, name in enumerate(names, start=1):
        if not name:
            raise InputError("empty image name", list_path, number)
    captions, blank_lines = {}, {}
    for lang in wanted:
        if lang not in files[split]:
            raise InputError(f"split {split!r} has no {lang} captions (found: {', '.join(sorted(files[split]))})",
                             task_dir / "raw")
        columns = []
        for path in files[split][lang]:
            lines = read_lines(path)
            if len(lines) != len(names):
                raise InputError(f"{len(lines)} lines, but the image list {list_path} has {len(names)}", path)
            blank = [number for number, line in enumerate(lines, start=1) if not line.strip()]
            if blank:
                blank_lines[path] = blank
                shown = ", ".join(map(str, blank[:10])) + (", ..." if len(blank) > 10 else "")
                warnings.warn(f"{path}: {len(blank)} blank caption line(s) (line {shown}) skipped: those images "
                              f"have no {lang} query", DataWarning, stacklevel=2)
            columns.append(lines)
        captions[lang] = [list(row) for row in zip(*columns, strict=True)]
    images_dir = Path(images) if images is not None else None
    if images_dir is not None:
        if not images_dir.is_dir():
            raise InputError("image folder not found", images_dir)
        for number, name in enumerate(names, start=1):
            if not (images_dir / name).is_file():
                raise InputError(f"image {images_dir / name} not found", list_path, number)
    return Multi30kSplit(task, split, names, captions, images_dir, blank_lines)
