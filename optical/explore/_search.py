"""Interactive retrieval: a text query against a gallery, and an uploaded image against captions."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optical.data import open_rgb
from optical.errors import InputError
from optical.evaluate import search

if TYPE_CHECKING:
    import faiss
    from PIL import Image

    from optical.distill._models import DualEncoder, ProjectedTextEncoder
    from optical.encoders import ImageEncoder


@dataclass
class SearchResult:
    """Top-k hits of one query, best first: ``indices`` (k,) into the gallery, ``scores`` (k,) cosine.

    ``latency_ms`` covers encoding the query and searching; ``search_ms`` the search alone.
    """

    indices: np.ndarray
    scores: np.ndarray
    latency_ms: float
    search_ms: float


def search_images(
    model: ProjectedTextEncoder, query: str, gallery: np.ndarray | faiss.Index, k: int = 10
) -> SearchResult:
    """Encode ``query`` with ``model`` and return the top-``k`` of ``gallery`` (array (I, D) or faiss index)."""
    start = time.perf_counter()
    embedding = model.encode([query]).numpy()  # (1, D), L2-normalised
    return _top_k(embedding, gallery, k, start)


def embed_image(image: Image.Image, image_encoder: ImageEncoder, teacher: DualEncoder) -> np.ndarray:
    """An RGB image -> the teacher's L2-normalised image embedding (1, D), as the gallery was embedded."""
    import torch

    with torch.no_grad():
        pixels = image_encoder.preprocess(image).unsqueeze(0).to(image_encoder.device)  # (1, 3, S, S)
        features = image_encoder(pixels)  # (1, image_dim)
    return teacher.embed_images(features).numpy()


def rank_captions(
    image: Image.Image,
    image_encoder: ImageEncoder,
    teacher: DualEncoder,
    caption_embeddings: dict[str, np.ndarray],
    k: int = 5,
) -> dict[str, SearchResult]:
    """For each method, the top-``k`` captions (rows of its embeddings (Q, D)) for one image.

    The image is embedded once by the teacher (``embed_image``); each latency includes that embedding.
    """
    start = time.perf_counter()
    embedding = embed_image(image, image_encoder, teacher)  # (1, D)
    embedded_ms = (time.perf_counter() - start) * 1e3
    results = {}
    for method, embeddings in caption_embeddings.items():
        result = _top_k(embedding, embeddings, k, time.perf_counter())
        result.latency_ms += embedded_ms
        results[method] = result
    return results


def read_image(data: bytes, name: str = "upload") -> Image.Image:
    """Uploaded bytes -> an RGB image composited onto white (as ``optical.data.open_rgb``); InputError otherwise."""
    if not data:
        raise InputError("the file is empty, not an image", name)
    with tempfile.TemporaryDirectory(prefix="optical-upload-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            return open_rgb(path)
        except InputError:
            raise InputError("not an image this app can read (PNG, JPEG, GIF, WebP, BMP)", name) from None


def _top_k(queries: np.ndarray, gallery: np.ndarray | faiss.Index, k: int, start: float) -> SearchResult:
    searched = time.perf_counter()
    scores, indices = search(queries, gallery, k)  # (1, k) each
    done = time.perf_counter()
    return SearchResult(indices[0], scores[0], (done - start) * 1e3, (done - searched) * 1e3)
