"""The relative epsilon scale (each pair's cost spread) and the marginal error the solvers report at stop."""

import math

import pytest
import torch

from optical.transport import cost_matrix, cost_spread, sinkhorn_plan, sinkhorn_unbalanced_plan, uniform_marginal

LENGTHS_N = [7, 3, 5, 1]
LENGTHS_M = [9, 9, 2, 4]


def _ragged(dtype=torch.float64, d=5):
    """Seeded (4, 7, 9) batch of cosine costs with different lengths per pair, and its masks."""
    gen = torch.Generator().manual_seed(1)
    S = torch.randn(4, 7, d, generator=gen, dtype=dtype)
    E = torch.randn(4, 9, d, generator=gen, dtype=dtype)
    mask_s = torch.arange(7)[None] < torch.tensor(LENGTHS_N)[:, None]
    mask_e = torch.arange(9)[None] < torch.tensor(LENGTHS_M)[:, None]
    return cost_matrix(S, E, mask_s, mask_e), mask_s, mask_e


def test_cost_spread_of_hand_made_costs():
    u = torch.full((1, 2), 0.5)
    anti = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])  # doubly centred: +-0.5 everywhere
    assert cost_spread(anti, u, u).item() == pytest.approx(0.5)
    assert cost_spread(3 * anti + 7, u, u).item() == pytest.approx(1.5)  # scales with the cost, ignores a constant
    rows_and_columns = torch.tensor([[1.0, 2.0], [3.0, 4.0]])[None]  # C_ij = r_i + c_j: nothing for a plan to see
    mean_abs = rows_and_columns.mean().item()
    assert cost_spread(rows_and_columns, u, u).item() == pytest.approx(1e-3 * mean_abs)  # the floor
    assert cost_spread(torch.zeros(1, 2, 2), u, u).item() == 1.0  # all costs 0: nothing to scale
    # padding has no weight: a padded copy has the spread of the real block
    padded = torch.full((1, 3, 3), 9.0)
    padded[0, :2, :2] = anti[0]
    a = torch.tensor([[0.5, 0.5, 0.0]])
    assert cost_spread(padded, a, a).item() == pytest.approx(0.5)


def test_cost_spread_is_a_weighted_std_of_the_doubly_centred_cost():
    cost, mask_s, mask_e = _ragged()
    a, b = uniform_marginal(mask_s, cost.dtype), uniform_marginal(mask_e, cost.dtype)
    spread = cost_spread(cost, a, b)
    for i, (n, m) in enumerate(zip(LENGTHS_N, LENGTHS_M)):
        C = cost[i, :n, :m]
        centred = C - C.mean(1, keepdim=True) - C.mean(0, keepdim=True) + C.mean()
        expected = max(centred.pow(2).mean().sqrt().item(), 1e-3 * C.abs().mean().item())
        assert spread[i].item() == pytest.approx(expected, rel=1e-9)
    assert spread[3].item() == pytest.approx(1e-3 * cost[3, :1, :4].abs().mean().item())  # one token: floored


def test_relative_epsilon_is_reg_times_each_pairs_spread():
    cost, mask_s, mask_e = _ragged()
    a, b = uniform_marginal(mask_s, cost.dtype), uniform_marginal(mask_e, cost.dtype)
    spread = cost_spread(cost, a, b)
    batched = sinkhorn_plan(cost, 0.3, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=1e-10, reg_scale="relative")
    for i in range(4):
        alone = sinkhorn_plan(cost[i : i + 1], 0.3 * spread[i].item(), mask_a=mask_s[i : i + 1],
                              mask_b=mask_e[i : i + 1], n_iter=5000, tol=1e-10)
        torch.testing.assert_close(batched.plan[i], alone.plan[0], atol=1e-8, rtol=1e-6)


def test_relative_plans_do_not_depend_on_the_scale_or_shifts_of_the_cost():
    cost, mask_s, mask_e = _ragged()
    shift = torch.randn(4, 7, 1, dtype=cost.dtype) + torch.randn(4, 1, 9, dtype=cost.dtype)
    moved = (cost * torch.tensor([0.1, 3.0, 10.0, 0.5], dtype=cost.dtype).view(-1, 1, 1) + shift)
    moved = moved.masked_fill(~(mask_s[:, :, None] & mask_e[:, None, :]), 0.0)
    plans = [sinkhorn_plan(c, 0.2, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=1e-11, reg_scale=scale).plan
             for c in (cost, moved) for scale in ("relative", "absolute")]
    torch.testing.assert_close(plans[0], plans[2], atol=1e-7, rtol=1e-5)  # relative: the same plans
    assert (plans[1] - plans[3]).abs().max() > 1e-2  # absolute: the scale changes the sharpness


