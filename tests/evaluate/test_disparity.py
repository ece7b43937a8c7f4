import json
import math

import numpy as np
import pytest

from optical.evaluate import disparity, disparity_stats, log_size_fit

# Four non-English languages plus English (excluded by default).
MR = {"en": 90.0, "de": 60.0, "fr": 50.0, "ga": 30.0, "zu": 20.0}
GROUPS = {"en": "high", "de": "high", "fr": "high", "ga": "low", "zu": "unseen"}
SIZES = {"en": 300.8, "de": 100.0, "fr": 10.0, "ga": 1.0, "zu": None}


def test_hand_computed_figures():
    result = disparity(MR, groups=GROUPS, sizes=SIZES)
    assert result["languages"] == ["de", "fr", "ga", "zu"] and result["n_languages"] == 4
    assert result["mean"] == pytest.approx(40.0)
    assert result["std"] == pytest.approx(math.sqrt((20**2 + 10**2 + 10**2 + 20**2) / 4))  # population std
    assert result["worst"] == {"language": "zu", "mR": 20.0}
    assert result["best"] == {"language": "de", "mR": 60.0}
    assert result["max_gap"] == pytest.approx(40.0)
    assert result["group_means"] == pytest.approx({"high": 55.0, "low": 30.0, "unseen": 20.0})
    assert result["high_minus_low"] == pytest.approx(25.0)
    assert result["high_minus_unseen"] == pytest.approx(35.0)
    # log10 sizes 2, 1, 0 against mR 60, 50, 30: sxy = 30, sxx = 2, syy = 4200 / 9
    assert result["n_sized"] == 3
    assert result["slope_log_size"] == pytest.approx(15.0)
    assert result["pearson_r_log_size"] == pytest.approx(30 / math.sqrt(2 * 4200 / 9))
    assert result["resource_groups"] == {"de": "high", "fr": "high", "ga": "low", "zu": "unseen"}
    json.dumps(result, allow_nan=False)


def test_english_included_on_request():
    result = disparity(MR, exclude=(), groups=GROUPS, sizes=SIZES)
    assert result["n_languages"] == 5 and result["best"] == {"language": "en", "mR": 90.0}


def test_exact_line_has_unit_correlation():
    sizes = {"a": 1.0, "b": 10.0, "c": 1000.0}
    mr = {lang: 10.0 + 7.0 * np.log10(size) for lang, size in sizes.items()}
    result = disparity(mr, groups={lang: "high" for lang in sizes}, sizes=sizes)
    assert result["slope_log_size"] == pytest.approx(7.0)
    assert result["pearson_r_log_size"] == pytest.approx(1.0)


def test_undefined_figures_are_none():
    mr = {"de": 60.0, "zu": 20.0}
    result = disparity(mr, groups={"de": "high", "zu": "unseen"}, sizes={"de": 66.6, "zu": None})
    assert result["high_minus_low"] is None
    assert result["high_minus_unseen"] == pytest.approx(40.0)
    assert result["slope_log_size"] is None and result["pearson_r_log_size"] is None
    assert result["group_means"] == pytest.approx({"high": 60.0, "unseen": 20.0})
    json.dumps(result, allow_nan=False)


def test_vectorised_rows_match_single_calls():
    rng = np.random.RandomState(0)
    langs = ["de", "fr", "ga", "zu"]
    rows = rng.uniform(0, 100, size=(6, 4))
    stats = disparity_stats(rows, [GROUPS[lang] for lang in langs], [SIZES[lang] for lang in langs])
    for row, values in zip(rows, zip(*(stats[name] for name in ("std", "slope_log_size", "high_minus_low")))):
        single = disparity(dict(zip(langs, row)), groups=GROUPS, sizes=SIZES)
        assert values == pytest.approx((single["std"], single["slope_log_size"], single["high_minus_low"]))


def test_bad_overrides():
    with pytest.raises(ValueError, match="missing"):
        disparity(MR, groups={"de": "high"}, sizes=SIZES)
    with pytest.raises(ValueError, match="resource groups"):
        disparity(MR, groups={**GROUPS, "ga": "medium"}, sizes=SIZES)
    with pytest.raises(ValueError, match="positive"):
        disparity(MR, groups=GROUPS, sizes={**SIZES, "ga": 0.0})
    with pytest.raises(ValueError, match="no language left"):
        disparity({"en": 90.0}, groups=GROUPS, sizes=SIZES)


def test_log_size_fit_is_least_squares_per_row():
    rng = np.random.default_rng(0)
    sizes = [0.5, 3.0, 40.0, 250.0]
    mr = rng.uniform(0, 100, size=(3, 4))
    fit = log_size_fit(mr, sizes)
    for row, slope, intercept, r in zip(mr, fit["slope"], fit["intercept"], fit["pearson_r"]):
        expected_slope, expected_intercept = np.polyfit(np.log10(sizes), row, 1)
        assert slope == pytest.approx(expected_slope) and intercept == pytest.approx(expected_intercept)
        assert r == pytest.approx(np.corrcoef(np.log10(sizes), row)[0, 1])
    flat = log_size_fit(mr[:, :2], [2.0, 2.0])  # one distinct size: no line
    assert np.isnan(flat["slope"]).all() and np.isnan(flat["intercept"]).all()
