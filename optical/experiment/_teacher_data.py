"""The teacher's training pairs (English caption, image-side vector) from a list of sources, with every
evaluation image left out.

Sources (``ExperimentConfig.teacher_sources``):

- ``dataset``: the train split of the run's own dataset (what the teacher always trained on);
- ``stamps``: the stamps train split (for runs on another dataset);
- ``openclipart``: the train split of the OpenClipart drawings (``prepare --with openclipart``);
- ``imagenet-prototypes``: one pair per ImageNet class: the row of the image tower's classifier head for that
  class, moved into the image-feature distribution (``prototype_features``, ``prototype_scale``), with
  ``prototype_template`` filled with the class's first lemma ("a photo of a tench") and its WordNet gloss
  (``{definition}``), or one pair per lemma (``prototype_synonyms``);
- ``captions:DIR``: the train split of a captions folder (``DIR/images``, ``DIR/captions.tsv``).

For a late teacher (``scoring`` late) each pair also carries its image's region features (``TeacherPairs.regions``,
pooled to ``region_grid``); an ImageNet prototype is a one-region image.

Every source but ``dataset`` (whose split already keeps groups apart) is filtered against the evaluation images:
the run's val and test images, the stamps val and test splits and every art4apps drawing when they are
prepared. A pair is left out when its image has the bytes of an evaluation image, when its image features are
a near copy of one (cosine >= ``NEAR_COPY_COSINE``: the same drawing rendered at another size; Tux Paint ships
some OpenClipart drawings), or when its caption (or the part before the first comma) equals an evaluation
caption, ignoring case and final punctuation.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from optical.config import ExperimentConfig, check_teacher_sources
from optical.data import (
    RetrievalSet,
    benchmark_retrieval_set,
    caption_key,
    load_art4apps,
    load_captions,
    load_imagenet_classes,
    load_openclipart,
    load_stamps,
)
from optical.encoders import EfficientNetLite, ImageEncoder, create_image_encoder, encode_image_files
from optical.errors import InputError, MissingAssetError
from optical.experiment._data import ExperimentData, image_regions
from optical.scoring import Padded

NEAR_COPY_COSINE = 0.9  # measured: stamps that are OpenClipart drawings re-rendered score 0.92-1.0


@dataclass
class TeacherPairs:
    """What the teacher trains on: caption i matches image-side vector ``features[i]``."""

    captions: list[str]  # (N,)
    features: torch.Tensor  # (N, image_dim)
    groups: list[str]  # (N,) equal keys: interchangeable pairs (identical captions)
    counts: dict[str, int] = field(default_factory=dict)  # source -> pairs kept
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> pairs left out as evaluation data
    # late scoring: the images' region features (I, R, image_dim) float16, and caption i's image's row among them
    regions: Padded | None = None
    region_rows: list[int] = field(default_factory=list)  # (N,)

    def extend(self, name: str, captions: list[str], features: torch.Tensor, groups: list[str] | None = None,
               regions: tuple[Padded, list[int]] | None = None) -> None:
        """Append one source's pairs; ``groups`` default to the caption keys (identical captions, one group).
        ``regions``: (its images' region features, each caption's row among them), for a late teacher."""
        self.captions += captions
        self.features = torch.cat([self.features, features.float()])
        self.groups += groups if groups is not None else [caption_key(c) for c in captions]
        self.counts[name] = self.counts.get(name, 0) + len(captions)
        if regions is not None:
            bank, rows = regions
            offset = 0 if self.regions is None else len(self.regions)
            self.regions = bank if self.regions is None else Padded.cat([self.regions, bank])
            self.region_rows += [offset + int(r) for r in rows]

    def caption_regions(self) -> tuple[Padded, torch.Tensor]:
        """(the region bank (I, R, image_dim), (N,) each caption's row): what a late teacher trains on."""
        if self.regions is None or len(self.region_rows) != len(self.captions):
            raise ValueError("these teacher pairs carry no region features for every caption (built for pooled scoring)")
        return self.regions, torch.tensor(self.region_rows, dtype=torch.long)


def prototype_features(classifier: torch.nn.Linear, reference: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """(C, F) image-side vectors of the classifier's classes: ``mean + w_c / |w_c| * spread * scale``.

    ``reference`` (N, F) are real image features: ``mean`` is their mean and ``spread`` their mean distance to it,
    so each prototype sits where features of a typical image lie, shifted along the direction that raises its
    class's logit most.
    """
    reference = reference.float()
    mean = reference.mean(dim=0)
    spread = (reference - mean).norm(dim=1).mean()
    weight = classifier.weight.detach().float()
    return mean + torch.nn.functional.normalize(weight, dim=1) * spread * scale


def teacher_pairs(config: ExperimentConfig, data: ExperimentData, image_encoder: ImageEncoder | None = None,
                  progress: bool = True) -> TeacherPairs:
    """The pairs of ``config.teacher_sources`` in that order, evaluation data left out (see the module doc)."""
    check_teacher_sources(config.teacher_sources)
    pairs = TeacherPairs([], torch.empty(0, data.train.features.shape[1]), [])
    own = [f"dataset:{g}" for g in data.train.caption_groups()]  # the dataset's groups (Multi30k: one per image)
    late = config.scoring == "late"
    own_regions = (data.train.regions, list(data.train.retrieval.caption_image)) if late else None
    if config.teacher_sources == ["dataset"]:
        pairs.extend("dataset", data.train.captions, data.train.caption_features(), own, own_regions)
        return pairs
    encoder = image_encoder or create_image_encoder(config.image_encoder)
    guard = _EvaluationGuard.build(config, data, encoder, progress)
    for name in config.teacher_sources:
        if name == "dataset" or (name == "stamps" and config.dataset == "stamps"):
            pairs.extend(name, data.train.captions, data.train.caption_features(), own, own_regions)
        elif name == "imagenet-prototypes":
            if not isinstance(encoder, EfficientNetLite):
                raise InputError(f"teacher source 'imagenet-prototypes' needs an ImageNet classifier head: image "
                                 f"encoder 'efficientnet-lite0' or 'efficientnet-lite2', not {encoder.name!r}")
            classes = load_imagenet_classes()
            rows = [(i, lemma) for i, c in enumerate(classes)
                    for lemma in (c.lemmas if config.prototype_synonyms else c.lemmas[:1])]
            captions = [config.prototype_template.format(lemma=lemma, definition=classes[i].definition)
                        for i, lemma in rows]
            vectors = prototype_features(encoder.classifier, data.train.features, config.prototype_scale)
            keep = guard.keep_captions(captions)
            index = torch.tensor([i for (i, _), k in zip(rows, keep) if k], dtype=torch.long)
            one_region = (Padded.single(vectors[index].half()), list(range(len(index)))) if late else None  # (P, 1, F)
            pairs.extend(name, [c for c, k in zip(captions, keep) if k], vectors[index],
                         [f"imagenet:{classes[int(i)].synset}" for i in index], one_region)  # a class: one group
        else:
            rs = _source_set(name)
            features = encode_image_files(rs.image_paths, encoder, progress=progress)
            keep = guard.keep(rs, features)
            rows = [q for q, image in enumerate(rs.caption_image) if keep[image]]
            captions = [rs.captions[q] for q in rows]
            bank = (image_regions(rs.image_paths, encoder, config.region_grid, progress),
                    list(rs.caption_image[rows])) if late else None
            pairs.extend(name, captions, torch.from_numpy(features[rs.caption_image[rows]]), regions=bank)
    pairs.excluded = dict(guard.excluded)
    return pairs


def _source_set(name: str) -> RetrievalSet:
    """The English train pairs of a file-backed source."""
    if name == "stamps":
        dataset = load_stamps()
    elif name == "openclipart":
        dataset = load_openclipart()
    else:
        dataset = load_captions(name.removeprefix("captions:"))
    return benchmark_retrieval_set(dataset, "en", split="train")


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _key(caption: str) -> str:
    return caption_key(caption).casefold()


@dataclass
class _EvaluationGuard:
    """What evaluation data looks like: file hashes, caption keys, unit-norm image features (E, F)."""

    hashes: set[str]
    captions: set[str]
    features: np.ndarray
    excluded: Counter = field(default_factory=Counter)

    @classmethod
    def build(cls, config: ExperimentConfig, data: ExperimentData, encoder: ImageEncoder,
              progress: bool) -> _EvaluationGuard:
        sets = [data.val.retrieval, *data.test.values()]
        features = [data.val.features.numpy(), data.test_features.numpy()]
        for load, split in ((load_stamps, "val"), (load_stamps, "test"), (load_art4apps, None)):
            try:
                rs = benchmark_retrieval_set(load(), "en", split=split)
            except MissingAssetError:
                continue  # not prepared here, so no run can be evaluated on it without preparing it
            sets.append(rs)
            features.append(encode_image_files(rs.image_paths, encoder, progress=progress))
        vectors = np.concatenate(features).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        return cls({_file_hash(p) for rs in sets for p in rs.image_paths},
                   {_key(c) for rs in sets for c in rs.captions}, vectors)

    def _caption_ok(self, captions: list[str]) -> np.ndarray:
        return np.array([_key(c) not in self.captions and _key(c.split(",")[0]) not in self.captions
                         for c in captions], dtype=bool)

    def keep_captions(self, captions: list[str]) -> np.ndarray:
        """(N,) bool: the captions that are not evaluation captions."""
        keep = self._caption_ok(captions)
        self.excluded["evaluation_caption"] += int((~keep).sum())
        return keep

    def keep(self, rs: RetrievalSet, features: np.ndarray) -> np.ndarray:
        """(I,) bool over ``rs``'s images: kept unless one is evaluation data (all of an image's captions too)."""
        same_file = np.array([_file_hash(p) in self.hashes for p in rs.image_paths], dtype=bool)
        unit = features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-12)
        near = (unit @ self.features.T).max(axis=1) >= NEAR_COPY_COSINE
        by_caption = np.zeros(len(rs.image_paths), dtype=bool)
        by_caption[rs.caption_image[~self._caption_ok(rs.captions)]] = True
        self.excluded["same_image_file"] += int(same_file.sum())
        self.excluded["near_copy_image"] += int((near & ~same_file).sum())
        self.excluded["evaluation_caption"] += int((by_caption & ~near & ~same_file).sum())
        return ~(same_file | near | by_caption)
