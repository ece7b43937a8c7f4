"""Ranking one dataset's captions and images with a run's encoders: shared by the runner (its test split) and
``evaluate_run`` (a finished run on any dataset).

An ``Encode`` maps (captions, language) to normalised embeddings (N, D), or for a late teacher to token states
(``Padded`` (N, L, D)), or to None when the method cannot read that language (translate-test without a translation
into English): that language is left out of the method's rows. A gallery is the teacher's image embeddings (I, D),
or its projected regions (``Padded`` (I, R, D)) for a late teacher (``teacher_gallery``), ranked by
``late_scores`` exactly, in chunks.
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
from optical.distill import (
    DualEncoder,
    FrozenPrefix,
    ProjectedTextEncoder,
    shared_prefix_embeddings,
    transformer_layers,
)
from optical.evaluate import RankPair, check_finite, image_to_text_ranks, retrieval_ranks, text_to_image_ranks
from optical.results import GroupPair, query_groups
from optical.scoring import Padded, late_scores

Texts = "np.ndarray | Padded"  # (N, D) normalised sentence embeddings, or (N, L, D) token states (late)
Gallery = "np.ndarray | Padded"  # (I, D) normalised image embeddings, or (I, R, D) projected regions (late)
Encode = Callable[[list[str], str], "np.ndarray | Padded | None"]  # (captions, language) -> Texts, or None


def teacher_gallery(teacher: DualEncoder, features: torch.Tensor, regions: Padded | None) -> np.ndarray | Padded:
    """What ``teacher`` ranks images by: its image embeddings (I, D) of pooled ``features`` (I, image_dim), or for a
    late teacher its projected ``regions`` (I, R, D)."""
    if teacher.scoring == "late":
        if regions is None:
            raise ValueError("a late teacher ranks images by their regions: none were encoded")
        return teacher.embed_regions(regions)
    return teacher.embed_images(features).numpy()


def text_encoding(model: ProjectedTextEncoder, late: bool) -> Callable[[list[str]], np.ndarray | Padded]:
    """How ``model`` embeds captions for ranking: token states (late) or normalised sentence embeddings."""
    if late:
        return model.encode_tokens
    return lambda texts: model.encode(texts).numpy()


def gallery_rows(images: np.ndarray | Padded, rows: list[int] | np.ndarray) -> np.ndarray | Padded:
    """The gallery rows ``rows`` (pooled or late)."""
    return images.rows(rows) if isinstance(images, Padded) else images[rows]


def check_gallery(images: np.ndarray | Padded, what: str) -> np.ndarray | Padded:
    """``check_finite`` of embeddings or of the values of padded states."""
    check_finite(images.values.numpy() if isinstance(images, Padded) else images, what)
    return images


def score_ranks(text: np.ndarray | Padded, images: np.ndarray | Padded, caption_image: np.ndarray,
                image_groups: np.ndarray | None = None) -> RankPair:
    """(t2i, i2t) ranks of captions against images: cosine of embeddings, or late scores of token states against
    regions (the full (N, I) score matrix, computed in bounded-memory chunks)."""
    if isinstance(images, Padded) != isinstance(text, Padded):
        raise ValueError("late ranking needs token states against regions; pooled, embeddings against embeddings")
    if isinstance(images, Padded):
        sim = late_scores(text.values, text.mask, images.values, images.mask, chunk=64).numpy()
        return text_to_image_ranks(sim, caption_image, image_groups), image_to_text_ranks(sim, caption_image,
                                                                                        image_groups)
    return retrieval_ranks(text, images, caption_image, image_groups)


@dataclass
class EvalSet:
    """One dataset's test sets (language -> RetrievalSet), the gallery holding all their images (English's), its
    image embeddings (I, D) or late regions (I, R, D), and every language's query groups."""

    sets: dict[str, RetrievalSet]
    gallery: RetrievalSet
    images: np.ndarray | Padded
    groups: dict[str, GroupPair]

    @classmethod
    def build(cls, sets: dict[str, RetrievalSet], images: np.ndarray | Padded, paths: list | None = None) -> EvalSet:
        """``images`` (N, D) (or regions (N, R, D)) embed the gallery's images (``sets["en"]``), or, given ``paths``,
        the images ``paths``, a superset of the gallery's (e.g. the comparable subset of a full test split)."""
        gallery = sets["en"]
        if paths is not None:
            row = {p: i for i, p in enumerate(paths)}
            images = gallery_rows(images, [row[p] for p in gallery.image_paths])
        check_gallery(images, "teacher: the gallery's image embeddings")
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
        check_gallery(text, f"{method}: the {lang} caption embeddings")
        own = gallery_rows(ev.images, [row[p] for p in rs.image_paths])
        ranks[lang] = score_ranks(text, own, rs.caption_image, rs.image_groups)
    return ranks


