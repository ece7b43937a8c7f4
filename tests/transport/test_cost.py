"""Cost matrices against brute-force loops and POT."""

import numpy as np
import ot
import pytest
import torch

from optical.transport import cost_matrix, cosine_cost, sqeuclidean_cost


def _tokens(dtype=torch.float64):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(3, 5, 4, generator=gen, dtype=dtype), torch.randn(3, 6, 4, generator=gen, dtype=dtype)


def test_cosine_matches_pairwise_loop():
    S, E = _tokens()
    cost = cosine_cost(S, E)
    expected = torch.stack(
        [1 - torch.nn.functional.cosine_similarity(S[b, :, None], E[b, None, :], dim=-1) for b in range(3)]
    )
    torch.testing.assert_close(cost, expected)
    assert cost.min() >= -1e-12 and cost.max() <= 2 + 1e-12


def test_sqeuclidean_matches_pot():
    S, E = _tokens()
    cost = sqeuclidean_cost(S, E)
    for b in range(3):
        np.testing.assert_allclose(cost[b].numpy(), ot.dist(S[b].numpy(), E[b].numpy()), atol=1e-10)


@pytest.mark.parametrize("kind", ["cosine", "sqeuclidean"])
def test_masked_entries_are_zero(kind):
    S, E = _tokens()
    mask_s = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    mask_e = torch.ones(3, 6, dtype=torch.bool)
    mask_e[0, 4:] = False
    cost = cost_matrix(S, E, mask_s, mask_e, kind=kind)
    full = cost_matrix(S, E, kind=kind)
    valid = mask_s.bool()[:, :, None] & mask_e[:, None, :]
    assert (cost[~valid] == 0).all()
    torch.testing.assert_close(cost[valid], full[valid])


def test_sqeuclidean_mean_is_relative_to_each_pair_and_its_scale_is_constant_in_the_gradient():
    S, E = _tokens()
    mask_s = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]).bool()
    mask_e = torch.ones(3, 6, dtype=torch.bool)
    scaled = cost_matrix(S * 10, E * 10, mask_s, mask_e, kind="sqeuclidean-mean")
    valid = mask_s[:, :, None] & mask_e[:, None, :]
    means = torch.stack([scaled[b][valid[b]].mean() for b in range(3)])
    torch.testing.assert_close(means, torch.ones(3, dtype=means.dtype))  # scale-free: x10 states, same cost
    torch.testing.assert_close(scaled, cost_matrix(S, E, mask_s, mask_e, kind="sqeuclidean-mean"))
    leaf = S.clone().requires_grad_(True)
    raw = cost_matrix(leaf, E, mask_s, mask_e, kind="sqeuclidean")
    (grad_raw,) = torch.autograd.grad(raw.sum(), leaf)
    rel = cost_matrix(leaf, E, mask_s, mask_e, kind="sqeuclidean-mean")
    (grad_rel,) = torch.autograd.grad(rel.sum(), leaf)
    scale = torch.stack([raw[b][valid[b]].mean() for b in range(3)]).detach()
    torch.testing.assert_close(grad_rel, grad_raw / scale[:, None, None])


def test_float32_under_autocast():
    S, E = _tokens(torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cost = cost_matrix(S.bfloat16(), E.bfloat16())
    assert cost.dtype == torch.float32


def test_bad_input():
    S, E = _tokens()
    with pytest.raises(ValueError, match="unknown cost kind"):
        cost_matrix(S, E, kind="manhattan")
    with pytest.raises(ValueError, match="batch size and the width"):
        cost_matrix(S, E[:, :, :3])
    with pytest.raises(ValueError, match="batch size and the width"):
        cost_matrix(S, E[:2])
    with pytest.raises(ValueError, match=r"\(B, n, d\)"):
        cost_matrix(S[0], E[0])
    with pytest.raises(ValueError, match="mask_s has shape"):
        cost_matrix(S, E, mask_s=torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"mask_e: sentence\(s\) \[1\] are all padding"):
        cost_matrix(S, E, mask_e=torch.tensor([[1] * 6, [0] * 6, [1] * 6]))
