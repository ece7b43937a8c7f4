"""Padded sets of vectors and the region-grid pooling."""

import pytest
import torch

from optical.scoring import Padded, pool_grid


def test_stack_rows_cat_and_unpadded_round_trip():
    sets = [torch.randn(3, 2), torch.randn(1, 2), torch.randn(2, 2)]
    padded = Padded.stack(sets)
    assert padded.values.shape == (3, 3, 2) and padded.mask.sum(1).tolist() == [3, 1, 2]
    assert all(torch.equal(a, b) for a, b in zip(padded.unpadded(), sets))
    picked = padded.rows([1, 2])  # trimmed to the longest picked set
    assert picked.values.shape == (2, 2, 2) and torch.equal(picked.unpadded()[1], sets[2])
    both = Padded.cat([picked, padded])
    assert len(both) == 5 and both.values.shape[1] == 3 and torch.equal(both.unpadded()[4], sets[2])
    single = Padded.single(torch.randn(4, 2))
    assert single.values.shape == (4, 1, 2) and bool(single.mask.all())
    assert len(Padded.stack([], dim=5)) == 0
    with pytest.raises(ValueError, match="bool mask"):
        Padded(torch.zeros(2, 3, 4), torch.ones(2, 3))


def test_pool_grid_averages_cells_row_major():
    grid = torch.arange(16.0).reshape(1, 16, 1)  # a 4 x 4 grid, value = row * 4 + column
    pooled = pool_grid(grid, 2)
    assert pooled.shape == (1, 4, 1)
    assert pooled[0, :, 0].tolist() == [(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4, (8 + 9 + 12 + 13) / 4,
                                         (10 + 11 + 14 + 15) / 4]
    regions = torch.randn(3, 49, 5).half()
    assert pool_grid(regions, 7) is regions and pool_grid(regions, 9) is regions
    four = pool_grid(regions, 4)
    assert four.shape == (3, 16, 5) and four.dtype == torch.float16
    torch.testing.assert_close(pool_grid(regions.float(), 1)[:, 0], regions.float().mean(1))
    with pytest.raises(ValueError, match="square grid"):
        pool_grid(torch.zeros(1, 10, 2), 2)
    with pytest.raises(ValueError, match="side"):
        pool_grid(regions, 0)
