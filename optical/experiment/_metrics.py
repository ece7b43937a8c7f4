"""From per-query ranks to ``metrics.json``: recalls with CIs, disparity, paired differences, the verdict."""

from __future__ import annotations

import numpy as np

from optical.data import cc100_size_gib, resource_group
from optical.evaluate import bootstrap_ci, disparity, disparity_bootstrap, paired_bootstrap_diff, retrieval_metrics
from optical.experiment._methods import METHODS, VERDICT_METHOD, comparisons

RankPair = tuple[np.ndarray, np.ndarray]  # (t2i ranks (Q,), i2t ranks (I',))
COMPARISONS = tuple(comparisons())  # (method, baseline) pairs of the method registry


def summarize(ranks: dict[str, dict[str, RankPair]], n_boot: int = 1000, seed: int = 0) -> dict:
    """``ranks[method][language]`` -> the metrics.json body (JSON-ready)."""
    languages = sorted({lang for by_lang in ranks.values() for lang in by_lang}, key=_language_order)
    results = {
        method: {
            lang: {
                "metrics": retrieval_metrics(t2i, i2t),
                "ci": {k: list(v) for k, v in bootstrap_ci(t2i, i2t, n_boot=n_boot, seed=seed).items()},
                "n_t2i": int(len(t2i)),
                "n_i2t": int(len(i2t)),
            }
            for lang, (t2i, i2t) in by_lang.items()
        }
        for method, by_lang in ranks.items()
    }
    mr = {m: {lang: r["metrics"]["mR"] for lang, r in by_lang.items()} for m, by_lang in results.items()}
    paired: dict[str, dict] = {}
    disparity_diff: dict[str, dict] = {}
    for a, b in COMPARISONS:
        if a in ranks and b in ranks:
            common = [lang for lang in languages if lang in ranks[a] and lang in ranks[b]]
            paired[f"{a} - {b}"] = {
                lang: paired_bootstrap_diff(*ranks[a][lang], *ranks[b][lang], n_boot=n_boot, seed=seed)
                for lang in common
            }
            disparity_diff[f"{a} - {b}"] = disparity_bootstrap(
                {lang: ranks[a][lang] for lang in common},
                {lang: ranks[b][lang] for lang in common},
                n_boot=n_boot,
                seed=seed,
            )
    return {
        "languages": languages,
        "methods": list(ranks),
        "resource": {lang: {"group": resource_group(lang), "cc100_gib": cc100_size_gib(lang)} for lang in languages},
        "results": results,
        "disparity": {m: disparity(by_lang) for m, by_lang in mr.items() if len(by_lang) > 2},
        "paired": paired,
        "disparity_difference": disparity_diff,
        "verdict": verdict(mr, disparity_diff),
    }


def verdict(mr: dict[str, dict[str, float]], disparity_diff: dict[str, dict], method: str = VERDICT_METHOD) -> str:
    """One sentence answering the research question from the numbers (``method`` vs its first baseline present)."""
    for baseline in METHODS[method].baselines:
        key = f"{method} - {baseline}"
        if key not in disparity_diff:
            continue
        gap = disparity_diff[key].get("diff", {}).get("high_minus_low")
        std = disparity_diff[key].get("diff", {}).get("std")
        if not gap or gap.get("diff") is None:
            continue
        lo, hi = gap["lo"], gap["hi"]
        mean_gain = np.mean([mr[method][lang] - mr[baseline][lang] for lang in mr[method] if lang != "en"])
        if hi < 0:
            answer = "Yes"
        elif lo > 0:
            answer = "No, it widens it"
        else:
            answer = "Not conclusively"
        std_text = f"; the std across languages changes by {std['diff']:+.1f} [{std['lo']:+.1f}, {std['hi']:+.1f}]" if std else ""
        return (
            f"{answer}: against {baseline}, OPTICAL changes the high-minus-low-resource mR gap by "
            f"{gap['diff']:+.1f} points (95% CI {lo:+.1f} to {hi:+.1f}){std_text}, "
            f"with a mean mR change of {mean_gain:+.1f} over the non-English languages."
        )
    return f"No verdict yet: needs the {method} method and a baseline with high- and low-resource languages."


def _language_order(lang: str) -> tuple:
    """English first, then by CC-100 size (largest first), unseen languages last."""
    size = cc100_size_gib(lang)
    return (lang != "en", size is None, -(size or 0.0), lang)
