"""What an experiment reads: teacher pairs (English caption, image), evaluation sets per language, bitext."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from optical.config import ExperimentConfig
from optical.data import (
    RetrievalSet,
    benchmark_retrieval_set,
    iter_bitext,
    load_benchmark,
    multi30k_retrieval_set,
    normalize_locale,
)
from optical.encoders import ImageEncoder, encode_image_files, encode_image_regions
from optical.errors import InputError
from optical.scoring import Padded, pool_grid


@dataclass
class ImageCaptionPairs:
    """Teacher training or validation data: a RetrievalSet plus the image-tower features of its gallery."""

    retrieval: RetrievalSet
    features: torch.Tensor  # (I, image_dim), aligned with retrieval.image_paths
    regions: Padded | None = None  # late scoring: (I, R, image_dim) region features, float16, aligned likewise

    @property
    def captions(self) -> list[str]:
        return self.retrieval.captions

    def caption_features(self) -> torch.Tensor:
        """(Q, image_dim): the feature of each caption's image."""
        return self.features[torch.as_tensor(self.retrieval.caption_image)]

    def caption_groups(self) -> list[str]:
        """(Q,) group keys: captions of interchangeable images share one."""
        groups = self.retrieval.image_groups[self.retrieval.caption_image]
        return [str(g) for g in groups]


@dataclass
class ExperimentData:
    train: ImageCaptionPairs  # English captions of the train split
    val: ImageCaptionPairs  # English captions of the val split (teacher early stopping)
    test: dict[str, RetrievalSet]  # language -> test set; "en" included
    test_features: torch.Tensor  # (I, image_dim) for the test gallery (shared by all languages)
    bitext: dict[str, list[tuple[str, str]]]  # language -> (english, foreign) pairs of the train split
    # language -> val set of each foreign language that has val captions (students' early stopping); its images are
    # among val's
    val_foreign: dict[str, RetrievalSet] = field(default_factory=dict)
    task2: dict[str, RetrievalSet] = field(default_factory=dict)  # Multi30k 5-caption test sets (en, de)
    task2_features: torch.Tensor | None = None  # (I2, image_dim) for the task-2 gallery
    test_regions: Padded | None = None  # late scoring: (I, R, image_dim) of the test gallery
    task2_regions: Padded | None = None  # late scoring: (I2, R, image_dim) of the task-2 gallery


def load_experiment_data(config: ExperimentConfig, image_encoder: ImageEncoder, progress: bool = True) -> ExperimentData:
    """Read the dataset named by ``config`` and encode (or fetch from cache) every image it needs: pooled features,
    and for late scoring (``config.scoring``) the region features too."""
    languages = [normalize_locale(lang) for lang in config.languages]
    sets = _retrieval_sets(config, ["en", *[lang for lang in languages if lang != "en"]])

    def features(rs: RetrievalSet) -> torch.Tensor:
        return torch.from_numpy(np.asarray(encode_image_files(rs.image_paths, image_encoder, progress=progress)))

    def regions(rs: RetrievalSet) -> Padded | None:
        if config.scoring != "late":
            return None
        return image_regions(rs.image_paths, image_encoder, config.region_grid, progress)

    test = sets["test"]
    task2 = sets.get("task2", {})
    bitext = {lang: _bitext(config, lang) for lang in languages if lang != "en"}
    return ExperimentData(
        train=ImageCaptionPairs(sets["train"], features(sets["train"]), regions(sets["train"])),
        val=ImageCaptionPairs(sets["val"], features(sets["val"]), regions(sets["val"])),
        test=test,
        test_features=features(test["en"]),
        bitext=equal_bitext(bitext) if config.bitext_per_language == "equal" else bitext,
        val_foreign=sets["val_foreign"],
        task2=task2,
        task2_features=features(task2["en"]) if task2 else None,
        test_regions=regions(test["en"]),
        task2_regions=regions(task2["en"]) if task2 else None,
    )


