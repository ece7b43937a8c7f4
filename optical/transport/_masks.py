"""Padding masks and the uniform marginals they define."""

from __future__ import annotations

import torch
from torch import Tensor


def check_mask(mask: Tensor | None, batch: int, length: int, name: str, device: torch.device) -> Tensor:
    """Return ``mask`` as a bool tensor of shape (batch, length); None means no padding.

    Raises ValueError when the shape is wrong or a sentence has no non-padding token.
    """
    if mask is None:
        return torch.ones(batch, length, dtype=torch.bool, device=device)
    if tuple(mask.shape) != (batch, length):
        raise ValueError(f"{name} has shape {tuple(mask.shape)}, expected ({batch}, {length})")
    mask = mask.to(device=device, dtype=torch.bool)
    empty = (~mask.any(dim=1)).nonzero().flatten()
    if empty.numel():
        raise ValueError(f"{name}: sentence(s) {empty.tolist()} are all padding (no token to transport)")
    return mask


def uniform_marginal(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Uniform weights over the True entries of each row: (B, L) bool -> (B, L), rows sum to 1."""
    weights = mask.to(dtype)
    return weights / weights.sum(dim=1, keepdim=True)


def pair_mask(mask_a: Tensor, mask_b: Tensor) -> Tensor:
    """Entries (i, j) where both tokens are real: (B, n), (B, m) -> (B, n, m)."""
    return mask_a.unsqueeze(2) & mask_b.unsqueeze(1)
