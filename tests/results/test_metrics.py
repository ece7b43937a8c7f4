"""metrics.json from ranks: hand-computed recalls, paired differences, the verdict and the report tables."""

import json

import numpy as np
import pytest

from optical.results import format_report, headline_table, recall_table, summarize_seed, summarize_seeds, verdict


def _ranks(hit_rate: float, n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ranks where a fraction ``hit_rate`` of queries hit at rank 0 and the rest at rank 20 (a miss at k=10)."""
    rng = np.random.default_rng(seed)
    t2i = np.where(rng.random(n) < hit_rate, 0, 20)
    i2t = np.where(rng.random(n) < hit_rate, 0, 20)
    return t2i, i2t


def test_summarize_hand_case_and_tables():
    ranks = {
        "zero-shot": {"en": (np.array([0, 0, 1, 20]), np.array([0, 5, 20])), "de": _ranks(0.8), "ga": _ranks(0.2)},
        "mse": {"en": (np.array([0, 0, 1, 20]), np.array([0, 5, 20])), "de": _ranks(0.85, seed=1), "ga": _ranks(0.4, seed=1)},
    }
    ranks["optical"] = {"en": ranks["mse"]["en"], "de": _ranks(0.85, seed=2), "ga": _ranks(0.7, seed=2)}
    body = summarize_seed(ranks, n_boot=200)
    en = body["results"]["zero-shot"]["en"]["metrics"]
    # t2i ranks 0,0,1,20: R@1 = 50, R@5 = R@10 = 75; i2t ranks 0,5,20: R@1 = 33.3, R@5 = 33.3, R@10 = 66.7
    assert en["t2i_R@1"] == 50.0 and en["t2i_R@5"] == 75.0 and en["t2i_R@10"] == 75.0
    assert abs(en["i2t_R@10"] - 200 / 3) < 1e-9
    assert abs(en["mR"] - (50 + 75 + 75 + 100 / 3 + 100 / 3 + 200 / 3) / 6) < 1e-9
    lo, hi = body["results"]["zero-shot"]["de"]["ci"]["mR"]
    assert lo <= body["results"]["zero-shot"]["de"]["metrics"]["mR"] <= hi
    assert body["languages"][0] == "en" and body["languages"].index("de") < body["languages"].index("ga")
    assert set(body["paired"]) == {"optical - mse", "optical - zero-shot", "mse - zero-shot"}
    diff = body["paired"]["optical - zero-shot"]["ga"]
    assert diff["diff"] > 0
    # optical narrows the de-ga gap a lot: the verdict says so
    assert body["verdict"].startswith(("Yes", "Not conclusively"))
    wide = headline_table(body)
    assert list(wide.index) == body["languages"] and "group" in wide.columns
    assert len(recall_table(body)) == 9
    text = format_report(body)
    assert "Disparity" in text and body["verdict"] in text


def test_report_says_whether_the_students_also_read_english():
    from optical.config import ExperimentConfig, english_term

    body = summarize_seed({m: {lang: _ranks(0.5, seed=i) for i, lang in enumerate(("en", "de"))}
                      for m in ("zero-shot", "mse", "optical")}, n_boot=20)
    assert "English term" not in format_report(body) and "foreign only" not in format_report(body)  # unknown
    config = ExperimentConfig().to_dict()  # a run's config.json
    assert english_term(config) == "all"
    text = format_report({**body, "english_term": english_term(config)})
    assert "students also read English (English term)" in text and "foreign only" not in text
    config["ot"]["english"] = False
    assert english_term(config) == "none"
    text = format_report({**body, "english_term": "none"})
    assert "foreign only" in text and "students also read English" not in text
    # a run without students has no English term to speak of
    assert english_term({**config, "methods": ["zero-shot", "translate-test"]}) is None
    # older configs: ot.mse_english gave the MSE terms alone an English term; neither key: before the recipe
    old = ExperimentConfig().to_dict()
    del old["ot"]["english"]
    assert english_term(old) == "none"
    old["ot"]["mse_english"] = True
    assert english_term(old) == "mse"
    assert english_term({**old, "methods": ["zero-shot", "mse"]}) == "all"  # mse alone: every student read English
    assert "the token losses read the foreign side only" in format_report({**body, "english_term": "mse"})
    old["ot"]["mse_english"] = False
    assert english_term(old) == "none"


def test_verdict_without_a_compared_pair():
    assert verdict({}).startswith("No verdict yet")
    ranks = {"mse": {lang: _exact(0.5, lang) for lang in HIGH + LOW}}
    assert summarize_seed(ranks, GROUPS, n_boot=50)["verdict"].startswith("No verdict yet")


N = 300
HIGH, LOW = ("de", "fr"), ("ga", "km")  # resource groups of optical.data
IDS = np.arange(N)
GROUPS = {lang: (IDS, IDS) for lang in HIGH + LOW}


def _exact(hit_rate: float, lang: str, salt: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """N queries per direction, exactly ``round(hit_rate * N)`` of them hits (rank 0), the rest misses (rank 20)."""
    rng = np.random.default_rng([sum(map(ord, lang)), salt])
    hits = rng.permutation(np.arange(N) < round(hit_rate * N))
    return np.where(hits, 0, 20), np.where(rng.permutation(hits), 0, 20)


def _study(high: float, low: float) -> dict:
    """mse at 0.8 (high) / 0.2 (low); optical at the given hit rates, on the same queries."""
    baseline = {lang: _exact(0.8 if lang in HIGH else 0.2, lang) for lang in HIGH + LOW}
    optical = {lang: _exact(high if lang in HIGH else low, lang, salt=1) for lang in HIGH + LOW}
    return summarize_seed({"mse": baseline, "optical": optical}, GROUPS, n_boot=400)


@pytest.mark.parametrize(
    ("high", "low", "answer"),
    [
        (0.8, 0.5, "Yes"),  # the low group gains, the high group holds
        (0.5, 0.2, "Only by levelling down"),  # the high group falls, the low group does not gain
        (0.4, 0.15, "Only by levelling down"),  # both fall, the high group more
        (0.9, 0.2, "No, it widens it"),
        (0.8, 0.2, "Not conclusively"),  # other queries hit, at the same rates
    ],
)
def test_verdict_outcomes(high, low, answer):
    body = _study(high, low)
    sentence = body["verdict"]
    assert sentence.startswith(answer + ":"), sentence
    diff = body["disparity_difference"]["optical - mse"]["diff"]
    assert diff["mean_high"]["diff"] == pytest.approx(100 * (high - 0.8))  # a hit counts at every k: mR = hit rate
    assert diff["mean_low"]["diff"] == pytest.approx(100 * (low - 0.2))
    assert "high-resource group's mean mR changes by" in sentence and "low-resource group's by" in sentence
    assert f"{diff['mean_low']['diff']:+.1f}" in sentence and f"{diff['mean_high']['diff']:+.1f}" in sentence


def test_verdict_takes_the_compared_pairs():
    body = _study(0.8, 0.5)
    swapped = verdict(body["disparity_difference"], comparisons=[("optical", "mse")])
    assert swapped == body["verdict"]
    assert verdict(body["disparity_difference"], comparisons=[("optical", "zero-shot")]).startswith("No verdict")


def test_group_bootstrap_is_the_default_with_groups_and_recorded():
    ranks = {"mse": {lang: _exact(0.5, lang) for lang in HIGH + LOW}}
    grouped, per_query = summarize_seed(ranks, GROUPS, n_boot=100), summarize_seed(ranks, n_boot=100)
    assert grouped["bootstrap"]["unit"] == "image group" and per_query["bootstrap"]["unit"] == "query"
    assert grouped["n_seeds"] == 1 and not grouped["bootstrap"]["seeds_resampled"]
    assert grouped["results"]["mse"]["de"]["ci"] != per_query["results"]["mse"]["de"]["ci"]
    json.dumps(grouped, allow_nan=False)


def test_study_of_three_seeds():
    stable = {lang: _exact(0.5, lang) for lang in HIGH + LOW}
    seeds = []
    for salt, rate in enumerate((0.35, 0.5, 0.65)):  # "varying" depends on the training seed, "stable" does not
        varying = {lang: _exact(rate, lang, salt) for lang in HIGH + LOW}
        seeds.append(({"stable": stable, "varying": varying, "mse": stable, "optical": varying}, GROUPS))
    body = summarize_seeds(seeds, n_boot=500, seed=1)
    assert body["n_seeds"] == 3 and body["bootstrap"]["seeds_resampled"]
    assert set(body) >= set(summarize_seed(*seeds[0], n_boot=50))  # the same JSON shape, plus n_seeds
    for lang in HIGH + LOW:
        stable_r, varying_r = body["results"]["stable"][lang], body["results"]["varying"][lang]
        assert varying_r["metrics"]["mR"] == pytest.approx(stable_r["metrics"]["mR"])  # mean over seeds
        assert varying_r["mR_by_seed"] == pytest.approx([35.0, 50.0, 65.0])
        (lo_s, hi_s), (lo_v, hi_v) = stable_r["ci"]["mR"], varying_r["ci"]["mR"]
        assert hi_v - lo_v > 1.5 * (hi_s - lo_s)
        paired = body["paired"]["optical - mse"][lang]
        assert paired["lo"] < 0 < paired["hi"] and paired["diff"] == pytest.approx(0.0, abs=1e-9)
    assert "optical - mse" in body["disparity_difference"] and body["verdict"].startswith("Not conclusively")
    json.dumps(body, allow_nan=False)


def test_one_seed_study_is_summarize_and_seeds_share_the_split():
    ranks = {"mse": {lang: _exact(0.5, lang) for lang in HIGH + LOW}}
    assert summarize_seeds([(ranks, GROUPS)], n_boot=100) == summarize_seed(ranks, GROUPS, n_boot=100)
    other = {lang: (IDS[::-1], IDS) for lang in GROUPS}
    with pytest.raises(ValueError, match="share the test split"):
        summarize_seeds([(ranks, GROUPS), (ranks, other)], n_boot=10)


@pytest.mark.parametrize("methods", [("zero-shot",), ("zero-shot", "mse")])
@pytest.mark.parametrize("languages", [("de",), ("de", "ga")])
def test_report_of_one_language_or_one_method_says_why_a_table_is_empty(methods, languages):
    body = summarize_seed({m: {lang: _ranks(0.5, seed=i) for i, lang in enumerate(("en", *languages))} for m in methods},
                     n_boot=50)
    text = format_report(body)
    assert "Empty DataFrame" not in text and "Columns: []" not in text
    assert text.count("none: the run has fewer than two non-English languages") == (len(languages) == 1)
    assert text.count("none: the run has no pair of compared methods") == 2 * (len(methods) == 1)
    assert "test querys" not in text and "resample the test queries" in text
