"""Batched unbalanced entropic optimal transport: log-domain Sinkhorn with KL-relaxed marginals."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._masks import pair_mask
from ._problem import TransportResult, check_solver_args, epsilon, marginals, solve

_LOG_BOUND = math.log(1e8)  # scalings beyond exp(+-_LOG_BOUND) are absorbed into the log-scalings
_MAX_BLOCK = 8  # most iterations between two checks (each check is a device sync)


def sinkhorn_unbalanced_plan(
    cost: Tensor,
    reg: float,
    reg_m: float,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    n_iter: int = 100,
    tol: float = 1e-6,
    grad: str = "envelope",
    reg_scale: str = "absolute",
) -> TransportResult:
    r"""Batched unbalanced entropic OT (KL-relaxed marginals) by log-domain generalised Sinkhorn [1, 2].

    For each pair :math:`b` of the batch:

    .. math::
        T_b = \mathop{\arg \min}_{T \geq 0} \langle T, C_b \rangle_F
              + \mathrm{reg} \cdot \mathrm{KL}(T \,|\, a_b b_b^\top)
              + \mathrm{reg_m} \cdot \mathrm{KL}(T \mathbf{1} \,|\, a_b)
              + \mathrm{reg_m} \cdot \mathrm{KL}(T^\top \mathbf{1} \,|\, b_b),
        \qquad \mathrm{value}_b = \langle T_b, C_b \rangle_F

    where :math:`\mathrm{KL}(x | y) = \sum x \log(x / y) - x + y` (unnormalised), :math:`C_b` (n, m) is the
    cost, :math:`a_b` (n,) and :math:`b_b` (m,) the weights (zero on padding). This is POT's
    ``ot.unbalanced.sinkhorn_unbalanced(a, b, M, reg, reg_m, reg_type="kl")`` (its default since 0.9.5),
    batched and masked; ``value`` is its ``returnCost="linear"``. ``reg_m = inf`` gives balanced OT
    (:func:`sinkhorn_plan`). A token whose every match is expensive keeps part of its mass untransported
    instead of being forced onto some other token; the plan's total mass is <= about 1.

    The iteration, with :math:`\varphi = \mathrm{reg_m} / (\mathrm{reg_m} + \mathrm{reg})` and
    :math:`T_{ij} = a_i b_j \exp(u_i + v_j - C_{ij}/\mathrm{reg})`:
    :math:`u_i = -\varphi\,\mathrm{LSE}_j(v_j + \log b_j - C_{ij}/\mathrm{reg})` and the same for :math:`v`,
    run as scalings of a kernel re-centred at absorbed log-scalings (as :func:`sinkhorn_plan` does), so
    any ``reg`` > 0 is safe. Computed in float32 (float64 if ``cost`` is), autocast off.

    Parameters
    ----------
    cost : Tensor, shape (B, n, m)
        Cost matrices; entries on padding rows or columns must be finite (they get no mass).
    reg : float
        Entropic regularisation (epsilon), > 0.
    reg_m : float
        Marginal relaxation (tau), > 0; ``math.inf`` is balanced OT. The smaller, the more mass may be
        created or destroyed; on costs in [0, 2], ``reg_m`` of 0.1-1 lets badly matched tokens go.
    a : Tensor, shape (B, n), optional
        Source weights (uniform over the unmasked tokens, summing to 1, when None).
    b : Tensor, shape (B, m), optional
        Target weights, likewise. Totals need not match.
    mask_a, mask_b : Tensor, shape (B, n) and (B, m), optional
        True for real tokens, False for padding.
    n_iter : int
        Iteration cap.
    tol : float
        Stop when the largest change of the log-scalings :math:`u, v` over one iteration is below ``tol``
        (0 runs all ``n_iter``). Checked after blocks of 1, 2, 4, then 8 iterations, as
        :func:`sinkhorn_plan`, so up to 7 iterations may follow convergence.
    grad : {"envelope", "autodiff"}
        As in :func:`sinkhorn_plan`: ``envelope`` differentiates ``value`` with the plan held fixed (the
        exact gradient of the regularised optimum in ``cost``), ``autodiff`` backpropagates through the
        iterations.
    reg_scale : {"absolute", "relative"}
        As in :func:`sinkhorn_plan`: ``relative`` multiplies ``reg`` by each pair's
        :func:`optical.transport.cost_spread`; ``reg_m`` stays in the cost's units.

    Returns
    -------
    TransportResult
        ``plan`` (B, n, m), ``value`` (B,), ``n_iter``, ``error`` (B,): each pair's largest change of its
        log-scalings over the last iteration.

    References
    ----------
    [1] L. Chizat, G. Peyré, B. Schmitzer, F.-X. Vialard. Scaling Algorithms for Unbalanced Optimal
        Transport Problems. Math. Comp. 87, 2018.
    [2] C. Frogner, C. Zhang, H. Mobahi, M. Araya-Polo, T. Poggio. Learning with a Wasserstein Loss.
        NeurIPS 2015.

    See Also
    --------
    optical.transport.sinkhorn_plan : balanced OT (``reg_m = inf``).
    ot.unbalanced.sinkhorn_unbalanced : POT's single-pair solver, the reference in the tests.

    Examples
    --------
    >>> cost = torch.tensor([[[0.0, 2.0], [2.0, 0.0]]])
    >>> sinkhorn_unbalanced_plan(cost, reg=0.01, reg_m=1.0).plan.round(decimals=3)
    tensor([[[0.5000, 0.0000],
             [0.0000, 0.5000]]])
    """
    check_solver_args(cost, reg, n_iter, tol, grad, reg_scale, reg_m)
    dtype, (a, mask_a), (b, mask_b) = marginals(cost, a, b, mask_a, mask_b)
    return solve(
        cost, dtype, grad,
        lambda c: _iterate(c, epsilon(reg, reg_scale, c, a, b), reg_m, a, b, mask_a, mask_b, n_iter, tol),
    )


def _iterate(
    cost: Tensor,
    reg: float | Tensor,
    reg_m: float,
    a: Tensor,
    b: Tensor,
    mask_a: Tensor,
    mask_b: Tensor,
    n_iter: int,
    tol: float,
) -> tuple[Tensor, int, Tensor]:
    r"""Generalised Sinkhorn at epsilon ``reg`` (a float, or (B,) per pair); returns the plan (B, n, m), the
    iterations done and each pair's largest log-scaling change (B,) over the last iteration.

    As in :func:`sinkhorn_plan`, the iteration runs on a kernel re-centred at the last absorbed log-scalings
    :math:`(f, g)`, :math:`M_{ij} = a_i b_j \exp(f_i + g_j - C_{ij}/\mathrm{reg})` (the plan there), with
    scalings :math:`x = e^{u - f}`, :math:`y = e^{v - g}`: :math:`x = c \odot (M y)^{-\varphi}`,
    :math:`c_i = e^{(\varphi - 1) f_i} a_i^{\varphi}` (and the same for y), two batched mat-vecs per
    iteration. When a scaling leaves :math:`[10^{-8}, 10^8]` (checked after blocks of iterations), the block
    is undone and replaced by one exact log-sum-exp iteration, absorbed into :math:`(f, g)`. Padding
    rows and columns of the kernel hold 1 and their scalings 0, so they carry no mass.
    """
    if isinstance(reg, Tensor):  # per pair: phi (B, 1) against (B, n) and (B, m) scalings
        phi = torch.ones_like(reg).unsqueeze(1) if math.isinf(reg_m) else (reg_m / (reg_m + reg)).unsqueeze(1)
        log_kernel = cost / -reg.view(-1, 1, 1)  # (B, n, m)
    else:
        phi = 1.0 if math.isinf(reg_m) else reg_m / (reg_m + reg)
        log_kernel = cost / -reg  # (B, n, m)
    log_a, log_b = a.log(), b.log()  # (B, n), (B, m); -inf on padding
    safe_a, safe_b = log_a.masked_fill(~mask_a, 0.0), log_b.masked_fill(~mask_b, 0.0)
    real = pair_mask(mask_a, mask_b)  # (B, n, m)
    real_a, real_b = mask_a.to(cost.dtype), mask_b.to(cost.dtype)

    def absorb(f: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Kernel, its transpose and the factors c (B, n), d (B, m) at log-scalings f, g."""
        kernel = torch.exp(log_kernel + (f + safe_a).unsqueeze(2) + (g + safe_b).unsqueeze(1))
        kernel = torch.where(real, kernel, 1.0)
        c = torch.exp((phi - 1.0) * f + phi * safe_a) * real_a
        d = torch.exp((phi - 1.0) * g + phi * safe_b) * real_b
        return kernel, kernel.transpose(1, 2).contiguous(), c, d

    def exact(g: Tensor) -> tuple[Tensor, Tensor]:
        """One exact log-domain iteration from column log-scalings g (B, m): the new (u, v)."""
        u = -phi * torch.logsumexp(log_kernel + (g + log_b).unsqueeze(1), dim=2)  # (B, n)
        return u, -phi * torch.logsumexp(log_kernel + (u + log_a).unsqueeze(2), dim=1)  # (B, m)

    f, g = exact(torch.zeros_like(log_b))  # the first iteration from u = v = 0, as POT starts
    kernel, kernel_t, c, d = absorb(f, g)
    error = torch.maximum(f.masked_fill(~mask_a, 0.0).abs().amax(dim=1), g.masked_fill(~mask_b, 0.0).abs().amax(dim=1))
    x, y = real_a, real_b
    done, block = 1, 1
    while done < n_iter:
        steps = min(block, n_iter - done)
        y_start = y
        for _ in range(steps):
            x_prev, y_prev = x, y
            x = c * torch.bmm(y.unsqueeze(1), kernel_t).squeeze(1).pow(-phi)  # (B, n)
            y = d * torch.bmm(x.unsqueeze(1), kernel).squeeze(1).pow(-phi)  # (B, m)
        log_x, log_y = torch.where(mask_a, x, 1.0).log(), torch.where(mask_b, y, 1.0).log()
        changes = torch.maximum(
            (log_x - torch.where(mask_a, x_prev, 1.0).log()).abs().amax(dim=1),
            (log_y - torch.where(mask_b, y_prev, 1.0).log()).abs().amax(dim=1),
        )  # (B,)
        bound = torch.maximum(log_x.abs().amax(), log_y.abs().amax())
        change, bound = torch.stack((changes.amax(), bound)).tolist()
        if bound <= _LOG_BOUND:  # False for inf and NaN too
            error = changes
            done += steps
            block = min(2 * block, _MAX_BLOCK)
            if change < tol:
                break
        else:  # undo the block: one exact iteration from its start, absorbed
            f, g = exact(g + torch.where(mask_b, y_start, 1.0).log())
            kernel, kernel_t, c, d = absorb(f, g)
            x, y = real_a, real_b
            done, block = done + 1, 1
    return (kernel * x.unsqueeze(2) * y.unsqueeze(1)).masked_fill(~real, 0.0), done, error
