"""How much alignment a batch of transport plans carries: entropy against the uniform coupling, the share of each
row's mass on its best match, the mass on marked (special or prefix) tokens, and the marginal error at stop."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class PlanDiagnostics:
    """Means over the pairs of a batch (each pair's plan normalised to total mass 1).

    relative_entropy : H(T) / log(n_b m_b), n_b and m_b the tokens carrying mass: 1 for the uniform coupling,
        1/2 for a one-to-one alignment of equal lengths, 0 for a single cell.
    best_match_share : mean over rows of max_j T_ij / sum_j T_ij: 1/m_b for the uniform coupling, 1 when each
        row sends all its mass to one column.
    marked_mass : mass on cells whose row or column token is marked (special or prefix tokens); None without marks.
    row_error, column_error : L2 norm of T 1 - a and of T^T 1 - b (the Sinkhorn stop rule reads the first);
        the largest over the batch.
    pairs : how many pairs these means are over.
    """

    relative_entropy: float
    best_match_share: float
    marked_mass: float | None
    row_error: float
    column_error: float
    pairs: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@torch.no_grad()
def plan_diagnostics(
    plan: Tensor,
    a: Tensor,
    b: Tensor,
    marked_a: Tensor | None = None,
    marked_b: Tensor | None = None,
) -> PlanDiagnostics:
    """Diagnostics of plans (B, n, m) solved for marginals ``a`` (B, n) and ``b`` (B, m) (zero on tokens without
    mass); ``marked_a`` (B, n) and ``marked_b`` (B, m), bool, flag special and prefix tokens."""
    plan, a, b = plan.double(), a.double(), b.double()
    rows, cols = a > 0, b > 0  # (B, n), (B, m): tokens carrying mass
    total = plan.sum(dim=(1, 2), keepdim=True).clamp_min(1e-300)
    p = plan / total  # (B, n, m), mass 1 per pair
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(dim=(1, 2))  # (B,)
    size = rows.sum(1).double() * cols.sum(1).double()  # (B,)
    relative = torch.where(size > 1, entropy / torch.log(size.clamp_min(2.0)), torch.zeros_like(entropy))
    row_mass = p.sum(2)  # (B, n)
    share = p.amax(2) / row_mass.clamp_min(1e-300)  # (B, n)
    best = (share * rows).sum(1) / rows.sum(1).clamp_min(1)  # (B,)
    marked = None
    if marked_a is not None and marked_b is not None:
        cells = marked_a.bool()[:, :, None] | marked_b.bool()[:, None, :]  # (B, n, m)
        marked = float((p * cells).sum(dim=(1, 2)).mean())
    row_error = (plan.sum(2) - a).norm(dim=1).max()
    column_error = (plan.sum(1) - b).norm(dim=1).max()
    return PlanDiagnostics(
        relative_entropy=float(relative.mean()),
        best_match_share=float(best.mean()),
        marked_mass=marked,
        row_error=float(row_error),
        column_error=float(column_error),
        pairs=int(plan.shape[0]),
    )
