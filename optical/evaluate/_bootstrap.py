"""Bootstrap CIs of retrieval metrics, paired method differences and disparity figures.

The draws come from `optical.evaluate._resample` (image groups by default, queries on request; seeds for a
study). Intervals are percentile intervals of the ``n_boot`` draws, except for the two spread figures ``std`` and
``max_gap`` (see `disparity_intervals`). Methods evaluated on the same queries share every draw (a paired
bootstrap), so their difference is not inflated by sampling noise they have in common.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ._disparity import _checked_languages, _json_float, _resource_table, disparity_stats
from ._recall import DEFAULT_KS
from ._resample import GroupPair, RankPair, query_weights, resampled_metrics

#: Disparity figures that `disparity_bootstrap` reports with intervals (``mean_<group>``: a resource group's mean).
BOOTSTRAP_DISPARITY_STATS = (
    "mean",
    "std",
    "max_gap",
    "mean_high",
    "mean_low",
    "mean_unseen",
    "high_minus_low",
    "high_minus_unseen",
    "slope_log_size",
)

#: Spread figures whose draws sit above the point (sampling noise adds spread): their intervals are shifted.
SHIFTED_STATS = ("std", "max_gap")
PERCENTILE = "percentile"
SHIFTED_PERCENTILE = "bias-shifted percentile: percentiles of draws - (median(draws) - value), floored at 0"


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float] | tuple[None, None]:
    """Percentile interval of draws, shape (n_boot,), over the defined ones; (None, None) when none is defined."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    draws = draws[~np.isnan(draws)]
    if not len(draws):
        return None, None
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(draws, [tail, 100.0 - tail])
    return float(lo), float(hi)


def _shifted_interval(point: float, draws: np.ndarray, level: float) -> tuple[float, float] | tuple[None, None]:
    """`percentile_interval` of the draws moved so that their median is the point; floored at 0 (a spread)."""
    lo, hi = percentile_interval(draws, level)
    if lo is None or np.isnan(point):
        return None, None
    shift = float(np.nanmedian(draws)) - point
    return max(0.0, lo - shift), max(0.0, hi - shift)


def difference_summary(point: float, draws: np.ndarray, level: float) -> dict:
    """Point difference, percentile CI and two-sided bootstrap p-value of H0: difference = 0."""
    lo, hi = percentile_interval(draws, level)
    if lo is None or np.isnan(point):
        return {"diff": None, "lo": None, "hi": None, "p_value": None}
    draws = draws[~np.isnan(draws)]
    tail = min((draws <= 0).sum(), (draws >= 0).sum())
    p_value = min(1.0, 2.0 * (tail + 1) / (len(draws) + 1))
    return {"diff": float(point), "lo": lo, "hi": hi, "p_value": p_value}


def _one_language(
    pairs: Sequence[RankPair], image_groups: GroupPair | None, n_boot: int, seed: int, ks: Sequence[int]
) -> list[tuple[dict[str, float], dict[str, np.ndarray]]]:
    """(point, draws) of each ranking in ``pairs`` (methods on the same queries), one shared set of draws."""
    counts = {"": (len(pairs[0][0]), len(pairs[0][1]))}
    weights = query_weights(counts, None if image_groups is None else {"": image_groups}, n_boot, seed)[""]
    return [resampled_metrics([pair], weights, ks=ks) for pair in pairs]


