"""Variable-length sets of vectors (a caption's tokens, an image's regions) padded into one tensor with a mask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Padded:
    """``values`` (N, S, D) with ``mask`` (N, S) bool: row n holds ``mask[n].sum()`` real vectors, padding after."""

    values: Tensor
    mask: Tensor

    def __post_init__(self) -> None:
        if self.values.dim() != 3 or self.mask.shape != self.values.shape[:2] or self.mask.dtype != torch.bool:
            raise ValueError(f"Padded needs values (N, S, D) and a bool mask (N, S), got {tuple(self.values.shape)} "
                             f"and {self.mask.dtype} {tuple(self.mask.shape)}")

    def __len__(self) -> int:
        return self.values.shape[0]

    def rows(self, index: Tensor | Sequence[int]) -> Padded:
        """The rows ``index`` (M,), trimmed to their longest set."""
        index = torch.as_tensor(index, dtype=torch.long)
        mask = self.mask[index]
        width = max(1, int(mask.sum(1).max())) if len(index) else 1
        return Padded(self.values[index, :width], mask[:, :width])

    def to(self, *args, **kwargs) -> Padded:
        """``values.to(...)``; the mask follows to the device."""
        values = self.values.to(*args, **kwargs)
        return Padded(values, self.mask.to(values.device))

    def unpadded(self) -> list[Tensor]:
        """Each row's real vectors, (S_n, D)."""
        return [v[m] for v, m in zip(self.values, self.mask)]

    @classmethod
    def stack(cls, sets: Sequence[Tensor], dim: int | None = None, dtype: torch.dtype | None = None) -> Padded:
        """Sets (S_n, D) padded with zeros to the longest; ``dim`` (D) and ``dtype`` for an empty list."""
        if not sets:
            return cls(torch.zeros(0, 1, dim or 0, dtype=dtype or torch.float32), torch.zeros(0, 1, dtype=torch.bool))
        width = max(1, max(len(s) for s in sets))
        values = sets[0].new_zeros(len(sets), width, sets[0].shape[-1])
        mask = torch.zeros(len(sets), width, dtype=torch.bool)
        for i, s in enumerate(sets):
            values[i, : len(s)] = s
            mask[i, : len(s)] = True
        return cls(values, mask)

    @classmethod
    def cat(cls, parts: Sequence[Padded]) -> Padded:
        """The rows of ``parts`` in order, padded to the widest."""
        width = max(p.values.shape[1] for p in parts)
        return cls(torch.cat([F.pad(p.values, (0, 0, 0, width - p.values.shape[1])) for p in parts]),
                   torch.cat([F.pad(p.mask, (0, width - p.mask.shape[1])) for p in parts]))

    @classmethod
    def single(cls, vectors: Tensor) -> Padded:
        """One vector per row as one-element sets: (N, D) -> values (N, 1, D), all real."""
        return cls(vectors[:, None, :], torch.ones(vectors.shape[0], 1, dtype=torch.bool))


def pool_grid(regions: Tensor, side: int) -> Tensor:
    """Average a square grid of regions down to ``side`` x ``side``: (N, G*G, C), row-major -> (N, side*side, C).

    ``side`` >= the grid's side returns ``regions`` as they are. Adaptive average pooling: every output region is
    the mean of the grid cells it covers, so the mean over regions is kept when ``side`` divides the grid evenly.
    """
    n, r, c = regions.shape
    grid = round(r ** 0.5)
    if grid * grid != r:
        raise ValueError(f"pool_grid needs a square grid of regions, got {r}")
    if side < 1:
        raise ValueError(f"side must be >= 1, got {side}")
    if side >= grid:
        return regions
    maps = regions.transpose(1, 2).reshape(n, c, grid, grid)
    pooled = F.adaptive_avg_pool2d(maps.float(), side).to(regions.dtype)
    return pooled.flatten(2).transpose(1, 2).contiguous()
