"""Ranking one dataset's captions and images with a run's encoders: shared by the runner (its test split) and
``evaluate_run`` (a finished run on any dataset).

An ``Encode`` maps (captions, language) to normalised embeddings, or to None when the method cannot read that
language (translate-test without a translation into English): that language is left out of the method's rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from optical.store import atomic_write_bytes, atomic_write_json, stored_images
from optical.data import RetrievalSet
from optical.distill import FrozenPrefix, ProjectedTextEncoder, shared_prefix_embeddings, transformer_layers
from optical.evaluate import RankPair, check_finite, retrieval_ranks
from optical.results import GroupPair, query_groups

Encode = Callable[[list[str], str], "np.ndarray | None"]  # (captions, language) -> (N, D) normalised, or None


@dataclass
class EvalSet:
    """One dataset's test sets (language -> RetrievalSet), the gallery holding all their images (English's), its
    image embeddings (I, D) and every language's query groups."""

    sets: dict[str, RetrievalSet]
    gallery: RetrievalSet
    images: np.ndarray
    groups: dict[str, GroupPair]

    @classmethod
    def build(cls, sets: dict[str, RetrievalSet], images: np.ndarray, paths: list | None = None) -> EvalSet:
        """``images`` (N, D) embed the gallery's images (``sets["en"]``), or, given ``paths``, the images ``paths``,
        a superset of the gallery's (e.g. the comparable subset of a full test split)."""
        gallery = sets["en"]
        if paths is not None:
            row = {p: i for i, p in enumerate(paths)}
            images = images[[row[p] for p in gallery.image_paths]]
        check_finite(images, "teacher: the gallery's image embeddings")
        return cls(sets, gallery, images, {lang: query_groups(rs, gallery) for lang, rs in sets.items()})


def method_ranks(encode: Encode, ev: EvalSet, method: str) -> dict[str, RankPair]:
    """(t2i, i2t) ranks per language of one dataset (languages ``encode`` cannot read are left out); each
    language's gallery images are rows of ``ev.images``. NaN or infinite caption embeddings raise NonFiniteError
    naming ``method``, the language and how many captions."""
    row = {p: i for i, p in enumerate(ev.gallery.image_paths)}
    ranks = {}
    for lang, rs in ev.sets.items():
        text = encode(rs.captions, lang)
        if text is None:
            continue
        check_finite(text, f"{method}: the {lang} caption embeddings")
        own = ev.images[[row[p] for p in rs.image_paths]]
        ranks[lang] = retrieval_ranks(text, own, rs.caption_image, rs.image_groups)
    return ranks


def write_gallery(folder: Path, sets: dict[str, RetrievalSet], images: np.ndarray) -> None:
    """``gallery.json`` (image paths, groups, every language's captions) and ``gallery.npy`` (I, D) in ``folder``,
    what the app's Image Search reads; ``sets["en"]`` holds every image, in the order of ``images``. Image paths
    are stored relative to the cache or their dataset folder (``optical.store.stored_images``), so the run folder travels."""
    en = sets["en"]
    row = {p: i for i, p in enumerate(en.image_paths)}
    captions = {
        lang: {"texts": list(rs.captions), "image": [row[rs.image_paths[int(i)]] for i in rs.caption_image]}
        for lang, rs in sets.items()
    }
    atomic_write_json(
        folder / "gallery.json",
        {**stored_images(en.image_paths), "groups": [str(g) for g in en.image_groups], "captions": captions},
    )
    buffer = io.BytesIO()
    np.save(buffer, images.astype(np.float32))
    atomic_write_bytes(folder / "gallery.npy", buffer.getvalue())


def shared_frozen_layers(models: list[ProjectedTextEncoder]) -> int:
    """How many bottom transformer layers (with the word embeddings) ``models`` have identical: the students are
    the teacher's text side with those layers frozen. 0 when the embeddings differ or the towers are of a kind
    ``FrozenPrefix`` does not support."""
    first = models[0].text.model
    if not all(FrozenPrefix.supported(m) for m in models):
        return 0
    if not all(_same(models[0].text.core.embeddings, m.text.core.embeddings) for m in models[1:]):
        return 0
    shared = 0
    for i, layer in enumerate(transformer_layers(first)):
        if not all(_same(layer, transformer_layers(m.text.model)[i]) for m in models[1:]):
            break
        shared = i + 1
    return min(shared, len(transformer_layers(first)) - 1)  # the last layer always runs per model


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pa, pb = a.state_dict(), b.state_dict()
    return pa.keys() == pb.keys() and all(pa[k] is pb[k] or torch.equal(pa[k], pb[k]) for k in pa)


def encode_shared(
    models: dict[str, ProjectedTextEncoder], texts: list[str], n_frozen: int, batch_size: int = 256,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Normalised sentence embeddings (N, D) of ``texts`` for every model, the first ``n_frozen`` layers run once
    per distinct caption for all of them (``shared_prefix_embeddings``), then each model's own top layers;
    ``n_frozen == 0`` encodes with each model in full. Each distinct caption is encoded once. ``progress``: a tqdm
    bar (stderr) of the distinct captions encoded (per model when ``n_frozen == 0``); the embeddings are the same."""
    unique = sorted(dict.fromkeys(texts), key=len)  # similar lengths share a batch of ``model.encode``
    where = {text: i for i, text in enumerate(unique)}
    order = np.array([where[t] for t in texts], dtype=np.int64)
    if n_frozen == 0:
        embedded = {}
        for name, model in models.items():
            # 1024 is a multiple of encode's batch of 64: the same batches as one call, so the same embeddings
            chunks = [unique[i : i + 1024] for i in range(0, len(unique), 1024)] if progress and unique else [unique]
            bar = tqdm(chunks, desc=f"encoding captions ({name})", disable=not progress, unit="chunk")
            embedded[name] = torch.cat([model.encode(chunk) for chunk in bar])
    else:
        embedded = shared_prefix_embeddings(models, unique, n_frozen, batch_size=batch_size, progress=progress)
    return {name: embedded.pop(name).numpy()[order] for name in list(embedded)}  # each (U, D) freed once reordered
