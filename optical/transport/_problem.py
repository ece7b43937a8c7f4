"""What both Sinkhorn solvers share: argument checks, the marginals from weights or masks, and running an
iteration in full precision outside autocast."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from optical.config import GRAD_MODES, REG_SCALES

from ._masks import check_mask, uniform_marginal

_SPREAD_FLOOR = 1e-3  # relative reg: the spread is at least this share of the pair's mean |cost| (degenerate pairs)


@dataclass
class TransportResult:
    """Output of :func:`sinkhorn_plan` and :func:`sinkhorn_unbalanced_plan`.

    plan : Tensor, shape (B, n, m)
        Entropic transport plan; zero on rows and columns of padding tokens.
    value : Tensor, shape (B,)
        Transport cost :math:`\\langle T_b, C_b \\rangle_F` of each pair.
    n_iter : int
        Sinkhorn iterations performed (one iteration = one row and one column update).
    error : Tensor, shape (B,), or None
        Each pair's stop-rule quantity when the iterations stopped (detached): for :func:`sinkhorn_plan` the
        row-marginal error :math:`\\|T_b \\mathbf{1} - a_b\\|_2` (below ``tol`` unless ``n_iter`` ran out first);
        for :func:`sinkhorn_unbalanced_plan` the largest change of the pair's log-scalings over the last iteration.
        ``error.max()`` against ``tol`` says whether the plan converged or the cap stopped it.
    """

    plan: Tensor
    value: Tensor
    n_iter: int
    error: Tensor | None = None


def check_solver_args(
    cost: Tensor, reg: float, n_iter: int, tol: float, grad: str, reg_scale: str = "absolute",
    reg_m: float | None = None,
) -> None:
    """Raise ValueError naming the first bad argument: ``cost`` must be (B, n, m), the rest as
    :func:`check_solver_options`."""
    if cost.dim() != 3:
        raise ValueError(f"cost must have shape (B, n, m); got {tuple(cost.shape)}")
    check_solver_options(reg, n_iter, tol, grad, reg_scale, reg_m)


def check_solver_options(
    reg: float, n_iter: int, tol: float, grad: str, reg_scale: str = "absolute", reg_m: float | None = None
) -> None:
    """Raise ValueError naming the first bad option: ``reg`` > 0, ``n_iter`` >= 1, ``tol`` >= 0, ``grad`` one of
    ``GRAD_MODES``, ``reg_scale`` one of ``REG_SCALES``, ``reg_m`` (unbalanced problems) > 0.

    Plain argument checks of a library function, as POT's solvers make; a user's setting is validated once, with its
    config key, by ``optical.config`` (``ExperimentConfig.validate``), before any of this runs.
    """
    if not reg > 0:
        raise ValueError(f"reg (epsilon) must be > 0; got {reg}")
    if reg_scale not in REG_SCALES:
        raise ValueError(f"unknown reg_scale {reg_scale!r}; expected one of {REG_SCALES}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1; got {n_iter}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0; got {tol}")
    if grad not in GRAD_MODES:
        raise ValueError(f"unknown grad mode {grad!r}; expected one of {GRAD_MODES}")
    if reg_m is not None and not reg_m > 0:
        raise ValueError(f"reg_m (marginal relaxation) must be > 0; got {reg_m}")


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
    cost: Tensor, dtype: torch.dtype, grad: str, iterate: Callable[[Tensor], tuple[Tensor, int, Tensor]]
) -> TransportResult:
    """Run ``iterate`` (cost (B, n, m) -> plan (B, n, m), iterations, error at stop (B,)) on ``cost`` in ``dtype``
    with autocast off, with autograd through it only for ``grad == "autodiff"``; the plan's cost <T, C>_F per pair."""
    with torch.autocast(device_type=cost.device.type, enabled=False):
        cost = cost.to(dtype)
        if not torch.isfinite(cost).all():
            raise ValueError("cost has NaN or infinite entries")
        with torch.set_grad_enabled(grad == "autodiff" and torch.is_grad_enabled()):
            plan, done, error = iterate(cost)
        value = (plan * cost).sum(dim=(1, 2))  # (B,)
    return TransportResult(plan=plan, value=value, n_iter=done, error=error.detach())


def cost_spread(cost: Tensor, a: Tensor, b: Tensor) -> Tensor:
    r"""The spread of each pair's cost that its balanced plan sees, (B,), detached: the standard deviation under
    :math:`a \otimes b` of the doubly centred cost

    .. math::
        \tilde C_{ij} = C_{ij} - \textstyle\sum_l \bar b_l C_{il} - \sum_k \bar a_k C_{kj}
                        + \sum_{kl} \bar a_k \bar b_l C_{kl},
        \qquad \mathrm{spread} = \big(\textstyle\sum_{ij} \bar a_i \bar b_j \tilde C_{ij}^2\big)^{1/2}

    (:math:`\bar a, \bar b` the marginals normalised to mass 1; padding has weight 0). A balanced entropic plan
    is unchanged when a constant is added to a row or a column of the cost, and :math:`\tilde C` is what is left of
    the cost once those are taken out, so the spread measures only differences the plan can see: a special token
    whose every cost is high adds nothing. It scales with the cost, so ``reg * spread`` makes the plan (and the
    Sinkhorn iteration count) depend on :math:`C / \mathrm{spread}` alone, the same sharpness for every pair and
    at every stage of training. A pair with nothing to align (one token on a side, or equal costs) has spread 0;
    the spread is floored at 1e-3 of the pair's mean :math:`|C|` (any epsilon gives such a pair the same plan)."""
    cost = cost.detach()
    a = a / a.sum(dim=1, keepdim=True)  # (B, n)
    b = b / b.sum(dim=1, keepdim=True)  # (B, m)
    rows = (cost * b.unsqueeze(1)).sum(dim=2)  # (B, n)
    cols = (cost * a.unsqueeze(2)).sum(dim=1)  # (B, m)
    grand = (rows * a).sum(dim=1)  # (B,)
    centred = cost - rows.unsqueeze(2) - cols.unsqueeze(1) + grand.view(-1, 1, 1)
    weights = a.unsqueeze(2) * b.unsqueeze(1)  # (B, n, m), 0 on padding
    spread = (weights * centred.square()).sum(dim=(1, 2)).sqrt()
    floor = _SPREAD_FLOOR * (weights * cost.abs()).sum(dim=(1, 2))
    spread = torch.maximum(spread, floor)
    return torch.where(spread > 0, spread, torch.ones_like(spread))  # all costs 0: nothing to scale


def epsilon(reg: float, reg_scale: str, cost: Tensor, a: Tensor, b: Tensor) -> float | Tensor:
    """The entropic regularisation the iterations use: ``reg`` itself (``"absolute"``), or ``reg`` times each pair's
    :func:`cost_spread` (``"relative"``), (B,), held constant in the gradient."""
    return reg if reg_scale == "absolute" else reg * cost_spread(cost, a, b)


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
