"""Retrieval benchmarks in one shape: an image gallery, caption queries, and which image each caption describes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optical.data._captions import CaptionsDataset
from optical.data._languages import normalize_locale
from optical.data._multi30k import load_multi30k
from optical.data._stamps import StampsDataset
from optical.errors import InputError


@dataclass
class RetrievalSet:
    """A retrieval benchmark in one language.

    ``image_groups[i] == image_groups[j]`` marks interchangeable images (same English caption for stamps, same
    file for Multi30k): a retrieved image counts as correct when it is in the group of the caption's image.
    """

    language: str
    image_paths: list[Path]  # gallery, [I]
    image_groups: np.ndarray  # [I] int64
    captions: list[str]  # queries, [Q]
    caption_image: np.ndarray  # [Q] int64, index into image_paths


def _group_ids(keys: list[str]) -> np.ndarray:
    """Dense integer ids, equal for equal keys, numbered in order of first appearance: shape [len(keys)]."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int64)


def stamps_retrieval_set(dataset: StampsDataset, language: str, split: str | None = "test") -> RetrievalSet:
    """Gallery: every image of ``split`` (of the whole dataset for None); queries: their captions in ``language``.
    Also for art4apps, which is a ``StampsDataset``."""
    language = normalize_locale(language)
    stamps = dataset.stamps if split is None else dataset.split(split)
    pairs = [(i, s.captions[language]) for i, s in enumerate(stamps) if language in s.captions]
    if not pairs:
        raise InputError(f"the {dataset.source.get('package', 'stamps')} {split or 'whole'} set has no captions "
                         f"in {language}")
    return RetrievalSet(
        language=language,
        image_paths=[s.image for s in stamps],
        image_groups=_group_ids([s.group for s in stamps]),
        captions=[caption for _, caption in pairs],
        caption_image=np.array([i for i, _ in pairs], dtype=np.int64),
    )


def multi30k_retrieval_set(root: str | Path, images: str | Path, language: str,
                           split: str = "test_2016_flickr", task: int = 1) -> RetrievalSet:
    """Gallery: the split's images (a file listed twice is one group); queries: every non-empty caption in
    ``language`` (1 per image for task 1, 5 for task 2)."""
    data = load_multi30k(root, split=split, task=task, languages=[language], images=images)
    language = normalize_locale(language)
    pairs = [(i, c) for i, row in enumerate(data.captions[language]) for c in row if c.strip()]
    return RetrievalSet(
        language=language,
        image_paths=data.image_paths(),
        image_groups=_group_ids(data.image_names),
        captions=[caption for _, caption in pairs],
        caption_image=np.array([i for i, _ in pairs], dtype=np.int64),
    )


def captions_retrieval_set(dataset: CaptionsDataset, language: str, split: str | None = "test") -> RetrievalSet:
    """Gallery: every image of ``split`` (all images for None); queries: every caption of those images in
    ``language`` (several per image count each, all relevant to their image and its group)."""
    language = normalize_locale(language)
    indices = dataset.split_images(split)
    position = {image: i for i, image in enumerate(indices)}
    pairs = [(position[r.image], r.caption) for r in dataset.rows if r.language == language and r.image in position]
    if not pairs:
        raise InputError(f"the {split or 'whole'} set has no captions in {language}", dataset.root / "captions.tsv")
    images = [dataset.images[i] for i in indices]
    return RetrievalSet(
        language=language,
        image_paths=[image.path for image in images],
        image_groups=_group_ids([image.group for image in images]),
        captions=[caption for _, caption in pairs],
        caption_image=np.array([i for i, _ in pairs], dtype=np.int64),
    )


def common_images(sets: dict[str, RetrievalSet]) -> dict[str, RetrievalSet]:
    """Each language's set restricted to the images captioned in every language of ``sets`` (comparable sets).

    Every returned set has the same gallery (the common images, in the first set's order, groups renumbered
    densely) and only the captions of those images, so chance levels and query images agree across languages.
    """
    if not sets:
        return {}
    captioned = [{rs.image_paths[int(i)] for i in rs.caption_image} for rs in sets.values()]
    shared = set.intersection(*captioned)
    first = next(iter(sets.values()))
    keep = [i for i, path in enumerate(first.image_paths) if path in shared]
    paths = [first.image_paths[i] for i in keep]
    groups = _group_ids([str(g) for g in first.image_groups[keep]])
    position = {path: i for i, path in enumerate(paths)}
    common = {}
    for lang, rs in sets.items():
        queries = [q for q, i in enumerate(rs.caption_image) if rs.image_paths[int(i)] in position]
        common[lang] = RetrievalSet(
            language=rs.language,
            image_paths=list(paths),
            image_groups=groups.copy(),
            captions=[rs.captions[q] for q in queries],
            caption_image=np.array([position[rs.image_paths[int(rs.caption_image[q])]] for q in queries], dtype=np.int64),
        )
    return common
