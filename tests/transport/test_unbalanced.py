"""Batched unbalanced Sinkhorn against POT's ot.unbalanced.sinkhorn_unbalanced (reg_type="kl"), per pair."""

import math
import warnings

import numpy as np
import ot
import pytest
import torch

from optical.transport import cost_matrix, sinkhorn_plan, sinkhorn_unbalanced_plan

LENGTHS_N = [7, 3, 5, 1]
LENGTHS_M = [9, 9, 2, 4]


def _ragged(dtype=torch.float64, d=5):
    """Seeded (4, 7, 9) batch of cosine costs with different lengths per pair, and its masks."""
    gen = torch.Generator().manual_seed(0)
    S = torch.randn(4, 7, d, generator=gen, dtype=dtype)
    E = torch.randn(4, 9, d, generator=gen, dtype=dtype)
    mask_s = torch.arange(7)[None] < torch.tensor(LENGTHS_N)[:, None]
    mask_e = torch.arange(9)[None] < torch.tensor(LENGTHS_M)[:, None]
    return cost_matrix(S, E, mask_s, mask_e), mask_s, mask_e


def _pot(a, b, C, reg, reg_m):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = ot.unbalanced.sinkhorn_unbalanced(a, b, C, reg, reg_m, reg_type="kl", numItermax=100000, stopThr=1e-14)
        value = ot.unbalanced.sinkhorn_unbalanced2(
            a, b, C, reg, reg_m, reg_type="kl", returnCost="linear", numItermax=100000, stopThr=1e-14
        )
    return plan, float(value)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("reg", "reg_m"), [(0.05, 0.5), (0.5, 1.0), (0.1, 10.0)])
def test_matches_pot_per_pair(dtype, reg, reg_m):
    cost, mask_s, mask_e = _ragged(dtype)
    res = sinkhorn_unbalanced_plan(cost, reg, reg_m, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=1e-9)
    assert res.plan.dtype == dtype and res.n_iter < 5000
    for k, (n, m) in enumerate(zip(LENGTHS_N, LENGTHS_M)):
        C = cost[k, :n, :m].double().numpy()
        plan, value = _pot(np.full(n, 1 / n), np.full(m, 1 / m), C, reg, reg_m)
        np.testing.assert_allclose(res.plan[k, :n, :m].double().numpy(), plan, atol=1e-5)
        np.testing.assert_allclose(res.value[k].item(), value, atol=1e-5)
        assert res.plan[k, n:].abs().sum() == 0 and res.plan[k, :, m:].abs().sum() == 0
        assert plan.sum() < 1 - 1e-3  # really unbalanced: mass was dropped


def test_non_uniform_weights_match_pot():
    cost, mask_s, mask_e = _ragged()
    gen = torch.Generator().manual_seed(3)
    a = torch.rand(4, 7, generator=gen, dtype=torch.float64) * mask_s
    b = torch.rand(4, 9, generator=gen, dtype=torch.float64) * mask_e  # totals differ from a's: allowed
    res = sinkhorn_unbalanced_plan(cost, 0.1, 0.3, a, b, n_iter=5000, tol=1e-10)
    for k, (n, m) in enumerate(zip(LENGTHS_N, LENGTHS_M)):
        plan, value = _pot(a[k, :n].numpy(), b[k, :m].numpy(), cost[k, :n, :m].numpy(), 0.1, 0.3)
        np.testing.assert_allclose(res.plan[k, :n, :m].numpy(), plan, atol=1e-8)
        np.testing.assert_allclose(res.value[k].item(), value, atol=1e-8)


def test_infinite_relaxation_is_balanced_sinkhorn():
    cost, mask_s, mask_e = _ragged()
    unbalanced = sinkhorn_unbalanced_plan(cost, 0.1, math.inf, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=1e-12)
    balanced = sinkhorn_plan(cost, 0.1, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=1e-12)
    torch.testing.assert_close(unbalanced.plan, balanced.plan, atol=1e-9, rtol=0)


def test_mass_shrinks_with_the_relaxation():
    cost, mask_s, mask_e = _ragged()
    kept = [
        sinkhorn_unbalanced_plan(cost, 0.05, reg_m, mask_a=mask_s, mask_b=mask_e, n_iter=5000).plan.sum(dim=(1, 2))
        for reg_m in (0.05, 0.5, 5.0)
    ]
    assert (kept[0] < kept[1]).all() and (kept[1] < kept[2]).all() and (kept[2] < 1).all()


def test_envelope_gradient_is_the_plan_and_autodiff_is_exact():
    cost, mask_s, mask_e = _ragged()
    leaf = cost.clone().requires_grad_(True)
    res = sinkhorn_unbalanced_plan(leaf, 0.1, 0.5, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=1e-12)
    res.value.sum().backward()
    torch.testing.assert_close(leaf.grad, res.plan.detach())
    small = cost[:2, :3, :4].clone().requires_grad_(True)

    def value(c):
        return sinkhorn_unbalanced_plan(c, 0.5, 0.5, n_iter=30, tol=0.0, grad="autodiff").value

    assert torch.autograd.gradcheck(value, (small,))


def test_bad_input():
    cost, mask_s, mask_e = _ragged()
    for kwargs, message in (
        ({"reg": 0.0}, "reg"),
        ({"reg_m": 0.0}, "reg_m"),
        ({"n_iter": 0}, "n_iter"),
        ({"tol": -1.0}, "tol"),
        ({"grad": "implicit"}, "grad"),
    ):
        args = {"reg": 0.1, "reg_m": 1.0, **kwargs}
        with pytest.raises(ValueError, match=message):
            sinkhorn_unbalanced_plan(cost, args.pop("reg"), args.pop("reg_m"), **args)
    with pytest.raises(ValueError, match="all padding"):
        sinkhorn_unbalanced_plan(cost, 0.1, 1.0, mask_a=torch.zeros_like(mask_s), mask_b=mask_e)
    with pytest.raises(ValueError, match="NaN"):
        sinkhorn_unbalanced_plan(torch.full((1, 2, 2), math.nan), 0.1, 1.0)


@pytest.mark.parametrize("reg", [1e-3, 1e-2])
def test_small_epsilon_matches_plain_log_domain_iterations(reg):
    """Same iterations as an exact log-sum-exp loop written here: the absorptions change nothing."""
    cost, mask_s, mask_e = _ragged()
    reg_m, steps = 0.5, 200
    res = sinkhorn_unbalanced_plan(cost, reg, reg_m, mask_a=mask_s, mask_b=mask_e, n_iter=steps, tol=0.0)
    assert res.n_iter == steps and torch.isfinite(res.plan).all()
    phi = reg_m / (reg_m + reg)
    log_a = (mask_s / mask_s.sum(1, keepdim=True)).log()
    log_b = (mask_e / mask_e.sum(1, keepdim=True)).log()
    u, v = torch.zeros_like(log_a), torch.zeros_like(log_b)
    for _ in range(steps):
        u = -phi * torch.logsumexp(-cost / reg + (v + log_b)[:, None, :], dim=2)
        v = -phi * torch.logsumexp(-cost / reg + (u + log_a)[:, :, None], dim=1)
    plan = torch.exp(-cost / reg + (u + log_a)[:, :, None] + (v + log_b)[:, None, :])
    torch.testing.assert_close(res.plan, plan, atol=1e-9, rtol=1e-6)
