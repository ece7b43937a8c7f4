"""Interactive retrieval: a text query against a gallery, and an uploaded image against captions."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from optical.data import to_rgb
from optical.errors import InputError
from optical.evaluate import check_finite, search

if TYPE_CHECKING:
    import faiss

    from optical.distill import DualEncoder, ProjectedTextEncoder
    from optical.encoders import ImageEncoder


UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
MAX_UPLOAD_PIXELS = 40_000_000  # decoded pixels; a JPEG is decoded at 1/2 to 1/8 scale first (so 12k x 12k passes)
UPLOAD_SIDE = 1024  # uploads are downscaled to fit this square; the image tower resizes to its input size anyway


@dataclass
class SearchResult:
    """Top-k hits of one query, best first: ``indices`` (k,) into the gallery, ``scores`` (k,) cosine.

    ``latency_ms`` covers encoding the query and searching; ``search_ms`` the search alone; ``how`` the scoring
    (``"pooled"`` cosine, or late: ``optical.explore.search_images_late``).
    """

    indices: np.ndarray
    scores: np.ndarray
    latency_ms: float
    search_ms: float
    how: str = "pooled"


def search_images(
    model: ProjectedTextEncoder, query: str, gallery: np.ndarray | faiss.Index, k: int = 10, name: str = "the model"
) -> SearchResult:
    """Encode ``query`` with ``model`` and return the top-``k`` of ``gallery`` (array (I, D) or faiss index).

    NonFiniteError (an OpticalError) naming ``name`` (the method) when the query's embedding or a score is not
    finite: a damaged or diverged model, whose hits would be garbage."""
    start = time.perf_counter()
    embedding = check_finite(model.encode([query]).numpy(), f"{name}: the query's embedding")  # (1, D), normalised
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

    The image is embedded once by the teacher (``embed_image``); each latency includes that embedding. NaN or
    infinite embeddings raise NonFiniteError naming the teacher or the method.
    """
    start = time.perf_counter()
    embedding = check_finite(embed_image(image, image_encoder, teacher), "teacher: the image's embedding")  # (1, D)
    embedded_ms = (time.perf_counter() - start) * 1e3
    results = {}
    for method, embeddings in caption_embeddings.items():
        check_finite(embeddings, f"{method}: the caption embeddings")
        result = _top_k(embedding, embeddings, k, time.perf_counter())
        result.latency_ms += embedded_ms
        results[method] = result
    return results


def read_image(data: bytes, name: str = "upload") -> Image.Image:
    """Uploaded bytes -> an RGB image at most ``UPLOAD_SIDE`` on a side, composited onto white; InputError otherwise.

    The size is read from the header before any decoding: images over ``MAX_UPLOAD_PIXELS`` are refused, a
    JPEG is decoded at reduced scale (``Image.draft``), so memory stays at the (reduced) decode of one image.
    """
    if not data:
        raise InputError("the file is empty, not an image", name)
    try:
        img = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)  # lazy: reads the header only
    except Image.DecompressionBombError:  # PIL refuses to open over 2 x Image.MAX_IMAGE_PIXELS
        raise InputError(_too_large(_header_size(data)), name) from None
    except (OSError, SyntaxError, ValueError):
        raise InputError(f"not an image this app can read ({', '.join(UPLOAD_FORMATS)})", name) from None
    with img:
        img.draft(None, (UPLOAD_SIDE, UPLOAD_SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8 scale; others: no-op
        if img.width * img.height > MAX_UPLOAD_PIXELS:
            raise InputError(_too_large(img.size), name)
        try:
            img.thumbnail((UPLOAD_SIDE, UPLOAD_SIDE))
            return to_rgb(img)
        except (OSError, SyntaxError, ValueError) as err:
            raise InputError(f"cannot decode this image ({err})", name) from None


def _too_large(size: tuple[int, int]) -> str:
    return (f"image too large: {size[0]:,} x {size[1]:,} pixels, the limit is {MAX_UPLOAD_PIXELS:,} pixels "
            f"(e.g. {int(MAX_UPLOAD_PIXELS ** 0.5):,} x {int(MAX_UPLOAD_PIXELS ** 0.5):,}); downscale it first")


def _header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header, through the format's own reader (``Image.open`` refuses huge images)."""
    Image.init()
    for fmt in UPLOAD_FORMATS:
        factory, accept = Image.OPEN[fmt]
        if accept is None or accept(data[:16]):
            return factory(io.BytesIO(data)).size
    raise InputError(f"not an image this app can read ({', '.join(UPLOAD_FORMATS)})")


def _top_k(queries: np.ndarray, gallery: np.ndarray | faiss.Index, k: int, start: float) -> SearchResult:
    searched = time.perf_counter()
    scores, indices = search(queries, gallery, k)  # (1, k) each; NonFiniteError for a NaN gallery or score
    done = time.perf_counter()
    return SearchResult(indices[0], scores[0], (done - start) * 1e3, (done - searched) * 1e3)