def write_gallery(folder: Path, sets: dict[str, RetrievalSet], images: np.ndarray | Padded,
                  pooled: np.ndarray | None = None) -> None:
    """``gallery.json`` (image paths, groups, every language's captions) and ``gallery.npy`` (I, D) in ``folder``,
    what the app's Image Search reads; ``sets["en"]`` holds every image, in the order of ``images``. Image paths
    are stored relative to the cache or their dataset folder (``optical.store.stored_images``), so the run folder
    travels. A late gallery (``images`` regions (I, R, D)) also writes ``gallery_regions.npy`` (I, R, D) float16
    (every region real) and takes ``pooled`` (I, D), the teacher's pooled image embeddings, as ``gallery.npy``:
    the app's prefilter."""
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
    if isinstance(images, Padded):
        if pooled is None or not bool(images.mask.all()):
            raise ValueError("a late gallery needs its pooled embeddings and every region real")
        _write_npy(folder / "gallery_regions.npy", images.values.numpy().astype(np.float16))
        images = pooled
    _write_npy(folder / "gallery.npy", images.astype(np.float32))


def _write_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


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
    progress: bool = False, tokens: bool = False,
) -> dict[str, np.ndarray | Padded]:
    """Normalised sentence embeddings (N, D) of ``texts`` for every model, the first ``n_frozen`` layers run once
    per distinct caption for all of them (``shared_prefix_embeddings``), then each model's own top layers;
    ``n_frozen == 0`` encodes with each model in full. Each distinct caption is encoded once. ``progress``: a tqdm
    bar (stderr) of the distinct captions encoded (per model when ``n_frozen == 0``); the embeddings are the same.
    ``tokens``: each model's token states (``Padded`` (N, L, D)) instead, what a late teacher's ranking reads."""
    unique = sorted(dict.fromkeys(texts), key=len)  # similar lengths share a batch of ``model.encode``
    where = {text: i for i, text in enumerate(unique)}
    order = np.array([where[t] for t in texts], dtype=np.int64)
    if n_frozen == 0:
        embedded = {}
        for name, model in models.items():
            # 1024 is a multiple of encode's batch of 64: the same batches as one call, so the same embeddings
            chunks = [unique[i : i + 1024] for i in range(0, len(unique), 1024)] if progress and unique else [unique]
            bar = tqdm(chunks, desc=f"encoding captions ({name})", disable=not progress, unit="chunk")
            parts = [model.encode_tokens(chunk) if tokens else model.encode(chunk) for chunk in bar]
            embedded[name] = Padded.cat(parts) if tokens else torch.cat(parts)
    else:
        embedded = shared_prefix_embeddings(models, unique, n_frozen, batch_size=batch_size, progress=progress,
                                            tokens=tokens)
    if tokens:
        return {name: embedded.pop(name).rows(order) for name in list(embedded)}
    return {name: embedded.pop(name).numpy()[order] for name in list(embedded)}  # each (U, D) freed once reordered
