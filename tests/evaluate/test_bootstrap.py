import json

import numpy as np
import pytest

from optical.evaluate import (
    bootstrap_ci,
    disparity,
    disparity_bootstrap,
    paired_bootstrap_diff,
    retrieval_metrics,
)


def random_ranks(seed, n_t2i=200, n_i2t=150, scale=4.0):
    rng = np.random.RandomState(seed)
    return rng.geometric(1 / scale, size=n_t2i) - 1, rng.geometric(1 / scale, size=n_i2t) - 1


def test_ci_deterministic_and_seeded():
    t2i, i2t = random_ranks(0)
    assert bootstrap_ci(t2i, i2t, n_boot=200, seed=5) == bootstrap_ci(t2i, i2t, n_boot=200, seed=5)
    assert bootstrap_ci(t2i, i2t, n_boot=200, seed=5) != bootstrap_ci(t2i, i2t, n_boot=200, seed=6)


def test_ci_contains_point_estimate():
    t2i, i2t = random_ranks(1)
    point = retrieval_metrics(t2i, i2t)
    ci = bootstrap_ci(t2i, i2t)
    assert set(ci) == set(point)
    for key, (lo, hi) in ci.items():
        assert lo <= point[key] <= hi
        assert hi - lo > 0


def test_ci_width_matches_binomial():
    # R@1 of n queries is a proportion: the bootstrap CI should be close to p +- 1.96 sqrt(p (1 - p) / n)
    ranks = np.tile([0, 1], 200)  # n = 400, p = 0.5
    lo, hi = bootstrap_ci(ranks, ranks, n_boot=2000, seed=0)["t2i_R@1"]
    half_width = 100 * 1.96 * np.sqrt(0.25 / 400)
    assert (hi - lo) / 2 == pytest.approx(half_width, rel=0.15)


def test_all_correct_is_degenerate():
    ci = bootstrap_ci(np.zeros(30, dtype=int), np.zeros(20, dtype=int), n_boot=100)
    assert all(interval == (100.0, 100.0) for interval in ci.values())


def test_paired_identical_inputs():
    t2i, i2t = random_ranks(2)
    result = paired_bootstrap_diff(t2i, i2t, t2i, i2t)
    assert result["diff"] == result["lo"] == result["hi"] == 0.0
    assert result["p_value"] == 1.0
    json.dumps(result, allow_nan=False)


def test_paired_detects_a_clear_improvement():
    t2i, i2t = random_ranks(3, scale=8.0)
    better_t2i, better_i2t = t2i // 4, i2t // 4  # every query ranks at least as well
    result = paired_bootstrap_diff(better_t2i, better_i2t, t2i, i2t, n_boot=500)
    expected = retrieval_metrics(better_t2i, better_i2t)["mR"] - retrieval_metrics(t2i, i2t)["mR"]
    assert result["diff"] == pytest.approx(expected)
    assert 0 < result["lo"] <= result["diff"] <= result["hi"]
    assert result["p_value"] < 0.01
    r1 = paired_bootstrap_diff(better_t2i, better_i2t, t2i, i2t, n_boot=500, metric="t2i_R@1")
    assert r1["metric"] == "t2i_R@1" and r1["diff"] > 0


def test_paired_needs_same_queries():
    t2i, i2t = random_ranks(4)
    with pytest.raises(ValueError, match="same queries"):
        paired_bootstrap_diff(t2i, i2t, t2i[:-1], i2t)


GROUPS = {"de": "high", "fr": "high", "ga": "low", "zu": "unseen"}
SIZES = {"de": 66.6, "fr": 56.8, "ga": 0.5, "zu": None}


def ranks_by_language(scale_by_language, seed=0):
    return {
        language: random_ranks(seed + i, n_t2i=120, n_i2t=100, scale=scale)
        for i, (language, scale) in enumerate(scale_by_language.items())
    }


def test_disparity_bootstrap_one_method():
    ranks = ranks_by_language({"en": 1.5, "de": 2.0, "fr": 3.0, "ga": 6.0, "zu": 12.0})
    result = disparity_bootstrap(ranks, groups=GROUPS, sizes=SIZES, n_boot=300)
    assert result["languages"] == ["de", "fr", "ga", "zu"]
    point = disparity({lang: retrieval_metrics(*r)["mR"] for lang, r in ranks.items()}, groups=GROUPS, sizes=SIZES)
    point.update({f"mean_{group}": mean for group, mean in point["group_means"].items()})
    for stat, summary in result["a"].items():
        assert summary["value"] == pytest.approx(point[stat])
        assert summary["lo"] <= summary["value"] <= summary["hi"]
    assert "b" not in result and "diff" not in result
    json.dumps(result, allow_nan=False)


def test_disparity_bootstrap_order_independent_and_paired():
    ranks = ranks_by_language({"de": 2.0, "fr": 3.0, "ga": 6.0, "zu": 12.0})
    shuffled = {lang: ranks[lang] for lang in ["zu", "de", "ga", "fr"]}
    a = disparity_bootstrap(ranks, groups=GROUPS, sizes=SIZES, n_boot=200)
    b = disparity_bootstrap(shuffled, groups=GROUPS, sizes=SIZES, n_boot=200)
    for stat, summary in a["a"].items():
        assert summary == pytest.approx(b["a"][stat])  # same draws; only the summation order differs

    same = disparity_bootstrap(ranks, ranks, groups=GROUPS, sizes=SIZES, n_boot=200)
    for summary in same["diff"].values():
        assert summary["diff"] == summary["lo"] == summary["hi"] == 0.0 and summary["p_value"] == 1.0


def test_disparity_bootstrap_detects_a_more_even_method():
    uneven = ranks_by_language({"de": 1.5, "fr": 2.0, "ga": 10.0, "zu": 30.0})
    even = ranks_by_language({"de": 1.5, "fr": 2.0, "ga": 2.5, "zu": 3.0})
    result = disparity_bootstrap(even, uneven, groups=GROUPS, sizes=SIZES, n_boot=300)
    assert result["diff"]["std"]["hi"] < 0  # A (even) has a smaller spread than B, confidently
    assert result["diff"]["high_minus_unseen"]["hi"] < 0
