"""Bootstrap by image group versus by query, shared draws across languages, seeds, and the std's interval."""

import numpy as np
import pytest

from optical.evaluate import (
    bootstrap_ci,
    disparity_bootstrap,
    disparity_stats,
    paired_bootstrap_diff,
    percentile_interval,
    query_weights,
    resampled_metrics,
    seed_weights,
)


def clustered(n_groups=30, per_group=5, seed=0):
    """Queries duplicated within groups: every query of a group has its group's outcome (rank 0 or 20)."""
    outcome = np.where(np.random.default_rng(seed).random(n_groups) < 0.5, 0, 20)
    ids = np.repeat(np.arange(n_groups), per_group)
    return (outcome[ids], outcome[ids]), (ids, ids)


def width(ci, key="mR"):
    lo, hi = ci[key]
    return hi - lo


def test_group_resampling_is_wider_when_queries_repeat_within_groups():
    ranks, groups = clustered()
    per_query = bootstrap_ci(*ranks, n_boot=2000, seed=0)
    per_group = bootstrap_ci(*ranks, n_boot=2000, seed=0, image_groups=groups)
    # 150 queries but only 30 independent outcomes: the group interval is about sqrt(5) x wider, and more since
    # both directions move together in each draw
    assert width(per_group) > 2.0 * width(per_query)
    assert width(per_group, "t2i_R@1") > 1.8 * width(per_query, "t2i_R@1")


def test_singleton_groups_match_per_query_width():
    rng = np.random.default_rng(1)
    t2i, i2t = rng.geometric(0.25, 300) - 1, rng.geometric(0.25, 300) - 1
    ids = np.arange(300)
    per_query = bootstrap_ci(t2i, i2t, n_boot=2000, seed=0)
    per_group = bootstrap_ci(t2i, i2t, n_boot=2000, seed=0, image_groups=(ids, rng.permutation(ids)))
    assert width(per_group, "t2i_R@1") == pytest.approx(width(per_query, "t2i_R@1"), rel=0.15)


def test_grouped_paired_identical_is_zero_and_seeded():
    ranks, groups = clustered(seed=2)
    same = paired_bootstrap_diff(*ranks, *ranks, n_boot=300, image_groups=groups)
    assert same["diff"] == same["lo"] == same["hi"] == 0.0 and same["p_value"] == 1.0
    a = bootstrap_ci(*ranks, n_boot=300, seed=3, image_groups=groups)
    assert a == bootstrap_ci(*ranks, n_boot=300, seed=3, image_groups=groups)
    assert a != bootstrap_ci(*ranks, n_boot=300, seed=4, image_groups=groups)


def test_one_draw_stream_for_every_language_and_direction():
    ids = np.arange(40)
    counts = {"de": (40, 40), "ga": (40, 40)}
    groups = {"de": (ids, ids), "ga": (ids[::-1], ids[::-1])}
    grouped = {lang: tuple(w.dense() for w in pair) for lang, pair in query_weights(counts, groups, 50, 0).items()}
    np.testing.assert_array_equal(grouped["de"][0], grouped["de"][1])  # both directions share the draw
    np.testing.assert_array_equal(grouped["de"][0], grouped["ga"][0][:, ::-1])  # the same images for every language
    assert (grouped["de"][0].sum(axis=1) == 40).all()
    per_query = {lang: tuple(w.dense() for w in pair) for lang, pair in query_weights(counts, None, 50, 0).items()}
    assert not np.array_equal(per_query["de"][0], per_query["ga"][0])
    assert not np.array_equal(per_query["de"][0], per_query["de"][1])


def test_a_language_missing_some_groups_keeps_the_shared_counts():
    counts = {"de": (4, 4), "zu": (2, 2)}
    groups = {"de": (np.arange(4), np.arange(4)), "zu": (np.array([1, 3]), np.array([3, 1]))}
    w = {lang: tuple(x.dense() for x in pair) for lang, pair in query_weights(counts, groups, 20, 0).items()}
    np.testing.assert_array_equal(w["zu"][0], w["de"][0][:, [1, 3]])
    np.testing.assert_array_equal(w["zu"][1], w["de"][0][:, [3, 1]])
    with pytest.raises(ValueError, match="shapes"):
        query_weights({"de": (5, 4)}, groups, n_boot=2, seed=0)


