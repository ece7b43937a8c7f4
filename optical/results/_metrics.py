"""From per-query ranks to ``metrics.json``: recalls with CIs, disparity, paired differences, the verdict.

`summarize_seed` takes the ranks of one training seed (one run), `summarize_seeds` those of several runs that differ
only by seed (same JSON shape, intervals from resampling seeds, then image groups: see
`optical.evaluate.query_weights` and `seed_weights`). Ranks on disk are summarised by ``RankSource.summarize``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from optical.config import comparisons as registry_comparisons
from optical.data import cc100_size_gib, resource_group
from optical.evaluate import (
    GroupPair,
    RankPair,
    disparity,
    disparity_intervals,
    paired_summary,
    percentile_interval,
    query_weights,
    resampled_metrics,
    retrieval_metrics,
    seed_weights,
)

Ranks = Mapping[str, Mapping[str, RankPair]]  # ranks[method][language] = (t2i (Q,), i2t (I',))
Groups = Mapping[str, GroupPair]  # groups[language] = (t2i group ids (Q,), i2t group ids (I',))
COMPARISONS = tuple(registry_comparisons())  # the registry's (method, baseline) pairs at import, in its order
LEVEL = 0.95


def summarize_seed(
    ranks: Ranks,
    groups: Groups | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    comparisons: Sequence[tuple[str, str]] | None = None,
) -> dict:
    """``ranks[method][language]`` (and the queries' image ``groups``) -> the metrics.json body (JSON-ready).

    With ``groups`` every bootstrap draw resamples the test image groups once for both directions, every language
    and every method; without, it resamples queries (t2i and i2t apart, languages apart). ``comparisons``: the
    (A, B) pairs whose paired differences are reported; the verdict answers from the first one present.
    """
    return summarize_seeds([(ranks, groups)], n_boot=n_boot, seed=seed, comparisons=comparisons)


def summarize_seeds(
    studies: Sequence[tuple[Ranks, Groups | None]],
    n_boot: int = 1000,
    seed: int = 0,
    comparisons: Sequence[tuple[str, str]] | None = None,
) -> dict:
    """A study's runs (one ``(ranks, groups)`` per training seed, same test split) -> the metrics.json body.

    Figures are means over seeds; each draw resamples the seeds, then the image groups (one draw for every seed:
    the test split does not depend on the seed), so intervals carry training and test-set variance. Methods and
    languages are those every seed has. One seed gives `summarize_seed`. Adds ``n_seeds`` and ``bootstrap`` (the scheme).
    """
    comparisons = registry_comparisons() if comparisons is None else comparisons
    groups = _shared_groups(studies)
    methods = [m for m in studies[0][0] if all(m in ranks for ranks, _ in studies)]
    by_method = {m: [lang for lang in studies[0][0][m] if all(lang in r[m] for r, _ in studies)] for m in methods}
    languages = sorted({lang for langs in by_method.values() for lang in langs}, key=_language_order)
    counts = _query_counts(studies, by_method)
    weights = query_weights(counts, groups, n_boot, seed)
    seed_w = seed_weights(len(studies), n_boot, seed)
    resampled = {
        m: {lang: resampled_metrics([r[m][lang] for r, _ in studies], weights[lang], seed_w) for lang in langs}
        for m, langs in by_method.items()
    }
    results = {
        m: {
            lang: {
                "metrics": point,
                "ci": {key: list(percentile_interval(values, LEVEL)) for key, values in draws.items()},
                "n_t2i": counts[lang][0],
                "n_i2t": counts[lang][1],
                "mR_by_seed": [retrieval_metrics(*r[m][lang])["mR"] for r, _ in studies],
            }
            for lang, (point, draws) in by_lang.items()
        }
        for m, by_lang in resampled.items()
    }
    paired: dict[str, dict] = {}
    disparity_diff: dict[str, dict] = {}
    for a, b in comparisons:
        if a in resampled and b in resampled:
            common = [lang for lang in languages if lang in resampled[a] and lang in resampled[b]]
            paired[f"{a} - {b}"] = {
                lang: paired_summary(resampled[a][lang], resampled[b][lang], "mR", n_boot, LEVEL) for lang in common
            }
            mr_a, mr_b = ({lang: _mr(resampled[m][lang]) for lang in common} for m in (a, b))
            disparity_diff[f"{a} - {b}"] = disparity_intervals(mr_a, mr_b, level=LEVEL)
    mr = {m: {lang: r["metrics"]["mR"] for lang, r in by_lang.items()} for m, by_lang in results.items()}
    return {
        "languages": languages,
        "methods": methods,
        "n_seeds": len(studies),
        "bootstrap": {
            "n_boot": n_boot,
            "level": LEVEL,
            "unit": "query" if groups is None else "image group",
            "seeds_resampled": len(studies) > 1,
        },
        "resource": {lang: {"group": resource_group(lang), "cc100_gib": cc100_size_gib(lang)} for lang in languages},
        "results": results,
        "disparity": {m: disparity(by_lang) for m, by_lang in mr.items() if len(by_lang) > 2},
        # each method's disparity figures with their intervals ({figure: {value, lo, hi, method}}; sweeps plot them)
        "disparity_ci": {
            m: disparity_intervals({lang: _mr(resampled[m][lang]) for lang in langs}, level=LEVEL)["a"]
            for m, langs in by_method.items()
            if len(langs) > 2
        },
        "paired": paired,
        "disparity_difference": disparity_diff,
        "verdict": verdict(disparity_diff, comparisons),
    }


def _mr(resampled: tuple[dict, dict]) -> tuple[float, np.ndarray]:
    point, draws = resampled
    return point["mR"], draws["mR"]


def _shared_groups(studies: Sequence[tuple[Ranks, Groups | None]]) -> Groups | None:
    """The image groups of the study's test split; every seed must have the same."""
    if not studies:
        raise ValueError("a study needs at least one run")
    first = studies[0][1]
    for _, groups in studies[1:]:
        same = (groups is None) == (first is None) and (
            first is None
            or set(groups) == set(first)
            and all(np.array_equal(g, f) for lang in first for g, f in zip(groups[lang], first[lang]))
        )
        if not same:
            raise ValueError("the runs of a study must share the test split: their image groups differ")
    return first


def _query_counts(studies: Sequence[tuple[Ranks, Groups | None]], by_method: dict[str, list[str]]) -> dict:
    """(Q, I') per language; every method and seed must rank the same queries."""
    counts: dict[str, tuple[int, int]] = {}
    for ranks, _ in studies:
        for m, langs in by_method.items():
            for lang in langs:
                shape = (len(ranks[m][lang][0]), len(ranks[m][lang][1]))
                if counts.setdefault(lang, shape) != shape:
                    raise ValueError(f"{lang}: {m} ranks {shape} t2i and i2t queries, others {counts[lang]}")
    return counts


def verdict(disparity_diff: Mapping[str, dict], comparisons: Sequence[tuple[str, str]] | None = None) -> str:
    """One sentence answering the research question, from the first compared pair (A, B) with a high-minus-low gap.

    Changes are A - B with 95% paired-bootstrap CIs: of the gap between the high- and low-resource groups' mean
    mR, and of each group's mean mR. The rule:

    - the gap's CI lies above 0: "No, it widens it";
    - the gap's CI does not exclude 0: "Not conclusively";
    - the gap's CI lies below 0 (it narrows): "Yes" when the low group is not significantly worse (its change's
      CI is not below 0) and it is not the case that the high group is significantly worse (CI below 0) while
      the low group is not significantly better (CI not above 0); otherwise "Only by levelling down".

    The sentence names both groups' changes, the change of the std across languages and of the mean mR.
    """
    for a, b in registry_comparisons() if comparisons is None else comparisons:
        diff = disparity_diff.get(f"{a} - {b}", {}).get("diff", {})
        gap, high, low = (diff.get(name) or {} for name in ("high_minus_low", "mean_high", "mean_low"))
        if gap.get("diff") is None or high.get("diff") is None or low.get("diff") is None:
            continue
        if gap["lo"] > 0:
            answer = "No, it widens it"
        elif gap["hi"] >= 0:
            answer = "Not conclusively"
        elif low["hi"] < 0 or (high["hi"] < 0 and low["lo"] <= 0):
            answer = "Only by levelling down"
        else:
            answer = "Yes"
        std, mean = diff.get("std") or {}, diff.get("mean") or {}
        extra = [f"the std across languages changes by {_change(std)}"] if std.get("diff") is not None else []
        if mean.get("diff") is not None:
            extra.append(f"the mean mR over the non-English languages by {_change(mean)}")
        return (
            f"{answer}: against {b}, {a} changes the high-minus-low-resource mR gap by {_change(gap)}; "
            f"the high-resource group's mean mR changes by {_change(high)} and the low-resource group's by "
            f"{_change(low)}" + "".join(f"; {text}" for text in extra) + " (mR points, 95% CI)."
        )
    return "No verdict yet: needs a compared pair of methods (e.g. optical, mse) with high- and low-resource languages."


def _change(d: dict) -> str:
    return f"{d['diff']:+.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}]"


def _language_order(lang: str) -> tuple:
    """English first, then by CC-100 size (largest first), unseen languages last."""
    size = cc100_size_gib(lang)
    return (lang != "en", size is None, -(size or 0.0), lang)
