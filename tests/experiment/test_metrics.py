"""metrics.json from ranks: hand-computed recalls, paired differences, the verdict and the report tables."""

import numpy as np

from optical.experiment import format_report, headline_table, recall_table, summarize, verdict


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
    body = summarize(ranks, n_boot=200)
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


def test_verdict_without_optical():
    assert verdict({"mse": {"de": 1.0}}, {}).startswith("No verdict yet")