def bootstrap_ci(
    t2i_ranks: np.ndarray,
    i2t_ranks: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    image_groups: GroupPair | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CI of every key of `retrieval_metrics`.

    Parameters
    ----------
    t2i_ranks : int array, shape (Q,); i2t_ranks : int array, shape (I',)
    image_groups : (t2i group ids, shape (Q,), i2t group ids, shape (I',)); each draw resamples the groups and
        weights both directions' queries by their group's count. None resamples queries (t2i and i2t apart).

    Returns
    -------
    dict key -> (lo, hi) in percent, for ``t2i_R@k``, ``i2t_R@k`` and ``mR``.
    """
    ((_, draws),) = _one_language([(t2i_ranks, i2t_ranks)], image_groups, n_boot, seed, ks)
    return {key: percentile_interval(values, level) for key, values in draws.items()}


def paired_summary(a: tuple[dict, dict], b: tuple[dict, dict], metric: str, n_boot: int, level: float) -> dict:
    """`paired_bootstrap_diff`'s dict from two methods' (point, draws) of `resampled_metrics` (shared draws)."""
    if metric not in a[0]:
        raise ValueError(f"unknown metric {metric!r}: expected one of {sorted(a[0])}")
    summary = difference_summary(a[0][metric] - b[0][metric], a[1][metric] - b[1][metric], level)
    return {"metric": metric, "a": a[0][metric], "b": b[0][metric], **summary, "n_boot": n_boot, "level": level}


def paired_bootstrap_diff(
    t2i_a: np.ndarray,
    i2t_a: np.ndarray,
    t2i_b: np.ndarray,
    i2t_b: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    metric: str = "mR",
    ks: Sequence[int] = DEFAULT_KS,
    *,
    image_groups: GroupPair | None = None,
) -> dict:
    """Difference A - B of one metric between two methods ranked on the same queries, paired bootstrap.

    Parameters
    ----------
    t2i_a, t2i_b : int arrays, shape (Q,); i2t_a, i2t_b : int arrays, shape (I',)
        Ranks of methods A and B for the same queries in the same order; every draw weights both alike.
    metric : a key of `retrieval_metrics`
    image_groups : as in `bootstrap_ci`

    Returns
    -------
    dict: ``metric``, ``a``, ``b`` (point values), ``diff`` (a - b), ``lo``, ``hi`` (percentile CI of the
    difference), ``p_value`` (two-sided, ``2 * min(P*(d <= 0), P*(d >= 0))`` with +1 smoothing, capped at 1),
    ``n_boot``, ``level``.
    """
    a, b = _one_language([(t2i_a, i2t_a), (t2i_b, i2t_b)], image_groups, n_boot, seed, ks)
    return paired_summary(a, b, metric, n_boot, level)


def disparity_intervals(
    mr_a: Mapping[str, tuple[float, np.ndarray]],
    mr_b: Mapping[str, tuple[float, np.ndarray]] | None = None,
    *,
    exclude: Iterable[str] = ("en",),
    groups: Mapping[str, str] | None = None,
    sizes: Mapping[str, float | None] | None = None,
    level: float = 0.95,
) -> dict:
    """`disparity_bootstrap`'s dict from per-language mR points and draws (shared draws across A and B).

    Parameters
    ----------
    mr_a, mr_b : mapping locale -> (mR point, mR draws, shape (n_boot,)); B must cover A's locales
    exclude, groups, sizes : as in `disparity`

    Intervals: percentile, except ``std`` and ``max_gap`` (of one method): sampling noise adds spread, so their
    draws sit above the point and a percentile interval can miss it; their interval is the percentile interval of
    the draws shifted by the bootstrap bias estimate (median of the draws minus the point), floored at 0, so it is
    centred on the point. Each figure's ``method`` names its interval. Differences A - B are percentile intervals
    of the paired differences (the noise largely cancels).
    """
    languages = _checked_languages(mr_a, exclude)
    if mr_b is not None and set(languages) - set(mr_b):
        raise ValueError(f"ranks_b lacks languages {sorted(set(languages) - set(mr_b))}")
    group_list, size_list = _resource_table(languages, groups, sizes)
    methods = [mr_a] if mr_b is None else [mr_a, mr_b]
    points = [np.array([[m[lang][0] for lang in languages]]) for m in methods]  # (1, L) per method
    draws = [np.stack([m[lang][1] for lang in languages], axis=1) for m in methods]  # (n_boot, L) per method
    point_stats = [disparity_stats(p, group_list, size_list) for p in points]
    draw_stats = [disparity_stats(d, group_list, size_list) for d in draws]
    n_boot = len(mr_a[languages[0]][1])
    out = {"languages": languages, "n_boot": n_boot, "level": level}
    for name, point, stats in zip("ab", point_stats, draw_stats):
        out[name] = {}
        for stat in BOOTSTRAP_DISPARITY_STATS:
            value = float(point[stat][0])
            if stat in SHIFTED_STATS:
                (lo, hi), method = _shifted_interval(value, stats[stat], level), SHIFTED_PERCENTILE
            else:
                (lo, hi), method = percentile_interval(stats[stat], level), PERCENTILE
            out[name][stat] = {"value": _json_float(value), "lo": lo, "hi": hi, "method": method}
    if mr_b is not None:
        out["diff"] = {
            stat: difference_summary(
                float(point_stats[0][stat][0] - point_stats[1][stat][0]),
                draw_stats[0][stat] - draw_stats[1][stat],
                level,
            )
            for stat in BOOTSTRAP_DISPARITY_STATS
        }
    return out


def disparity_bootstrap(
    ranks_a: Mapping[str, RankPair],
    ranks_b: Mapping[str, RankPair] | None = None,
    *,
    exclude: Iterable[str] = ("en",),
    groups: Mapping[str, str] | None = None,
    sizes: Mapping[str, float | None] | None = None,
    image_groups: Mapping[str, GroupPair] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict:
    """CIs of disparity figures for one method and, given ``ranks_b``, of the difference A - B.

    Each draw weights every language's queries (one draw of the image groups for all languages, or per-query
    resampling without ``image_groups``), computes mR per language, then the figures of `disparity_stats` across
    languages. With two methods the draws are shared (paired), so ``diff`` answers "does A have a smaller spread
    than B, with what confidence".

    Parameters
    ----------
    ranks_a, ranks_b : mapping locale -> (t2i ranks, shape (Q_l,), i2t ranks, shape (I'_l,)); B must have the
        same locales and query counts as A
    exclude, groups, sizes : as in `disparity` (English excluded by default; ``groups`` are resource groups)
    image_groups : mapping locale -> (t2i group ids (Q_l,), i2t group ids (I'_l,)), ids shared by all languages

    Returns
    -------
    JSON-ready dict: ``languages``, ``n_boot``, ``level``; ``a`` (and ``b``): figure -> ``{"value", "lo", "hi",
    "method"}`` (intervals as in `disparity_intervals`); with B, ``diff``: figure -> ``{"diff", "lo", "hi",
    "p_value"}`` for A - B (a negative std diff means A is more even across languages). Figures in
    `BOOTSTRAP_DISPARITY_STATS`; undefined ones are None.
    """
    languages = _checked_languages(ranks_a, exclude)
    if ranks_b is not None and set(languages) - set(ranks_b):
        raise ValueError(f"ranks_b lacks languages {sorted(set(languages) - set(ranks_b))}")
    counts = {lang: (len(ranks_a[lang][0]), len(ranks_a[lang][1])) for lang in languages}
    weights = query_weights(counts, image_groups, n_boot, seed)
    methods = [ranks_a] if ranks_b is None else [ranks_a, ranks_b]
    mr = []
    for ranks in methods:
        resampled = {lang: resampled_metrics([ranks[lang]], weights[lang], ks=ks) for lang in languages}
        mr.append({lang: (point["mR"], draws["mR"]) for lang, (point, draws) in resampled.items()})
    return disparity_intervals(*mr, exclude=(), groups=groups, sizes=sizes, level=level)
