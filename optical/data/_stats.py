"""Dataset statistics as plain dicts (JSON-ready), for the ``data stats`` command and the app."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from optical.data._captions import CaptionsDataset
from optical.data._languages import cc100_size_gib, language_name, resource_group
from optical.data._multi30k import COCO_SPLITS, TASKS, caption_files, load_multi30k
from optical.data._stamps import SPLITS, StampsDataset


def _language_row(language: str, counts: dict[str, int]) -> dict:
    return {"name": language_name(language), "resource_group": resource_group(language),
            "cc100_gib": cc100_size_gib(language), **counts}


def stamps_stats(dataset: StampsDataset, name: str = "stamps") -> dict:
    """Images and caption groups per split; per foreign locale: captions per split, untranslated captions
    dropped, CC-100 size and resource group. ``name``: ``stamps`` or ``art4apps`` (the same format).

    Returns ``{"dataset", "source", "splits": {split: {"images", "groups"}}, "languages": {locale: {...}},
    "skipped", "unknown_locales"}``.
    """
    per_split = {name: dataset.caption_counts(name) for name in SPLITS}
    languages = sorted(set().union(*per_split.values()) | set(dataset.dropped_untranslated))
    return {
        "dataset": name,
        "source": dataset.source,
        "splits": {
            name: {"images": len(stamps := dataset.split(name)), "groups": len({s.group for s in stamps})}
            for name in SPLITS
        },
        "languages": {
            lang: _language_row(lang, {
                **{name: per_split[name][lang] for name in SPLITS},
                "dropped_untranslated": dataset.dropped_untranslated.get(lang, 0),
            })
            for lang in languages
        },
        "skipped": dataset.skipped,
        "unknown_locales": dataset.unknown_locales,
    }


def captions_stats(dataset: CaptionsDataset) -> dict:
    """As ``stamps_stats`` for a captions folder: images and groups per split, captions per language and split
    (``en`` included here, as an image may have several English captions).

    Returns ``{"dataset": "captions", "source": {"root", "split"}, "splits", "languages"}``; ``source["split"]``
    says whether captions.tsv gave the split or it was made by group.
    """
    per_split = {name: Counter(r.language for r in dataset.rows if dataset.images[r.image].split == name)
                 for name in SPLITS}
    languages = sorted({r.language for r in dataset.rows})
    return {
        "dataset": "captions",
        "source": {"root": str(dataset.root), "split": "column" if dataset.has_split else "by English caption"},
        "splits": {
            name: {"images": len(images := [dataset.images[i] for i in dataset.split_images(name)]),
                   "groups": len({image.group for image in images})}
            for name in SPLITS
        },
        "languages": {
            lang: _language_row(lang, {name: per_split[name][lang] for name in SPLITS}) for lang in languages
        },
    }


def multi30k_stats(root: str | Path, images: str | Path | None = None) -> dict:
    """Per task and split: number of images and captions per language; per language its CC-100 size and
    resource group; caption counts leave out blank caption lines, listed per file under ``blank_lines``. Every
    split is fully validated; with ``images`` (the Flickr30k folder) every listed image must exist (existence
    only: images are not decoded), except for the MSCOCO split.

    Returns ``{"dataset", "root", "tasks": {task: {"splits": {split: {"images", "images_exist"}},
    "languages": {lang: {...}}, "blank_lines": {file: [line, ...]}}}}``
    (a task whose ``raw`` folder is absent is left out).
    """
    tasks = {}
    for task in TASKS:
        if task == 2 and not (Path(root) / "data" / "task2" / "raw").is_dir():
            continue  # task 2 is optional; task 1 is required (a missing one raises InputError)
        splits, counts, blank = {}, {}, {}
        for split in sorted(caption_files(root, task)):
            coco = split in COCO_SPLITS  # its images are not in the Flickr30k folder
            data = load_multi30k(root, split=split, task=task, images=None if coco else images)
            splits[split] = {"images": len(data.image_names), "images_exist": data.images_dir is not None}
            blank.update((str(path), lines) for path, lines in data.blank_lines.items())
            for lang, rows in data.captions.items():
                counts.setdefault(lang, Counter())[split] = sum(bool(c.strip()) for row in rows for c in row)
        tasks[str(task)] = {
            "splits": splits,
            "languages": {
                lang: _language_row(lang, {split: counts[lang][split] for split in splits})
                for lang in sorted(counts)
            },
            "blank_lines": blank,
        }
    return {"dataset": "multi30k", "root": str(root), "tasks": tasks}
