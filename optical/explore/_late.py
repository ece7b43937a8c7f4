r"""Late interaction in the app: image search by FILIP score, an uploaded image against captions by regions, and
which part of a picture each token of a caption matches (the token -> region view).

A late run (``config.json``: ``"scoring": "late"``) stores, beside the teacher's pooled image embeddings
``gallery.npy`` (I, D), its L2-normalised projected regions ``gallery_regions.npy`` (I, R, D) float16, a
``side`` x ``side`` grid (R = side**2) of each image, row-major. A text query is scored against them as in the
experiment (``optical.scoring.late_scores``):

.. math::
    s(q, m) = \tfrac12 \frac{1}{L} \sum_i \max_j \cos(t_i, r_j) + \tfrac12 \frac{1}{R} \sum_j \max_i \cos(t_i, r_j)

over the query's token states :math:`t_1..t_L` (``encode_tokens``: special and prefix tokens included) and the
image's regions :math:`r_1..r_R`. Up to ``LATE_EXACT_MAX`` images every one is scored (exact); above it the pooled
cosine (``gallery.npy``, by ``optical.evaluate.search``: numpy or faiss) picks ``LATE_CANDIDATES`` candidates first
and only those are scored (two-stage: exact whenever the late top-k lies among the pooled top-K).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from optical.errors import InputError
from optical.evaluate import check_finite, search
from optical.explore._search import SearchResult

if TYPE_CHECKING:
    import faiss
    import plotly.graph_objects as go
    import torch

    from optical.distill import DualEncoder, ProjectedTextEncoder
    from optical.encoders import ImageEncoder
    from optical.scoring import Padded

#: Galleries of at most this many images are ranked exactly: every image's late score. One query against 1,000
#: real images takes 12.6 ms at 16 regions (33 ms with encoding the query), 106 ms at 49 (``bench/late.py``, one
#: CPU thread); Multi30k's 1,000 test images stay exact.
LATE_EXACT_MAX = 1024
#: Above ``LATE_EXACT_MAX``, the pooled prefilter's top ``LATE_CANDIDATES`` images (cosine of the sentence
#: embedding and ``gallery.npy``) are re-ranked by late score; only their regions are read from the memory-mapped
#: ``gallery_regions.npy``, whatever the gallery's size. At 100,000 images (``bench/late.py``): 42 ms with encoding
#: at 16 regions, recall@10 against exact late ranking 1.000; 126 ms at 49 regions, recall@10 0.988 (K = 100:
#: 0.87 / 0.74).
LATE_CANDIDATES = 1000
#: Captions and images per late-score block (``optical.scoring``'s ``chunk``).
LATE_CHUNK = 256
#: Side of the square image the token -> region figures draw (the tower's view of it, see ``tower_view``).
VIEW_SIDE = 224
#: The colour scale of a token's map over its image: plasma with rising opacity, so regions the token barely matches
#: leave the picture as it is and the ones it matches most glow.
OVERLAY_SCALE = [[0.0, "rgba(13,8,135,0)"], [0.35, "rgba(126,3,168,0.2)"], [0.7, "rgba(204,71,120,0.55)"],
                 [1.0, "rgba(240,249,33,0.9)"]]


def _regions_tensor(regions: np.ndarray) -> torch.Tensor:
    """(M, R, D) float16 or float32 (a memory map too) -> a float32 tensor."""
    import torch

    return torch.from_numpy(np.asarray(regions, dtype=np.float32))


def search_images_late(
    model: ProjectedTextEncoder,
    query: str,
    regions: np.ndarray,
    prefilter: np.ndarray | faiss.Index,
    k: int = 10,
    name: str = "the model",
    *,
    exact_max: int = LATE_EXACT_MAX,
    candidates: int = LATE_CANDIDATES,
) -> SearchResult:
    """The top-``k`` images of a gallery for ``query`` by late score, best first (``SearchResult.scores``: late).

    Parameters
    ----------
    model : the text model (teacher or student) whose token states (``encode_tokens``) meet the regions
    regions : array, shape (I, R, D)
        The gallery's normalised regions (``Gallery.regions``: float16, memory-mapped).
    prefilter : array (I, D) or faiss index
        The pooled image embeddings (``Gallery.index``), read only above ``exact_max`` images.
    exact_max, candidates : int
        Up to ``exact_max`` images every one is scored (``optical.scoring.rank_late``); above, the ``candidates``
        best by pooled cosine are, so the result equals the exact one when ``candidates`` >= I.

    ``SearchResult.how`` says which; ``search_ms`` covers the prefilter and the late scoring, not the query's
    encoding. NonFiniteError naming ``name`` when a token state or a score is NaN or infinite.
    """
    from optical.scoring import rank_late

    start = time.perf_counter()
    tokens = model.encode_tokens([query])  # Padded (1, L, D)
    check_finite(tokens.values.numpy(), f"{name}: the query's token states")
    n_images = len(regions)
    if n_images <= exact_max:
        searched = time.perf_counter()
        scores, indices = rank_late(tokens.values, tokens.mask, _regions_tensor(regions), None, k=min(k, n_images),
                                    chunk=LATE_CHUNK)
        indices, how = indices[0].numpy(), f"late, exact over {n_images} images"
    else:
        embedding = check_finite(model.encode([query]).numpy(), f"{name}: the query's embedding")  # (1, D)
        searched = time.perf_counter()
        _, found = search(embedding, prefilter, min(candidates, n_images))  # (1, K) by pooled cosine
        pool = np.sort(found[0])  # in file order: the memory map reads forward
        scores, order = rank_late(tokens.values, tokens.mask, _regions_tensor(regions[pool]), None,
                                  k=min(k, len(pool)), chunk=LATE_CHUNK)
        indices, how = pool[order[0].numpy()], f"late, re-ranked pooled top {len(pool)} of {n_images}"
    scores = check_finite(scores[0].numpy(), f"{name}: the late scores")
    done = time.perf_counter()
    return SearchResult(indices.astype(np.int64), scores, (done - start) * 1e3, (done - searched) * 1e3, how)


def embed_image_regions(image: Image.Image, image_encoder: ImageEncoder, teacher: DualEncoder, grid: int) -> np.ndarray:
    """An RGB image -> the teacher's L2-normalised regions (1, R, D), as the late gallery was embedded: the tower's
    ``regions`` pooled to ``grid`` x ``grid`` (the run's ``region_grid``), then ``teacher.embed_regions``.

    InputError when the image tower gives no region grid."""
    import torch

    from optical.scoring import Padded, pool_grid

    if not callable(getattr(image_encoder, "regions", None)):
        raise InputError(f"image encoder {image_encoder.name!r} gives no region grid, which late scoring reads")
    with torch.no_grad():
        pixels = image_encoder.preprocess(image).unsqueeze(0).to(image_encoder.device)  # (1, 3, S, S)
        found = pool_grid(image_encoder.regions(pixels).float().cpu(), grid)  # (1, R, image_dim)
    return teacher.embed_regions(Padded(found, torch.ones(found.shape[:2], dtype=torch.bool))).values.numpy()


def rank_captions_late(
    image: Image.Image,
    image_encoder: ImageEncoder,
    teacher: DualEncoder,
    caption_tokens: dict[str, Padded],
    grid: int,
    k: int = 5,
) -> dict[str, SearchResult]:
    """For each method, the top-``k`` captions (rows of its token states, ``Padded`` (Q, L, D)) for one image by
    late score: ``rank_captions`` of a late run. The image's regions are embedded once
    (``embed_image_regions``); each latency includes that. NonFiniteError naming the teacher or the method."""
    import torch

    from optical.scoring import late_scores

    start = time.perf_counter()
    regions = check_finite(embed_image_regions(image, image_encoder, teacher, grid), "teacher: the image's regions")
    embedded_ms = (time.perf_counter() - start) * 1e3
    results = {}
    for method, tokens in caption_tokens.items():
        check_finite(tokens.values.numpy(), f"{method}: the caption token states")
        searched = time.perf_counter()
        scores = late_scores(tokens.values, tokens.mask, torch.from_numpy(regions), chunk=LATE_CHUNK)[:, 0]  # (Q,)
        top, order = scores.topk(min(k, len(scores)))
        done = time.perf_counter()
        results[method] = SearchResult(order.numpy(), check_finite(top.numpy(), f"{method}: the late scores"),
                                       (done - searched) * 1e3 + embedded_ms, (done - searched) * 1e3, "late")
    return results


@dataclass
class TokenRegions:
    """How well each token of one caption matches each region of one image: what the token -> region view draws.

    ``similarity`` (L, R): cosine of token i's state and region j (row-major ``side`` x ``side`` grid);
    ``tokens`` (L,): the tokenizer's tokens in the order of the rows (``encode_tokens``' order, special and prefix
    tokens included); ``roles`` (L,): ``"content"``, ``"special"`` or ``"prefix"`` (``optical.distill.losses``).
    """

    similarity: np.ndarray
    tokens: list[str]
    roles: list[str]
    side: int

    def grid(self, token: int) -> np.ndarray:
        """Token ``token``'s cosines as the image's grid (side, side), row 0 at the top."""
        return self.similarity[token].reshape(self.side, self.side)

    @property
    def first_content(self) -> int:
        """The first content token (the view's default), else 0."""
        return next((i for i, role in enumerate(self.roles) if role == "content"), 0)


def token_regions(model: ProjectedTextEncoder, caption: str, regions: np.ndarray) -> TokenRegions:
    """The (L, R) token-to-region cosines of ``caption`` read by ``model`` (its token states, ``encode_tokens``)
    against one image's ``regions`` (R, D) (a row of ``Gallery.regions``), with the token strings and roles.

    ValueError when R is not a square grid."""
    import torch
    import torch.nn.functional as F

    from optical.distill.losses import CONTENT, PREFIX, SPECIAL, TokenRoles

    n_regions = len(regions)
    side = math.isqrt(n_regions)
    if side * side != n_regions:
        raise ValueError(f"the regions are no square grid: {n_regions} regions")
    features = model.tokenize([caption])
    mask = features["attention_mask"][0].bool()
    ids = features["input_ids"][0][mask]
    roles = TokenRoles.from_encoder(model.text).roles(features["input_ids"], features["attention_mask"])[0][mask]
    states = model.encode_tokens([caption]).unpadded()[0]  # (L, D), fp32
    if len(states) != len(ids):
        raise ValueError(f"{len(states)} token states for {len(ids)} tokens of {caption!r}")
    similarity = F.normalize(states, dim=-1) @ F.normalize(_regions_tensor(regions), dim=-1).T  # (L, R)
    return TokenRegions(
        similarity.numpy(),
        model.text.tokenizer.convert_ids_to_tokens(ids.tolist()),
        [{CONTENT: "content", SPECIAL: "special", PREFIX: "prefix"}.get(int(r), "content") for r in roles],
        side,
    )


def tower_view(image: Image.Image, image_encoder: str = "efficientnet-lite0", side: int = VIEW_SIDE) -> Image.Image:
    """An RGB image as the run's image tower (its config's ``image_encoder``) sees it, ``side`` square, so that the
    region grid lies over it: padded onto a white square for the built-in EfficientNet-Lite towers (their
    ``preprocess``), centre-cropped for a CLIP tower (its image processor)."""
    if not str(image_encoder).startswith("efficientnet-lite"):
        return ImageOps.fit(image, (side, side), Image.Resampling.BICUBIC)
    return ImageOps.pad(image, (side, side), Image.Resampling.BICUBIC, color=(255, 255, 255))


def region_figure(
    grid: np.ndarray, image: Image.Image | None = None, title: str = "", zmin: float | None = None,
    zmax: float | None = None,
) -> go.Figure:
    """One token's cosine grid (side, side) over the image (a ``tower_view``; None: the grid alone, opaque), smoothly
    upsampled to the image's size in ``OVERLAY_SCALE``; ``zmin``/``zmax`` fix the colour range (the same for every
    token of a caption)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    size = image.width if image is not None else VIEW_SIDE
    cell = size / grid.shape[0]
    if image is not None:
        figure.add_trace(go.Image(z=np.asarray(image), hoverinfo="skip"))
    figure.add_trace(go.Heatmap(
        z=grid, x0=cell / 2, dx=cell, y0=cell / 2, dy=cell, zmin=zmin, zmax=zmax, zsmooth="best",
        colorscale=OVERLAY_SCALE if image is not None else "Inferno", colorbar={"title": "cos", "thickness": 12},
        hovertemplate="cos %{z:.3f}<extra></extra>",
    ))
    figure.update_xaxes(visible=False, range=[0, size])
    figure.update_yaxes(visible=False, range=[size, 0], scaleanchor="x")
    figure.update_layout(title=title, height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def token_grid_figure(regions: TokenRegions, columns: int = 6, title: str = "") -> go.Figure:
    """Small multiples: every token's cosine grid, one panel each (titled by ``axis_labels``), one colour range."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from optical.explore._plans import axis_labels

    n = len(regions.tokens)
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    figure = make_subplots(rows, columns, subplot_titles=axis_labels(regions.tokens), horizontal_spacing=0.02,
                           vertical_spacing=0.3 / rows)
    lo, hi = float(regions.similarity.min()), float(regions.similarity.max())
    for i in range(n):
        figure.add_trace(go.Heatmap(z=regions.grid(i), coloraxis="coloraxis",
                                    hovertemplate="cos %{z:.3f}<extra></extra>"), i // columns + 1, i % columns + 1)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, autorange="reversed")
    figure.update_layout(coloraxis={"colorscale": "Inferno", "cmin": lo, "cmax": hi}, title=title,
                         height=170 * rows + 60, margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return figure
