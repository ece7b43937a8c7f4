"""Entropic optimal transport between the token sequences of sentence pairs, batched with padding masks."""

from ._cost import check_cost_kind, cost_matrix, cosine_cost, sqeuclidean_cost
from ._diagnostics import PlanDiagnostics, plan_diagnostics
from ._masks import pair_mask, uniform_marginal
from ._problem import TransportResult, check_solver_options, cost_spread
from ._sinkhorn import sinkhorn_plan
from ._unbalanced import sinkhorn_unbalanced_plan

__all__ = [
    "PlanDiagnostics",
    "TransportResult",
    "check_cost_kind",
    "check_solver_options",
    "cost_matrix",
    "cost_spread",
    "cosine_cost",
    "pair_mask",
    "plan_diagnostics",
    "sinkhorn_plan",
    "sinkhorn_unbalanced_plan",
    "sqeuclidean_cost",
    "uniform_marginal",
]
