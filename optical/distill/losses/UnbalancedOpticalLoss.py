"""OPTICAL with KL-relaxed marginals: unbalanced entropic optimal transport between token states."""

from __future__ import annotations

import math

from torch import Tensor

from optical.transport import TransportResult, check_solver_options, sinkhorn_unbalanced_plan

from .OpticalLoss import OpticalLoss


class UnbalancedOpticalLoss(OpticalLoss):
    r"""Token-level OT distillation where tokens may stay unmatched (``optical-uot``).

    As :class:`OpticalLoss`, but the plan solves unbalanced entropic OT [4]: the marginal constraints are
    replaced by penalties :math:`\mathrm{reg_m}\,\mathrm{KL}(T\mathbf{1} | a) + \mathrm{reg_m}\,\mathrm{KL}
    (T^\top\mathbf{1} | b)`, so a token with no good counterpart in the translation (a particle, an article,
    a word the other language leaves implicit) sends less than its share instead of being forced onto some
    other token. The loss is :math:`\langle T, C \rangle_F` averaged over the pairs, with the plan's mass
    (at most about 1) left to the solver; the gradient is the envelope one (plan held fixed).

    Args:
        reg_m: marginal relaxation tau (> 0). ``math.inf`` is :class:`OpticalLoss` exactly (same plan).
            The smaller, the less mass is transported where the cost is high (``bench/token_mass.py``
            prints the mass kept on real pairs).
        reg, cost, n_iter, tol, grad, tokens, english, reg_scale: as in :class:`OpticalLoss`; ``tol`` bounds the
            change of the log-scalings between two iterations; with ``reg_scale="relative"``, ``reg_m`` stays in
            the cost's units.

    References:
        [1] Z. Huang, P. Yu, J. Allan. Improving Cross-lingual Information Retrieval on Low-Resource
            Languages via Optimal Transport Distillation. WSDM 2023. https://arxiv.org/abs/2301.12566
        [4] L. Chizat, G. Peyré, B. Schmitzer, F.-X. Vialard. Scaling Algorithms for Unbalanced Optimal
            Transport Problems. Math. Comp. 87, 2018. https://arxiv.org/abs/1607.05816

    Inputs:
        As :class:`OpticalLoss`: ``token_embeddings`` and ``attention_mask`` of both sides (and
        ``token_roles`` for ``tokens`` other than ``"all"``).

    Relations:
        - ``reg_m=math.inf`` is :class:`OpticalLoss`.
        - The solver is :func:`optical.transport.sinkhorn_unbalanced_plan`, checked against POT's
          ``ot.unbalanced.sinkhorn_unbalanced`` (``reg_type="kl"``).

    Example:
        ::

            loss_fn = UnbalancedOpticalLoss(reg=0.05, reg_m=1.0)
            loss = loss_fn(student_encoder(student_batch), teacher_states)
            loss.backward()
            kept = loss_fn.transport(student_out, teacher_out).plan.sum(dim=(1, 2))  # (B,) mass transported
    """

    OPTIONS = (*OpticalLoss.OPTIONS, "reg_m")  # what ``create_loss`` passes from a LossConfig

    def __init__(self, reg: float = 0.05, cost: str = "cosine", n_iter: int = 60, tol: float = 1e-4,
                 grad: str = "envelope", tokens: str = "all", reg_m: float = 1.0, english: bool = False,
                 reg_scale: str = "absolute"):
        super().__init__(reg=reg, cost=cost, n_iter=n_iter, tol=tol, grad=grad, tokens=tokens, english=english,
                         reg_scale=reg_scale)
        check_solver_options(reg, n_iter, tol, grad, reg_scale, reg_m)  # sinkhorn_unbalanced_plan's, with reg_m
        self.reg_m = reg_m

    def solve(
        self, cost: Tensor, a: Tensor | None, b: Tensor | None, mask_a: Tensor | None, mask_b: Tensor | None
    ) -> TransportResult:
        """The unbalanced plan for ``cost`` (B, n, m); ``a`` (B, n), ``b`` (B, m) or None (uniform over the masks)."""
        return sinkhorn_unbalanced_plan(
            cost, self.reg, self.reg_m, a, b, mask_a=mask_a, mask_b=mask_b, n_iter=self.n_iter, tol=self.tol,
            grad=self.grad, reg_scale=self.reg_scale,
        )

    def get_config_dict(self) -> dict[str, object]:
        """Hyperparameters, for logging."""
        return {**super().get_config_dict(), "reg_m": self.reg_m if math.isfinite(self.reg_m) else "inf"}