def image_regions(paths: list, encoder: ImageEncoder, grid: int, progress: bool = False) -> Padded:
    """The region features of image files, pooled to ``grid`` x ``grid`` (``pool_grid``): (N, R, C) float16, every
    region real. InputError when ``encoder`` has no region grid (late scoring needs one)."""
    try:
        found = encode_image_regions(paths, encoder, progress=progress)
    except TypeError:
        raise InputError(f"late scoring reads the image tower's region grid, which image encoder {encoder.name!r} does "
                         "not give: use an EfficientNet-Lite image encoder or --scoring pooled") from None
    values = pool_grid(torch.from_numpy(found), grid) if len(paths) else torch.zeros(0, 1, encoder.feature_dim,
                                                                                       dtype=torch.float16)
    return Padded(values, torch.ones(values.shape[:2], dtype=torch.bool))


def _retrieval_sets(config: ExperimentConfig, languages: list[str]) -> dict:
    """{"train": RetrievalSet(en), "val": RetrievalSet(en), "test": {lang: RetrievalSet}} for the dataset;
    Multi30k adds "task2": the 5-caption test_2016 sets of English and German (when the task-2 files exist)."""
    if config.dataset != "multi30k":  # stamps, art4apps, captions: one loaded dataset, split by group or column
        ds = load_benchmark(config.dataset, config.root)
        return {
            "train": benchmark_retrieval_set(ds, "en", split="train"),
            "val": benchmark_retrieval_set(ds, "en", split="val"),
            "val_foreign": _val_sets(lambda lang: benchmark_retrieval_set(ds, lang, split="val"), languages),
            "test": {lang: benchmark_retrieval_set(ds, lang, split="test") for lang in languages},
        }
    root, images = Path(config.root), Path(config.images) if config.images else None
    task2_languages = [lang for lang in ("en", "de") if lang in languages]
    has_task2 = (root / "data" / "task2").is_dir()
    return {
        "train": multi30k_retrieval_set(root, images, "en", split="train"),
        "val": multi30k_retrieval_set(root, images, "en", split="val"),
        "val_foreign": _val_sets(lambda lang: multi30k_retrieval_set(root, images, lang, split="val"), languages),
        "test": {lang: multi30k_retrieval_set(root, images, lang, split="test_2016_flickr") for lang in languages},
        "task2": {
            lang: multi30k_retrieval_set(root, images, lang, split="test_2016", task=2) for lang in task2_languages
        }
        if has_task2
        else {},
    }


def _val_sets(load: Callable[[str], RetrievalSet], languages: list[str]) -> dict[str, RetrievalSet]:
    """The val set of each foreign language that has val captions (``load(lang)`` raises InputError without)."""
    sets = {}
    for lang in languages:
        if lang == "en":
            continue
        try:
            sets[lang] = load(lang)
        except (InputError, FileNotFoundError):
            continue
    return sets


def equal_bitext(bitext: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
    """Every language's pairs capped at the smallest language's count: a fixed random sample per language (seeded
    by the language code, so every method and seed of a run distils from the same pairs), in the original order."""
    if not bitext:
        return {}
    n = min(len(pairs) for pairs in bitext.values())
    capped = {}
    for lang, pairs in bitext.items():
        rng = np.random.default_rng(zlib.crc32(lang.encode("utf-8")))
        keep = np.sort(rng.choice(len(pairs), size=n, replace=False))
        capped[lang] = [pairs[int(i)] for i in keep]
    return capped


def _bitext(config: ExperimentConfig, language: str) -> list[tuple[str, str]]:
    source = f"{config.dataset}:{config.root}" if config.dataset in ("captions", "multi30k") else config.dataset
    pairs = list(iter_bitext(source, language, split="train"))
    extra = {normalize_locale(lang): spec for lang, spec in config.bitext.items()}
    if language in extra:
        seen = set(pairs)
        pairs += [p for p in iter_bitext(extra[language], language) if p not in seen]
    return cap_bitext(pairs, config.bitext_pairs)


def cap_bitext(pairs: list[tuple[str, str]], limit: int | None) -> list[tuple[str, str]]:
    """At most ``limit`` of ``pairs`` (all when None): those whose (english, foreign) text hashes lowest, in their
    original order. The sample depends on the pairs alone (not on the seed or the method), and a smaller cap's sample
    is part of a larger one's."""
    if limit is None or len(pairs) <= limit:
        return pairs
    keep = sorted(range(len(pairs)), key=lambda i: (_pair_hash(pairs[i]), i))[:limit]
    return [pairs[i] for i in sorted(keep)]


def _pair_hash(pair: tuple[str, str]) -> bytes:
    return hashlib.sha256("\x00".join(pair).encode("utf-8")).digest()
