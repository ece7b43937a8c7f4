"""Plan diagnostics on hand-made plans, where each figure is known."""

import math

import pytest
import torch

from optical.transport import plan_diagnostics, sinkhorn_plan


def _uniform(n: int) -> torch.Tensor:
    return torch.full((1, n), 1 / n)


def test_uniform_coupling_and_one_to_one_alignment():
    n = 4
    uniform = torch.full((1, n, n), 1 / n**2)
    identity = torch.eye(n)[None] / n
    marked = torch.tensor([[True, False, False, False]])
    flat = plan_diagnostics(uniform, _uniform(n), _uniform(n), marked, marked)
    sharp = plan_diagnostics(identity, _uniform(n), _uniform(n), marked, marked)
    assert flat.relative_entropy == pytest.approx(1.0)
    assert sharp.relative_entropy == pytest.approx(0.5)
    assert flat.best_match_share == pytest.approx(1 / n) and sharp.best_match_share == pytest.approx(1.0)
    assert flat.marked_mass == pytest.approx(7 / 16)  # row 0 and column 0: 7 of 16 cells
    assert sharp.marked_mass == pytest.approx(1 / 4)  # the cell (0, 0)
    assert flat.row_error == pytest.approx(0.0) and sharp.column_error == pytest.approx(0.0)
    assert plan_diagnostics(uniform, _uniform(n), _uniform(n)).marked_mass is None


def test_padding_is_left_out_and_marginal_errors_are_measured():
    plan = torch.zeros(2, 3, 3)
    plan[0, :2, :2] = 0.25  # 2 x 2 real tokens, uniform
    plan[1] = torch.eye(3) / 3
    plan[1, 0, 0] += 0.1  # row 0 holds 0.1 too much (and column 0)
    a = torch.tensor([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    d = plan_diagnostics(plan, a, a.clone())
    assert d.pairs == 2
    p1 = plan[1] / plan[1].sum()
    h1 = float(-(p1 * p1.clamp_min(1e-30).log()).sum() / math.log(9))
    assert d.relative_entropy == pytest.approx((1.0 + h1) / 2)
    assert d.best_match_share == pytest.approx((0.5 + 1.0) / 2)
    assert d.row_error == pytest.approx(0.1) and d.column_error == pytest.approx(0.1)


def test_sharper_epsilon_gives_sharper_plans():
    torch.manual_seed(0)
    x = torch.randn(8, 6, 16)
    cost = 1 - torch.nn.functional.cosine_similarity(x[:, :, None], x[:, None, :], dim=-1)  # (8, 6, 6), 0 on the diagonal
    a = torch.full((8, 6), 1 / 6)
    loose, tight = (plan_diagnostics(sinkhorn_plan(cost, reg, n_iter=2000, tol=1e-9).plan, a, a) for reg in (1.0, 0.01))
    assert tight.best_match_share > 0.9 > loose.best_match_share
    assert tight.relative_entropy < loose.relative_entropy
    assert tight.row_error < 1e-6
