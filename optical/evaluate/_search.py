"""Nearest-neighbour search by inner product: exact numpy for small galleries, faiss above a threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from optical.errors import NonFiniteError

from ._finite import check_finite

if TYPE_CHECKING:
    import faiss

#: Galleries (arrays) with at least this many vectors are searched with faiss. `bench/search.py` on 2 CPU cores
#: (384-d, top-10) found the chunked numpy scan as fast as a prebuilt IndexFlatIP for single queries up to 400k
#: images and 4-8x faster for batches, so faiss takes over only where a flat scan nears the latency budget anyway.
#: A prebuilt faiss index (`build_index`, e.g. cached by the app) is always searched with faiss.
FAISS_MIN_GALLERY = 1_000_000

_CHUNK_ELEMENTS = 1 << 24  # bound on Q-chunk x G score elements held at once by the exact path (64 MiB float32)


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {x.shape}")
    return x


def similarity(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Full inner-product matrix (cosine similarity when both sides are L2-normalised).

    Parameters
    ----------
    queries : array, shape (Q, d)
    gallery : array, shape (G, d)

    Returns
    -------
    sim : float32 array, shape (Q, G); ``sim[q, g] = <queries[q], gallery[g]>``.
    """
    queries, gallery = _as_matrix(queries, "queries"), _as_matrix(gallery, "gallery")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"width mismatch: queries {queries.shape}, gallery {gallery.shape}")
    return queries @ gallery.T


def build_index(gallery: np.ndarray) -> faiss.IndexFlatIP:
    """A faiss exact inner-product index over ``gallery`` (shape (G, d)), to reuse across `search` calls.

    NonFiniteError for NaN or infinite vectors: faiss would leave them out of every result without a word."""
    import faiss

    gallery = check_finite(_as_matrix(gallery, "gallery"), "gallery")
    index = faiss.IndexFlatIP(gallery.shape[1])
    index.add(gallery)
    return index


def _exact_top_k(queries: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_query, n_gallery = len(queries), len(gallery)
    scores = np.empty((n_query, k), dtype=np.float32)
    indices = np.empty((n_query, k), dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // max(n_gallery, 1))
    for start in range(0, n_query, step):
        sim = similarity(queries[start : start + step], gallery)  # (c, G)
        if k < n_gallery:
            top = sim.argpartition(n_gallery - k, axis=1)[:, n_gallery - k :]  # (c, k), the k largest
        else:
            top = np.broadcast_to(np.arange(n_gallery), sim.shape)
        top_scores = np.take_along_axis(sim, top, axis=1)  # (c, k), unordered
        order = np.lexsort((top, -top_scores), axis=1)  # best score first, lower index first on ties
        indices[start : start + step] = np.take_along_axis(top, order, axis=1)
        scores[start : start + step] = np.take_along_axis(top_scores, order, axis=1)
    return scores, indices


def search(
    queries: np.ndarray, gallery: np.ndarray | faiss.Index, k: int, *, method: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery items for each query by inner product, best first.

    Parameters
    ----------
    queries : array, shape (Q, d)
    gallery : array, shape (G, d), or a faiss index over it (from `build_index`, reusable across calls)
    k : int
        Results per query; capped at G.
    method : {"auto", "exact", "faiss"}
        "auto" uses faiss ``IndexFlatIP`` when the gallery has at least `FAISS_MIN_GALLERY` vectors (or is already
        an index) and an exact numpy ``argpartition`` otherwise. Both are exact; only ties may come back in a
        different order.

    Returns
    -------
    scores : float32 array, shape (Q, min(k, G)), descending along each row
    indices : int64 array, shape (Q, min(k, G)), row indices into the gallery

    NaN or infinite queries, gallery vectors or scores raise NonFiniteError (a NaN score has no place in an order).
    """
    queries = check_finite(_as_matrix(queries, "queries"), "queries")
    is_array = isinstance(gallery, np.ndarray)
    n_gallery = len(gallery) if is_array else gallery.ntotal
    if method == "auto":
        method = "faiss" if not is_array or n_gallery >= FAISS_MIN_GALLERY else "exact"
    if method not in ("exact", "faiss"):
        raise ValueError(f"unknown search method {method!r}: expected 'auto', 'exact' or 'faiss'")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, n_gallery)
    if method == "exact":
        if not is_array:
            raise ValueError("method='exact' needs the gallery as an array, not a faiss index")
        gallery = check_finite(_as_matrix(gallery, "gallery"), "gallery")
        if queries.shape[1] != gallery.shape[1]:
            raise ValueError(f"width mismatch: queries {queries.shape}, gallery {gallery.shape}")
        scores, indices = _exact_top_k(queries, gallery, k)
        return check_finite(scores, "scores"), indices
    index = build_index(gallery) if is_array else gallery
    if queries.shape[1] != index.d:
        raise ValueError(f"width mismatch: queries {queries.shape}, index width {index.d}")
    scores, indices = index.search(queries, k)
    if (indices < 0).any():  # faiss skips NaN scores: an index over non-finite vectors returns fewer than k
        raise NonFiniteError(f"the faiss index returned fewer than {k} results: it holds NaN or infinite vectors")
    return check_finite(scores, "scores"), indices.astype(np.int64, copy=False)
