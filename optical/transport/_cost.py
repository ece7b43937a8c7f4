"""Token-to-token cost matrices for batches of sentence pairs."""

from __future__ import annotations

import torch
from torch import Tensor

from optical.config import COST_KINDS

from ._masks import check_mask, pair_mask

_EPS = 1e-12  # smallest norm, as in torch.nn.functional.normalize


def cosine_cost(S: Tensor, E: Tensor) -> Tensor:
    r"""Cosine distance :math:`C_{bij} = 1 - \cos(S_{bi}, E_{bj})`, in [0, 2].

    S : Tensor, shape (B, n, d); E : Tensor, shape (B, m, d). Returns shape (B, n, m).
    The dot products are divided by the norms afterwards, on (B, n, m) instead of normalising (B, n, d):
    the backward pass is several times faster. Zero vectors (padding) get cosine 0.
    """
    norms = S.norm(dim=-1).clamp_min(_EPS).unsqueeze(2) * E.norm(dim=-1).clamp_min(_EPS).unsqueeze(1)  # (B, n, m)
    return 1.0 - torch.bmm(S, E.transpose(1, 2)) / norms


def sqeuclidean_cost(S: Tensor, E: Tensor) -> Tensor:
    r"""Squared Euclidean distance :math:`C_{bij} = \|S_{bi} - E_{bj}\|^2`.

    S : Tensor, shape (B, n, d); E : Tensor, shape (B, m, d). Returns shape (B, n, m).
    Computed as :math:`\|s\|^2 + \|e\|^2 - 2 s \cdot e` (one matmul), clamped at 0 against rounding.

    On unnormalised states (nothing here normalises them), so it sees the token norms that mean pooling
    depends on and the cosine cost ignores. Its scale is the states' (e5-small's last layer: norms about 5,
    mean cost about 11.5 on stamps captions, ``bench/token_mass.py``), and ``reg`` is in the same units: reg
    0.05 is 0.4% of that mean cost (with the cosine cost, about 24%), a nearly unregularised plan that 50
    Sinkhorn iterations do not converge. Scale ``reg`` with the states, or use ``"sqeuclidean-mean"``.
    """
    sq_s = S.pow(2).sum(dim=-1).unsqueeze(2)  # (B, n, 1)
    sq_e = E.pow(2).sum(dim=-1).unsqueeze(1)  # (B, 1, m)
    return (sq_s + sq_e - 2.0 * torch.bmm(S, E.transpose(1, 2))).clamp_min(0.0)


_COSTS = dict(zip(COST_KINDS, (cosine_cost, sqeuclidean_cost, sqeuclidean_cost)))  # kind -> function


def check_cost_kind(kind: str) -> None:
    """ValueError unless ``kind`` is one of ``COST_KINDS`` (a library argument check, as POT's; a user's setting is
    validated once, with its config key, by ``optical.config``)."""
    if kind not in _COSTS:
        raise ValueError(f"unknown cost kind {kind!r}; expected one of {COST_KINDS}")


def cost_matrix(
    S: Tensor,
    E: Tensor,
    mask_s: Tensor | None = None,
    mask_e: Tensor | None = None,
    kind: str = "cosine",
) -> Tensor:
    """Cost between the tokens of each pair, in float32 (or float64) even under autocast.

    Parameters
    ----------
    S : Tensor, shape (B, n, d)
        Source token states (the student's, for the foreign sentence).
    E : Tensor, shape (B, m, d)
        Target token states (the teacher's, for the English sentence).
    mask_s : Tensor, shape (B, n), optional
        True (or 1) for real tokens, False for padding; None means no padding.
    mask_e : Tensor, shape (B, m), optional
        Same for ``E``.
    kind : {"cosine", "sqeuclidean", "sqeuclidean-mean"}
        ``cosine`` is :func:`cosine_cost`, ``sqeuclidean`` is :func:`sqeuclidean_cost` on the states as they
        are; ``sqeuclidean-mean`` divides it by its mean over each pair's real token pairs, held constant
        in the gradient, so that ``reg`` is relative to the pair's typical cost (reg 0.05 = 5% of it).
        (A differentiated mean would reward pushing every token away from every other.)

    Returns
    -------
    cost : Tensor, shape (B, n, m)
        Entries that involve a padding token are 0 (they carry no mass in the plan).
    """
    check_cost_kind(kind)
    if S.dim() != 3 or E.dim() != 3:
        raise ValueError(f"S and E must be (B, n, d) and (B, m, d); got shapes {tuple(S.shape)} and {tuple(E.shape)}")
    if S.shape[0] != E.shape[0] or S.shape[2] != E.shape[2]:
        raise ValueError(
            f"S {tuple(S.shape)} and E {tuple(E.shape)} must share the batch size and the width d"
        )
    batch, n, m = S.shape[0], S.shape[1], E.shape[1]
    masked = mask_s is not None or mask_e is not None
    mask_s = check_mask(mask_s, batch, n, "mask_s", S.device)
    mask_e = check_mask(mask_e, batch, m, "mask_e", S.device)
    dtype = torch.float64 if torch.float64 in (S.dtype, E.dtype) else torch.float32
    with torch.autocast(device_type=S.device.type, enabled=False):
        cost = _COSTS[kind](S.to(dtype), E.to(dtype))
    if masked:
        cost = cost.masked_fill(~pair_mask(mask_s, mask_e), 0.0)
    if kind == "sqeuclidean-mean":
        pairs = mask_s.sum(dim=1) * mask_e.sum(dim=1)  # (B,) real token pairs; padding entries of cost are 0
        cost = cost / (cost.detach().sum(dim=(1, 2)) / pairs).clamp_min(_EPS).view(-1, 1, 1)
    return cost