def test_seed_weights():
    np.testing.assert_array_equal(seed_weights(1, 5, 0), np.ones((5, 1)))
    w = seed_weights(3, 400, 0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert set(np.unique(w * 3)) <= {0.0, 1.0, 2.0, 3.0} and (w == 1.0).any()


def test_seed_resampling_adds_the_training_variance():
    ids = np.arange(200)
    rng = np.random.default_rng(0)
    base = rng.random(200)
    stable = [(np.where(base < 0.5, 0, 20),) * 2] * 3
    varying = [(np.where(base < p, 0, 20),) * 2 for p in (0.3, 0.5, 0.7)]
    weights = query_weights({"de": (200, 200)}, {"de": (ids, ids)}, n_boot=1000, seed=0)["de"]
    seed_w = seed_weights(3, 1000, 0)
    (p_stable, d_stable), (p_varying, d_varying) = (resampled_metrics(s, weights, seed_w) for s in (stable, varying))
    assert p_varying["mR"] == pytest.approx(p_stable["mR"], abs=3.0)
    lo_s, hi_s = percentile_interval(d_stable["mR"], 0.95)
    lo_v, hi_v = percentile_interval(d_varying["mR"], 0.95)
    assert hi_v - lo_v > 2.0 * (hi_s - lo_s)


GROUPS = {f"l{i}": "high" if i < 4 else "low" for i in range(8)}
SIZES = {lang: None for lang in GROUPS}


def test_std_interval_contains_its_point_where_the_percentile_interval_does_not():
    # eight languages with nearly equal mR (29-31 hits of 60) on different queries: the draws' spread across
    # languages is mostly sampling noise, so it sits above the point
    n = 60
    ids = np.arange(n)
    rng = np.random.default_rng(0)
    hits = {lang: rng.permutation(np.arange(n) < 29 + i % 3) for i, lang in enumerate(GROUPS)}
    ranks = {lang: (np.where(hits[lang], 0, 20),) * 2 for lang in GROUPS}
    groups = {lang: (ids, ids) for lang in GROUPS}
    result = disparity_bootstrap(ranks, groups=GROUPS, sizes=SIZES, image_groups=groups, n_boot=1000)
    std = result["a"]["std"]
    assert std["lo"] <= std["value"] <= std["hi"] and std["method"].startswith("bias-shifted")
    assert result["a"]["mean"]["method"] == "percentile"
    # the plain percentile interval of the same draws lies above the point
    weights = query_weights({lang: (n, n) for lang in GROUPS}, groups, n_boot=1000, seed=0)
    draws = np.stack([resampled_metrics([ranks[lang]], weights[lang])[1]["mR"] for lang in GROUPS], axis=1)
    lo, _ = percentile_interval(disparity_stats(draws, list(GROUPS.values()), list(SIZES.values()))["std"], 0.95)
    assert lo > std["value"]


def test_draw_weights_sum_per_unit_as_the_dense_matrix_would():
    rng = np.random.default_rng(3)
    counts = {"de": (300, 40), "zu": (120, 25)}
    groups = {"de": (rng.integers(0, 30, 300), rng.integers(0, 30, 40)), "zu": (rng.integers(5, 30, 120),
                                                                               rng.integers(0, 30, 25))}
    for scheme in (groups, None):
        for pair in query_weights(counts, scheme, n_boot=40, seed=1).values():
            for w in pair:
                values = rng.random((w.n_queries, 3))
                np.testing.assert_allclose(w.weighted_sum(values), w.dense() @ values)
                np.testing.assert_allclose(w.total(), w.dense().sum(axis=1, keepdims=True))
                assert w.dense().shape == (40, w.n_queries)
