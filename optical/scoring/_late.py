r"""Late-interaction scores (FILIP [1]): each token meets its best region, each region its best token.

For caption :math:`n` with valid tokens :math:`t_1..t_{L_n}` and image :math:`m` with valid regions
:math:`r_1..r_{R_m}` (all L2-normalised):

.. math::
    s_{nm} = \tfrac12 \frac{1}{L_n} \sum_i \max_j \langle t_i, r_j \rangle
           + \tfrac12 \frac{1}{R_m} \sum_j \max_i \langle t_i, r_j \rangle

Padding never wins a max and never counts in a mean. Captions and images are taken ``chunk`` at a time,
so at most one (chunk, chunk, L, R) similarity block exists at once: peak extra memory is about
``chunk**2 * L * R`` elements of the input dtype, whatever N and M.

[1] Yao et al. 2021, "FILIP: Fine-grained Interactive Language-Image Pre-Training", arXiv:2111.07783.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check(text: Tensor, text_mask: Tensor, regions: Tensor, region_mask: Tensor | None, chunk: int) -> Tensor:
    """Validate the inputs; return the region mask, (M, R) bool (all True when None)."""
    if text.dim() != 3 or regions.dim() != 3:
        raise ValueError(f"text must be (N, L, D) and regions (M, R, D), got {tuple(text.shape)} "
                         f"and {tuple(regions.shape)}")
    if text.shape[2] != regions.shape[2]:
        raise ValueError(f"text and regions differ in dimension: {text.shape[2]} vs {regions.shape[2]}")
    if region_mask is None:
        region_mask = torch.ones(regions.shape[:2], dtype=torch.bool, device=regions.device)
    for name, mask, like in (("text_mask", text_mask, text), ("region_mask", region_mask, regions)):
        if mask.dtype != torch.bool or mask.shape != like.shape[:2]:
            raise ValueError(f"{name} must be a bool tensor of shape {tuple(like.shape[:2])}, "
                             f"got {mask.dtype} {tuple(mask.shape)}")
    if not text_mask.any(1).all():
        raise ValueError(f"caption {int((~text_mask.any(1)).nonzero()[0])} has no valid token")
    if not region_mask.any(1).all():
        raise ValueError(f"image {int((~region_mask.any(1)).nonzero()[0])} has no valid region")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return region_mask


def _normalise(x: Tensor, mask: Tensor) -> Tensor:
    """Unit vectors, (B, S, D), each padded position a copy of its row's first real vector: a copy never changes a
    max over the row, so no (n, m, L, R) block needs masking, and the means below leave padding out."""
    first = x[torch.arange(len(x), device=x.device), mask.int().argmax(1)]  # (B, D): each row's first real vector
    return F.normalize(torch.where(mask[..., None], x, first[:, None, :]), dim=-1)


def _block(text: Tensor, text_mask: Tensor, regions: Tensor, region_mask: Tensor) -> Tensor:
    """Late scores (n, m) of normalised text (n, L, D) against normalised regions (m, R, D), padded positions
    holding copies of real ones (``_normalise``)."""
    sim = torch.einsum("nld,mrd->nmlr", text, regions)  # the one (n, m, L, R) block
    t = text_mask[:, None, :]  # (n, 1, L)
    r = region_mask[None, :, :]  # (1, m, R)
    token_side = torch.where(t, sim.amax(3), 0).sum(2) / t.sum(2)  # (n, m): tokens' best regions
    region_side = torch.where(r, sim.amax(2), 0).sum(2) / r.sum(2)  # (n, m): regions' best tokens
    return 0.5 * (token_side + region_side)


def late_scores(
    text: Tensor,
    text_mask: Tensor,
    regions: Tensor,
    region_mask: Tensor | None = None,
    chunk: int = 256,
) -> Tensor:
    """Late-interaction score of every caption against every image.

    Parameters
    ----------
    text : Tensor, shape (N, L, D)
        Token embeddings of the captions (need not be normalised).
    text_mask : Tensor, shape (N, L), bool
        True for real tokens; each caption needs one.
    regions : Tensor, shape (M, R, D)
        Region (patch) embeddings of the images; R = 1 for a single vector (e.g. a class prototype).
    region_mask : Tensor, shape (M, R), bool, optional
        True for real regions (all when None); each image needs one.
    chunk : int
        Captions and images per block; peak extra memory about ``chunk**2 * L * R`` elements.

    Returns
    -------
    Tensor, shape (N, M)
        Scores in [-1, 1].
    """
    region_mask = _check(text, text_mask, regions, region_mask, chunk)
    text, regions = _normalise(text, text_mask), _normalise(regions, region_mask)
    out = text.new_empty(text.shape[0], regions.shape[0])
    for i in range(0, text.shape[0], chunk):
        for j in range(0, regions.shape[0], chunk):
            out[i:i + chunk, j:j + chunk] = _block(text[i:i + chunk], text_mask[i:i + chunk],
                                                   regions[j:j + chunk], region_mask[j:j + chunk])
    return out


def rank_late(
    text: Tensor,
    text_mask: Tensor,
    regions: Tensor,
    region_mask: Tensor | None = None,
    k: int | None = None,
    chunk: int = 256,
) -> tuple[Tensor, Tensor]:
    """The ``k`` best images of each caption by late score, best first, keeping only a running top-k.

    Inputs as :func:`late_scores`; ``k`` = None ranks all M images. Peak extra memory about
    ``chunk**2 * L * R + chunk * (k + chunk)`` elements.

    Returns
    -------
    scores : Tensor, shape (N, k)
        Late scores, descending along each row.
    indices : Tensor, shape (N, k), int64
        The images' indices into ``regions``.
    """
    region_mask = _check(text, text_mask, regions, region_mask, chunk)
    n_images = regions.shape[0]
    k = n_images if k is None else k
    if not 1 <= k <= n_images:
        raise ValueError(f"k must be between 1 and the number of images ({n_images}), got {k}")
    text, regions = _normalise(text, text_mask), _normalise(regions, region_mask)
    top = text.new_empty(text.shape[0], k)
    top_idx = torch.empty(text.shape[0], k, dtype=torch.long, device=text.device)
    for i in range(0, text.shape[0], chunk):
        t, tm = text[i:i + chunk], text_mask[i:i + chunk]
        best, best_idx = t.new_empty(t.shape[0], 0), top_idx.new_empty(t.shape[0], 0)
        for j in range(0, n_images, chunk):
            scores = _block(t, tm, regions[j:j + chunk], region_mask[j:j + chunk])  # (n, m)
            idx = torch.arange(j, j + scores.shape[1], device=text.device).expand_as(scores)
            best, pos = torch.cat([best, scores], 1).topk(min(k, best.shape[1] + scores.shape[1]), dim=1)
            best_idx = torch.cat([best_idx, idx], 1).gather(1, pos)
        top[i:i + chunk], top_idx[i:i + chunk] = best, best_idx
    return top, top_idx