def test_relative_scale_makes_the_unbalanced_solver_per_pair_too():
    cost, mask_s, mask_e = _ragged()
    a, b = uniform_marginal(mask_s, cost.dtype), uniform_marginal(mask_e, cost.dtype)
    spread = cost_spread(cost, a, b)
    batched = sinkhorn_unbalanced_plan(cost, 0.3, 0.5, mask_a=mask_s, mask_b=mask_e, n_iter=3000, tol=1e-11,
                                       reg_scale="relative")
    assert batched.error.shape == (4,) and batched.error[:3].max() < 1e-11
    # pair 3 has one token: no spread, epsilon at the floor (1e-3 of its mean cost), where unbalanced transport
    # (its one row's mass is free) converges slowly: the error at the cap says so
    assert batched.n_iter == 3000 and batched.error[3] > 1e-11
    for i in range(4):
        alone = sinkhorn_unbalanced_plan(cost[i : i + 1], 0.3 * spread[i].item(), 0.5, mask_a=mask_s[i : i + 1],
                                         mask_b=mask_e[i : i + 1], n_iter=3000, tol=1e-11)
        torch.testing.assert_close(batched.plan[i], alone.plan[0], atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_error_at_stop_is_each_pairs_row_marginal_error(dtype):
    cost, mask_s, mask_e = _ragged(dtype)
    a = uniform_marginal(mask_s, dtype)
    for n_iter, tol in ((5000, 1e-5), (3, 0.0), (1, 1e-5)):
        res = sinkhorn_plan(cost, 0.02, mask_a=mask_s, mask_b=mask_e, n_iter=n_iter, tol=tol)
        measured = torch.linalg.vector_norm(res.plan.sum(2) - a, dim=1)
        assert res.error.shape == (4,) and not res.error.requires_grad
        torch.testing.assert_close(res.error, measured, atol=1e-6 if dtype == torch.float32 else 1e-12, rtol=1e-3)
    tol = 1e-5 if dtype == torch.float64 else 1e-3  # float32 rounding leaves about 6e-5 at this epsilon
    converged = sinkhorn_plan(cost, 0.02, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=tol)
    capped = sinkhorn_plan(cost, 0.02, mask_a=mask_s, mask_b=mask_e, n_iter=3, tol=tol)
    assert converged.n_iter < 5000 and converged.error.max() < tol  # stopped by the tolerance
    assert capped.n_iter == 3 and capped.error.max() > tol  # stopped by the cap: the error says so


def test_error_survives_the_log_domain_fallback_and_autodiff():
    cost, mask_s, mask_e = _ragged(torch.float32)
    cost = cost.clone().requires_grad_(True)
    res = sinkhorn_plan(cost, 1e-3, mask_a=mask_s, mask_b=mask_e, n_iter=200, grad="autodiff")  # absorbs often
    a = uniform_marginal(mask_s, torch.float32)
    measured = torch.linalg.vector_norm(res.plan.detach().sum(2) - a, dim=1)
    torch.testing.assert_close(res.error, measured, atol=1e-5, rtol=1e-3)
    assert not res.error.requires_grad and torch.isfinite(res.error).all()


def test_unbalanced_error_is_the_last_change_of_the_log_scalings():
    cost, mask_s, mask_e = _ragged()
    few = sinkhorn_unbalanced_plan(cost, 0.05, 1.0, mask_a=mask_s, mask_b=mask_e, n_iter=4, tol=0.0)
    many = sinkhorn_unbalanced_plan(cost, 0.05, 1.0, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=1e-9)
    assert few.error.shape == many.error.shape == (4,)
    assert many.error.max() < 1e-9 < few.error.max()
    one = sinkhorn_unbalanced_plan(cost, 0.05, 1.0, mask_a=mask_s, mask_b=mask_e, n_iter=1)
    assert torch.isfinite(one.error).all() and (one.error > 0).all()  # the first iteration's step from 0


def test_bad_reg_scale():
    cost, mask_s, mask_e = _ragged()
    with pytest.raises(ValueError, match="reg_scale"):
        sinkhorn_plan(cost, 0.1, reg_scale="percent")
    with pytest.raises(ValueError, match="reg_scale"):
        sinkhorn_unbalanced_plan(cost, 0.1, math.inf, reg_scale="percent")
