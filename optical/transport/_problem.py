"""What both Sinkhorn solvers share: argument checks, the marginals from weights or masks, and running an
iteration in full precision outside autocast."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ._masks import check_mask, uniform_marginal

GRAD_MODES = ("envelope", "autodiff")


@dataclass
class TransportResult:
    """Output of :func:`sinkhorn_plan` and :func:`sinkhorn_unbalanced_plan`.

    plan : Tensor, shape (B, n, m)
        Entropic transport plan; zero on rows and columns of padding tokens.
    value : Tensor, shape (B,)
        Transport cost :math:`\\langle T_b, C_b \\rangle_F` of each pair.
    n_iter : int
        Sinkhorn iterations performed (one iteration = one row and one column update).
    """

    plan: Tensor
    value: Tensor
    n_iter: int


def check_solver_args(cost: Tensor, reg: float, n_iter: int, tol: float, grad: str) -> None:
    """Raise ValueError naming the first bad argument: ``cost`` must be (B, n, m), ``reg`` > 0, ``n_iter`` >= 1,
    ``tol`` >= 0, ``grad`` one of ``GRAD_MODES``."""
    if cost.dim() != 3:
        raise ValueError(f"cost must have shape (B, n, m); got {tuple(cost.shape)}")
    if not reg > 0:
        raise ValueError(f"reg (epsilon) must be > 0; got {reg}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1; got {n_iter}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0; got {tol}")
    if grad not in GRAD_MODES:
        raise ValueError(f"unknown grad mode {grad!r}; expected one of {GRAD_MODES}")


def marginals(
    cost: Tensor, a: Tensor | None, b: Tensor | None, mask_a: Tensor | None, mask_b: Tensor | None
) -> tuple[torch.dtype, tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The solvers' dtype (float64 for a float64 ``cost`` (B, n, m), else float32) and the (weights, support mask)
    pairs of both sides: (B, n) each for ``a``, (B, m) each for ``b``."""
    dtype = torch.float64 if cost.dtype == torch.float64 else torch.float32
    batch, n, m = cost.shape
    return (dtype, _marginal(a, mask_a, batch, n, "a", dtype, cost.device),
            _marginal(b, mask_b, batch, m, "b", dtype, cost.device))


def solve(
    cost: Tensor, dtype: torch.dtype, grad: str, iterate: Callable[[Tensor], tuple[Tensor, int]]
) -> TransportResult:
    """Run ``iterate`` (cost (B, n, m) -> plan (B, n, m), iterations) on ``cost`` in ``dtype`` with autocast off,
    with autograd through it only for ``grad == "autodiff"``; the plan's cost <T, C>_F per pair."""
    with torch.autocast(device_type=cost.device.type, enabled=False):
        cost = cost.to(dtype)
        if not torch.isfinite(cost).all():
            raise ValueError("cost has NaN or infinite entries")
        with torch.set_grad_enabled(grad == "autodiff" and torch.is_grad_enabled()):
            plan, done = iterate(cost)
        value = (plan * cost).sum(dim=(1, 2))  # (B,)
    return TransportResult(plan=plan, value=value, n_iter=done)


def _marginal(
    weights: Tensor | None,
    mask: Tensor | None,
    batch: int,
    length: int,
    name: str,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """Weights (B, L) and their support mask (B, L), from explicit weights, a mask or neither."""
    if weights is None:
        mask = check_mask(mask, batch, length, f"mask_{name}", device)
        return uniform_marginal(mask, dtype), mask
    if tuple(weights.shape) != (batch, length):
        raise ValueError(f"{name} has shape {tuple(weights.shape)}, expected ({batch}, {length})")
    weights = weights.detach().to(device=device, dtype=dtype)
    if (weights < 0).any():
        raise ValueError(f"{name} has negative weights")
    if mask is not None:
        weights = weights.masked_fill(~check_mask(mask, batch, length, f"mask_{name}", device), 0.0)
    return weights, check_mask(weights > 0, batch, length, name, device)
