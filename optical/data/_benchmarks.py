"""Benchmarks by name (``stamps``, ``art4apps``, ``captions``, ``multi30k``): loading one, and the rows that
evaluate a finished run on it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from optical.data._art4apps import load_art4apps
from optical.data._captions import CaptionsDataset, load_captions
from optical.data._languages import closest_language
from optical.data._multi30k import caption_files
from optical.data._retrieval import RetrievalSet, captions_retrieval_set, multi30k_retrieval_set, stamps_retrieval_set
from optical.data._stamps import StampsDataset, load_stamps
from optical.errors import InputError

BENCHMARKS = ("stamps", "art4apps", "captions", "multi30k")
MULTI30K_TEST = "test_2016_flickr"


def load_benchmark(name: str, root: str | Path | None = None) -> StampsDataset | CaptionsDataset:
    """The prepared ``stamps`` or ``art4apps`` dataset (``root`` overrides the cache folder) or the ``captions``
    folder at ``root`` (required). Multi30k is read split by split (``multi30k_retrieval_set``)."""
    if name == "stamps":
        return load_stamps(Path(root) if root else None)
    if name == "art4apps":
        return load_art4apps(Path(root) if root else None)
    if name == "captions":
        if root is None:
            raise InputError("dataset 'captions' needs --root DIR (a folder with images/ and captions.tsv)")
        return load_captions(root)
    raise InputError(f"unknown dataset {name!r}; expected one of {', '.join(BENCHMARKS[:3])} here")


def benchmark_retrieval_set(dataset: StampsDataset | CaptionsDataset, language: str,
                            split: str | None) -> RetrievalSet:
    """One language of a loaded benchmark: the images of ``split`` (all for None) and their captions."""
    if isinstance(dataset, CaptionsDataset):
        return captions_retrieval_set(dataset, language, split)
    return stamps_retrieval_set(dataset, language, split)


def evaluation_split(name: str, dataset: StampsDataset | CaptionsDataset | None = None) -> str | None:
    """The rows that evaluate a run trained elsewhere: ``stamps`` its test split (runs train on the rest),
    ``art4apps`` every drawing, ``captions`` its test rows when captions.tsv has a split column else every row,
    ``multi30k`` test_2016_flickr. None means every row."""
    if name == "stamps":
        return "test"
    if name == "art4apps":
        return None
    if name == "captions":
        if not isinstance(dataset, CaptionsDataset):
            raise InputError("evaluation_split('captions') needs the loaded dataset")
        return "test" if dataset.has_split else None
    if name == "multi30k":
        return MULTI30K_TEST
    raise InputError(f"unknown dataset {name!r}; expected one of {', '.join(BENCHMARKS)}")


def evaluation_sets(name: str, languages: list[str], root: str | Path | None = None,
                    images: str | Path | None = None, *, available_only: bool = False) -> dict[str, RetrievalSet]:
    """``{language: RetrievalSet}`` to evaluate a finished run on benchmark ``name`` (rows: ``evaluation_split``).
    ``multi30k`` needs ``root`` (the checkout) and ``images``; ``captions`` needs ``root``.

    A language those rows have no captions in raises InputError; with ``available_only`` it is left out instead,
    and a tag the rows lack is read as its bare language when they have that (``de-DE`` as ``de``, keyed ``de``:
    ``closest_language``), so the keys say which languages were read."""
    if name == "multi30k":
        if root is None or images is None:
            raise InputError("dataset 'multi30k' needs --root (the multi30k/dataset checkout) and --images")
        if available_only:
            languages = _available(languages, caption_files(root).get(MULTI30K_TEST, {}))
        return {lang: multi30k_retrieval_set(root, images, lang, split=MULTI30K_TEST) for lang in languages}
    dataset = load_benchmark(name, root)
    split = evaluation_split(name, dataset)
    if available_only:
        languages = _available(languages, ["en", *dataset.languages(split=split)])
    return {lang: benchmark_retrieval_set(dataset, lang, split) for lang in languages}


def _available(languages: list[str], have: Iterable[str]) -> list[str]:
    """The tags of ``languages`` as ``have`` holds them (``closest_language``), without those it lacks."""
    have = set(have)
    return list(dict.fromkeys(tag for tag in (closest_language(code, have) for code in languages) if tag))
