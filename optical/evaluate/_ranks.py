"""Retrieval ranks in both directions, with groups of interchangeable images and pessimistic ties.

Rank definition (0-based; rank 0 is a hit at R@1). For a query with score row ``s`` over a gallery and a set of
correct gallery items, the rank is the position of the first correct item in the gallery sorted by descending
score, where ties are broken *pessimistically*: every wrong item that scores equal to the best correct item is
placed before it. Equivalently::

    rank = #{ j wrong : s[j] >= max_{i correct} s[i] }

- text -> image: the correct images of a caption are all images in the same group as its own image
  (``image_groups[caption_image[q]]``); equal groups are interchangeable images, e.g. stamps with identical
  English captions. Without groups every image is its own group.
- image -> text: the queries are the images that have at least one caption, in increasing index order
  (`captioned_images`); the correct captions of an image are all captions whose image is in its group. Several
  captions per image (Multi30k task 2: five) need nothing special in either direction.

Pessimistic ties make a constant (degenerate) model score R@k = 0 rather than a lucky 100.
"""

from __future__ import annotations

import numpy as np

from ._finite import check_finite
from ._search import similarity

_CHUNK_ELEMENTS = 1 << 22  # bound on chunk x gallery elements per temporary (scores, masks)


def _checked_groups(caption_image: np.ndarray, image_groups: np.ndarray | None, n_images: int):
    caption_image = np.asarray(caption_image, dtype=np.int64)
    if caption_image.ndim != 1:
        raise ValueError(f"caption_image must have shape (Q,), got {caption_image.shape}")
    if len(caption_image) and (caption_image.min() < 0 or caption_image.max() >= n_images):
        raise ValueError(f"caption_image must index into {n_images} images")
    if image_groups is None:
        image_groups = np.arange(n_images)
    image_groups = np.asarray(image_groups)
    if image_groups.shape != (n_images,):
        raise ValueError(f"image_groups must have shape ({n_images},), got {image_groups.shape}")
    return caption_image, image_groups, image_groups[caption_image]


def captioned_images(caption_image: np.ndarray) -> np.ndarray:
    """The image -> text queries: indices of images with at least one caption, increasing; shape (I',)."""
    return np.unique(np.asarray(caption_image, dtype=np.int64))


