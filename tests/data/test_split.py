"""The by-group split: deterministic across runs and machines, about 70/10/20."""

from collections import Counter

import pytest

from optical.data import split_of


def test_split_of_is_fixed():
    """Hard-coded values: any change to the hash, seed or cut points shows up here."""
    got = {key: split_of(key) for key in ["A frog", "A house", "caption 0", "caption 2", "caption 4", "caption 9"]}
    assert got == {"A frog": "train", "A house": "test", "caption 0": "train", "caption 2": "test",
                   "caption 4": "val", "caption 9": "val"}


def test_split_fractions():
    counts = Counter(split_of(f"caption {i}") for i in range(20000))
    assert counts["train"] / 20000 == pytest.approx(0.7, abs=0.015)
    assert counts["val"] / 20000 == pytest.approx(0.1, abs=0.01)
    assert counts["test"] / 20000 == pytest.approx(0.2, abs=0.015)


def test_seed_changes_the_split():
    keys = [f"caption {i}" for i in range(200)]
    assert [split_of(k) for k in keys] == [split_of(k, seed=0) for k in keys]
    assert [split_of(k) for k in keys] != [split_of(k, seed=1) for k in keys]
