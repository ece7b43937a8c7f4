"""Late-interaction scores checked against a brute-force loop; chunking, padding, ranking and errors."""

from __future__ import annotations

import pytest
import torch

from optical.scoring import late_scores, rank_late


def _inputs(n=5, m=7, length=6, r=4, d=8, seed=0):
    """Random text (n, length, d) and regions (m, r, d) with ragged masks, each row at least one valid."""
    g = torch.Generator().manual_seed(seed)
    text, regions = torch.randn(n, length, d, generator=g), torch.randn(m, r, d, generator=g)
    text_mask = torch.arange(length) < torch.randint(1, length + 1, (n, 1), generator=g)
    region_mask = torch.arange(r) < torch.randint(1, r + 1, (m, 1), generator=g)
    return text, text_mask, regions, region_mask


def _brute(text, text_mask, regions, region_mask):
    """The definition, one pair, one token and one region at a time."""
    out = torch.empty(len(text), len(regions), dtype=torch.float64)
    for n in range(len(text)):
        tokens = [text[n, i].double() / text[n, i].double().norm() for i in range(text.shape[1]) if text_mask[n, i]]
        for m in range(len(regions)):
            regs = [regions[m, j].double() / regions[m, j].double().norm()
                    for j in range(regions.shape[1]) if region_mask[m, j]]
            to_region = sum(max(float(t @ g) for g in regs) for t in tokens) / len(tokens)
            to_token = sum(max(float(t @ g) for t in tokens) for g in regs) / len(regs)
            out[n, m] = 0.5 * to_region + 0.5 * to_token
    return out


def test_matches_brute_force_with_padding_on_both_sides():
    text, text_mask, regions, region_mask = _inputs()
    assert not text_mask.all() and not region_mask.all()
    expected = _brute(text, text_mask, regions, region_mask)
    torch.testing.assert_close(late_scores(text, text_mask, regions, region_mask).double(), expected,
                               atol=1e-5, rtol=0)


def test_one_region_images_and_default_mask():
    text, text_mask, regions, _ = _inputs(r=1, seed=1)
    expected = _brute(text, text_mask, regions, torch.ones(regions.shape[:2], dtype=torch.bool))
    torch.testing.assert_close(late_scores(text, text_mask, regions).double(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_equals_unchunked(chunk):
    args = _inputs(seed=2)
    torch.testing.assert_close(late_scores(*args, chunk=chunk), late_scores(*args), atol=1e-6, rtol=0)


def test_padding_values_change_nothing():  # huge text padding, NaN region padding
    text, text_mask, regions, region_mask = _inputs(seed=3)
    noisy_text = torch.where(text_mask[..., None], text, torch.full_like(text, 1e30))
    noisy_regions = torch.where(region_mask[..., None], regions, torch.full_like(regions, float("nan")))
    torch.testing.assert_close(late_scores(noisy_text, text_mask, noisy_regions, region_mask),
                               late_scores(text, text_mask, regions, region_mask))


@pytest.mark.parametrize("k", [1, 3, None])
@pytest.mark.parametrize("chunk", [2, 3, 256])
def test_rank_late_is_the_sorted_score_matrix(k, chunk):
    args = _inputs(n=7, m=9, seed=4)
    full = late_scores(*args)
    order = full.argsort(dim=1, descending=True)[:, :k]
    scores, indices = rank_late(*args, k=k, chunk=chunk)
    assert scores.shape == indices.shape == (7, 9 if k is None else k)
    torch.testing.assert_close(indices, order)
    torch.testing.assert_close(scores, full.gather(1, order))


@pytest.mark.parametrize("change, message", [
    (lambda t, tm, r, rm: (t[0], tm, r, rm), "text must be"),
    (lambda t, tm, r, rm: (t, tm, r[..., :-1], rm), "dimension"),
    (lambda t, tm, r, rm: (t, tm[:, :-1], r, rm), "text_mask must be"),
    (lambda t, tm, r, rm: (t, tm.float(), r, rm), "text_mask must be"),
    (lambda t, tm, r, rm: (t, tm, r, rm[:-1]), "region_mask must be"),
    (lambda t, tm, r, rm: (t, torch.cat([tm[:1], tm[1:2] & False, tm[2:]]), r, rm), "caption 1 has no valid"),
    (lambda t, tm, r, rm: (t, tm, r, torch.cat([rm[:2], rm[2:3] & False, rm[3:]])), "image 2 has no valid"),
])
def test_errors(change, message):
    args = change(*_inputs())
    with pytest.raises(ValueError, match=message):
        late_scores(*args)
    with pytest.raises(ValueError, match=message):
        rank_late(*args)


def test_bad_k_and_chunk():
    args = _inputs()
    for k in (0, 8):
        with pytest.raises(ValueError, match="k must be"):
            rank_late(*args, k=k)
    with pytest.raises(ValueError, match="chunk must be"):
        late_scores(*args, chunk=0)