def first_hit_ranks(scores: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Pessimistic 0-based rank of the best correct item per row.

    Parameters
    ----------
    scores : array, shape (n, G)
    correct : bool array, shape (n, G); every row needs at least one True

    Returns
    -------
    ranks : int64 array, shape (n,); ``#{j : not correct[r, j] and scores[r, j] >= best correct score}``

    Raises NonFiniteError when a score is NaN or infinite: NaN compares neither greater nor equal, so it would
    turn every row into a hit (rank 0).
    """
    check_finite(scores, "scores")
    best = np.where(correct, scores, -np.inf).max(axis=1, keepdims=True)  # (n, 1)
    return ((scores >= best) & ~correct).sum(axis=1, dtype=np.int64)


def _chunks(n_rows: int, n_cols: int, chunk_size: int | None) -> tuple[range, int]:
    step = chunk_size or max(1, _CHUNK_ELEMENTS // max(n_cols, 1))
    return range(0, n_rows, step), step


def text_to_image_ranks(
    sim: np.ndarray, caption_image: np.ndarray, image_groups: np.ndarray | None = None
) -> np.ndarray:
    """Text -> image ranks from a full similarity matrix.

    Parameters
    ----------
    sim : array, shape (Q, I); ``sim[q, i]`` scores caption q against image i
    caption_image : int array, shape (Q,); the image each caption describes
    image_groups : array, shape (I,), optional; equal values mark interchangeable images

    Returns
    -------
    ranks : int64 array, shape (Q,)
    """
    sim = np.asarray(sim)
    caption_image, image_groups, caption_groups = _checked_groups(caption_image, image_groups, sim.shape[1])
    if sim.shape[0] != len(caption_image):
        raise ValueError(f"sim has {sim.shape[0]} rows for {len(caption_image)} captions")
    ranks = np.empty(len(caption_image), dtype=np.int64)
    starts, step = _chunks(*sim.shape, None)
    for start in starts:
        rows = slice(start, start + step)
        ranks[rows] = first_hit_ranks(sim[rows], caption_groups[rows, None] == image_groups[None, :])
    return ranks


def image_to_text_ranks(
    sim: np.ndarray, caption_image: np.ndarray, image_groups: np.ndarray | None = None
) -> np.ndarray:
    """Image -> text ranks from the same full similarity matrix as `text_to_image_ranks`.

    Parameters
    ----------
    sim : array, shape (Q, I); caption x image scores (transposed internally)
    caption_image : int array, shape (Q,)
    image_groups : array, shape (I,), optional

    Returns
    -------
    ranks : int64 array, shape (I',); one per image in `captioned_images(caption_image)`, in that order
    """
    sim = np.asarray(sim)
    caption_image, image_groups, caption_groups = _checked_groups(caption_image, image_groups, sim.shape[1])
    if sim.shape[0] != len(caption_image):
        raise ValueError(f"sim has {sim.shape[0]} rows for {len(caption_image)} captions")
    queries = captioned_images(caption_image)
    ranks = np.empty(len(queries), dtype=np.int64)
    starts, step = _chunks(len(queries), sim.shape[0], None)
    for start in starts:
        rows = slice(start, start + step)
        images = queries[rows]
        ranks[rows] = first_hit_ranks(sim[:, images].T, image_groups[images, None] == caption_groups[None, :])
    return ranks


def retrieval_ranks(
    text_embeddings: np.ndarray,
    image_embeddings: np.ndarray,
    caption_image: np.ndarray,
    image_groups: np.ndarray | None = None,
    *,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks in both directions from embeddings, without materialising the (Q, I) similarity matrix.

    Scores are inner products (cosine for normalised inputs), computed ``chunk_size`` queries at a time; the
    result equals `text_to_image_ranks` / `image_to_text_ranks` on the full matrix.

    Parameters
    ----------
    text_embeddings : array, shape (Q, d)
    image_embeddings : array, shape (I, d)
    caption_image : int array, shape (Q,)
    image_groups : array, shape (I,), optional
    chunk_size : int, optional
        Queries per chunk; by default about 4M scores per chunk.

    Returns
    -------
    t2i : int64 array, shape (Q,)
    i2t : int64 array, shape (I',); for `captioned_images(caption_image)`, in that order

    Raises NonFiniteError when an embedding (or a score) is NaN or infinite; callers that know the model check
    its embeddings first (`check_finite`) for a message that names it.
    """
    check_finite(text_embeddings, "caption embeddings")
    check_finite(image_embeddings, "image embeddings")
    n_query, n_image = len(text_embeddings), len(image_embeddings)
    if n_query != len(caption_image):
        raise ValueError(f"{n_query} caption embeddings for {len(caption_image)} captions")
    caption_image, image_groups, caption_groups = _checked_groups(caption_image, image_groups, n_image)
    t2i = np.empty(n_query, dtype=np.int64)
    starts, step = _chunks(n_query, n_image, chunk_size)
    for start in starts:
        rows = slice(start, start + step)
        scores = similarity(text_embeddings[rows], image_embeddings)  # (c, I)
        t2i[rows] = first_hit_ranks(scores, caption_groups[rows, None] == image_groups[None, :])
    queries = captioned_images(caption_image)
    i2t = np.empty(len(queries), dtype=np.int64)
    starts, step = _chunks(len(queries), n_query, chunk_size)
    for start in starts:
        rows = slice(start, start + step)
        images = queries[rows]
        scores = similarity(image_embeddings[images], text_embeddings)  # (c, Q)
        i2t[rows] = first_hit_ranks(scores, image_groups[images, None] == caption_groups[None, :])
    return t2i, i2t
