"""Batched Sinkhorn against POT (per pair and ot.batch), marginals, gradients and bad input."""

import numpy as np
import ot
import pytest
import torch
from ot.batch import solve_batch

from optical.transport import cost_matrix, sinkhorn_plan

LENGTHS_N = [7, 3, 5, 1]
LENGTHS_M = [9, 9, 2, 4]


def _ragged(dtype=torch.float64, d=5):
    """Seeded (4, 7, 9) batch of cosine costs with different lengths per pair, and its masks."""
    gen = torch.Generator().manual_seed(0)
    S = torch.randn(4, 7, d, generator=gen, dtype=dtype)
    E = torch.randn(4, 9, d, generator=gen, dtype=dtype)
    mask_s = torch.arange(7)[None] < torch.tensor(LENGTHS_N)[:, None]
    mask_e = torch.arange(9)[None] < torch.tensor(LENGTHS_M)[:, None]
    return S, E, mask_s, mask_e


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("reg", [0.05, 0.5])
def test_matches_pot_per_pair(dtype, reg):
    S, E, mask_s, mask_e = _ragged(dtype)
    cost = cost_matrix(S, E, mask_s, mask_e)
    res = sinkhorn_plan(cost, reg, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=1e-7)
    assert res.plan.dtype == dtype and res.n_iter < 5000
    for k, (n, m) in enumerate(zip(LENGTHS_N, LENGTHS_M)):
        C = cost[k, :n, :m].double().numpy()
        a, b = np.full(n, 1 / n), np.full(m, 1 / m)
        plan = ot.sinkhorn(a, b, C, reg, method="sinkhorn_log", numItermax=100000, stopThr=1e-12)
        np.testing.assert_allclose(res.plan[k, :n, :m].double().numpy(), plan, atol=1e-5)
        np.testing.assert_allclose(res.value[k].item(), float((plan * C).sum()), atol=1e-5)
        assert res.plan[k, n:].abs().sum() == 0 and res.plan[k, :, m:].abs().sum() == 0


def test_matches_ot_batch_with_zero_weights():
    S, E, mask_s, mask_e = _ragged()
    cost = cost_matrix(S, E, mask_s, mask_e)
    a = mask_s.double() / mask_s.sum(1, keepdim=True)
    b = mask_e.double() / mask_e.sum(1, keepdim=True)
    ref = solve_batch(cost, 0.1, a, b, method="log_sinkhorn", max_iter=5000, tol=1e-10, grad="detach")
    res = sinkhorn_plan(cost, 0.1, a, b, n_iter=5000, tol=1e-10)
    assert ref.log["n_iter"] < 4999 and res.n_iter < 5000
    torch.testing.assert_close(res.plan, ref.plan, atol=1e-5, rtol=0)
    torch.testing.assert_close(res.value, ref.value_linear, atol=1e-5, rtol=0)


@pytest.mark.parametrize("reg", [1e-3, 1e-2])
def test_iterates_match_ot_batch_at_small_epsilon(reg):
    """Same number of plain Sinkhorn iterations, not converged: rescalings and absorptions change nothing."""
    S, E, mask_s, mask_e = _ragged()
    cost = cost_matrix(S, E, mask_s, mask_e)
    a = mask_s.double() / mask_s.sum(1, keepdim=True)
    b = mask_e.double() / mask_e.sum(1, keepdim=True)
    ref = solve_batch(cost, reg, a, b, method="log_sinkhorn", max_iter=300, tol=0.0, grad="detach")
    res = sinkhorn_plan(cost, reg, mask_a=mask_s, mask_b=mask_e, n_iter=300, tol=0.0)
    assert res.n_iter == ref.log["n_iter"] + 1 == 300
    torch.testing.assert_close(res.plan, ref.plan, atol=1e-10, rtol=0)


@pytest.mark.parametrize("tol", [1e-3, 1e-6])
def test_marginals_hold_to_tolerance(tol):
    S, E, mask_s, mask_e = _ragged(torch.float32)
    res = sinkhorn_plan(cost_matrix(S, E, mask_s, mask_e), 0.05, mask_a=mask_s, mask_b=mask_e, n_iter=5000, tol=tol)
    a = mask_s / mask_s.sum(1, keepdim=True)
    b = mask_e / mask_e.sum(1, keepdim=True)
    assert res.n_iter < 5000
    assert torch.linalg.vector_norm(res.plan.sum(2) - a, dim=1).max() < tol
    torch.testing.assert_close(res.plan.sum(1), b, atol=1e-6, rtol=0)


def test_identical_sentences_give_diagonal_plan():
    gen = torch.Generator().manual_seed(1)
    S = torch.randn(3, 6, 16, generator=gen)
    res = sinkhorn_plan(cost_matrix(S, S), 0.01, n_iter=1000)
    eye = torch.eye(6).expand(3, 6, 6) / 6
    torch.testing.assert_close(res.plan, eye, atol=1e-4, rtol=0)
    assert res.value.abs().max() < 1e-4


def test_stable_at_small_epsilon():
    gen = torch.Generator().manual_seed(2)
    cost = 2 * torch.rand(8, 12, 10, generator=gen)
    res = sinkhorn_plan(cost, 1e-3, n_iter=3000, tol=1e-6)
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.value).all()
    torch.testing.assert_close(res.plan.sum(1), torch.full((8, 10), 0.1), atol=1e-5, rtol=0)
    assert torch.linalg.vector_norm(res.plan.sum(2) - 1 / 12, dim=1).max() < 1e-2


def test_float32_under_autocast():
    S, E, mask_s, mask_e = _ragged(torch.float32)
    cost = cost_matrix(S, E, mask_s, mask_e)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        res = sinkhorn_plan(cost.bfloat16(), 0.05, mask_a=mask_s, mask_b=mask_e)
    assert res.plan.dtype == torch.float32 and res.value.dtype == torch.float32


def test_envelope_gradient_is_the_plan():
    S, E, mask_s, mask_e = _ragged()
    cost = cost_matrix(S, E, mask_s, mask_e).requires_grad_(True)
    res = sinkhorn_plan(cost, 0.1, mask_a=mask_s, mask_b=mask_e, n_iter=2000, tol=1e-10)
    assert not res.plan.requires_grad
    res.value.sum().backward()
    torch.testing.assert_close(cost.grad, res.plan)


@pytest.mark.parametrize("grad", ["envelope", "autodiff"])
def test_gradients_finite_through_cost(grad):
    S, E, mask_s, mask_e = _ragged(torch.float32)
    S.requires_grad_(True)
    E.requires_grad_(True)
    res = sinkhorn_plan(cost_matrix(S, E, mask_s, mask_e), 1e-3, mask_a=mask_s, mask_b=mask_e, n_iter=200, grad=grad)
    res.value.mean().backward()
    assert torch.isfinite(S.grad).all() and torch.isfinite(E.grad).all()
    assert S.grad[~mask_s].abs().sum() == 0


def test_autodiff_gradcheck():
    S, E, mask_s, mask_e = _ragged(d=3)
    S, E = S[:2, :4].clone().requires_grad_(True), E[:2, :3].clone().requires_grad_(True)
    mask_s, mask_e = mask_s[:2, :4], mask_e[:2, :3]

    def value(S, E):
        cost = cost_matrix(S, E, mask_s, mask_e)
        res = sinkhorn_plan(cost, 0.2, mask_a=mask_s, mask_b=mask_e, n_iter=30, tol=0.0, grad="autodiff")
        return res.value, res.plan

    assert torch.autograd.gradcheck(value, (S, E))


def test_n_iter_cap_and_tol_zero():
    S, E, mask_s, mask_e = _ragged()
    res = sinkhorn_plan(cost_matrix(S, E, mask_s, mask_e), 0.05, mask_a=mask_s, mask_b=mask_e, n_iter=7, tol=0.0)
    assert res.n_iter == 7


def test_bad_input():
    S, E, mask_s, mask_e = _ragged()
    cost = cost_matrix(S, E, mask_s, mask_e)
    for reg in (-0.1, 0.0):
        with pytest.raises(ValueError, match="reg .* must be > 0"):
            sinkhorn_plan(cost, reg)
    with pytest.raises(ValueError, match=r"cost must have shape \(B, n, m\)"):
        sinkhorn_plan(cost[0], 0.1)
    with pytest.raises(ValueError, match="mask_a has shape"):
        sinkhorn_plan(cost, 0.1, mask_a=mask_e, mask_b=mask_e)
    empty = mask_s.clone()
    empty[2] = False
    with pytest.raises(ValueError, match=r"mask_a: sentence\(s\) \[2\] are all padding"):
        sinkhorn_plan(cost, 0.1, mask_a=empty, mask_b=mask_e)
    with pytest.raises(ValueError, match="same total mass"):
        sinkhorn_plan(cost, 0.1, a=torch.ones(4, 7), b=torch.ones(4, 9))
    with pytest.raises(ValueError, match="negative weights"):
        sinkhorn_plan(cost, 0.1, a=-torch.ones(4, 7))
    with pytest.raises(ValueError, match="unknown grad mode"):
        sinkhorn_plan(cost, 0.1, grad="implicit")
    with pytest.raises(ValueError, match="NaN or infinite"):
        sinkhorn_plan(torch.full((1, 2, 2), float("nan")), 0.1)
    with pytest.raises(ValueError, match="n_iter"):
        sinkhorn_plan(cost, 0.1, n_iter=0)
