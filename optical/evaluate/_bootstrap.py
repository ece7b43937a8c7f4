"""Percentile bootstrap over queries: CIs of retrieval metrics, paired method differences, disparity figures.

Resampling scheme. Text -> image queries (captions) and image -> text queries (images) are two different query
sets, so each draw resamples both sets with replacement, *independently of each other*, and computes the six
recalls and their mean mR from that pair of resamples; the CI of mR therefore reflects the sampling of both
query sets. Methods evaluated on the same queries share every draw (a paired bootstrap), so their difference
is not inflated by query-sampling noise they have in common. Languages have different query sets and are
resampled independently; each language's stream is seeded from ``(seed, crc32(locale))``, so results do not
depend on the order of the languages. Intervals are percentile intervals of the ``n_boot`` draws.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ._disparity import _checked_languages, _json_float, _resource_table, disparity_stats
from ._recall import DEFAULT_KS, hits_at_k, named_metrics, retrieval_metrics

RankPair = tuple[np.ndarray, np.ndarray]  # (t2i ranks (Q,), i2t ranks (I',))

#: Disparity figures that `disparity_bootstrap` reports with intervals.
BOOTSTRAP_DISPARITY_STATS = ("mean", "std", "max_gap", "high_minus_low", "high_minus_unseen", "slope_log_size")

_CHUNK_ELEMENTS = 1 << 22  # bound on draws x queries x cut-offs gathered at once


def _resampled_metrics(
    methods: Sequence[RankPair], n_boot: int, rng: np.random.Generator, ks: Sequence[int]
) -> list[dict[str, np.ndarray]]:
    """Bootstrap distributions (arrays of shape (n_boot,) per metric key) for methods sharing the same queries."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    n_t2i, n_i2t = len(methods[0][0]), len(methods[0][1])
    if any((len(t2i), len(i2t)) != (n_t2i, n_i2t) for t2i, i2t in methods):
        raise ValueError("paired methods must be ranked on the same queries (equal numbers of t2i and i2t ranks)")
    hits = [(hits_at_k(t2i, ks), hits_at_k(i2t, ks)) for t2i, i2t in methods]  # (Q, K), (I', K)
    recalls = np.empty((len(methods), 2, n_boot, len(ks)))
    step = max(1, _CHUNK_ELEMENTS // (max(n_t2i, n_i2t) * len(ks)))
    for start in range(0, n_boot, step):
        draws = slice(start, min(start + step, n_boot))
        n_draws = draws.stop - draws.start
        idx_t2i = rng.integers(0, n_t2i, size=(n_draws, n_t2i))
        idx_i2t = rng.integers(0, n_i2t, size=(n_draws, n_i2t))
        for method, (hits_t2i, hits_i2t) in enumerate(hits):
            recalls[method, 0, draws] = 100.0 * hits_t2i[idx_t2i].mean(axis=1)  # (b, K)
            recalls[method, 1, draws] = 100.0 * hits_i2t[idx_i2t].mean(axis=1)
    return [named_metrics(t2i, i2t, ks) for t2i, i2t in recalls]


def _interval(draws: np.ndarray, level: float) -> tuple[float, float] | tuple[None, None]:
    """Percentile interval of draws, shape (n_boot,); (None, None) when the figure is undefined (NaN)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if np.isnan(draws).any():
        return None, None
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(draws, [tail, 100.0 - tail])
    return float(lo), float(hi)


def _difference(point: float, draws: np.ndarray, level: float) -> dict:
    """Point difference, percentile CI and two-sided bootstrap p-value of H0: difference = 0."""
    lo, hi = _interval(draws, level)
    if lo is None or np.isnan(point):
        return {"diff": None, "lo": None, "hi": None, "p_value": None}
    tail = min((draws <= 0).sum(), (draws >= 0).sum())
    p_value = min(1.0, 2.0 * (tail + 1) / (len(draws) + 1))
    return {"diff": float(point), "lo": lo, "hi": hi, "p_value": p_value}


def bootstrap_ci(
    t2i_ranks: np.ndarray,
    i2t_ranks: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CI of every key of `retrieval_metrics`.

    Parameters
    ----------
    t2i_ranks : int array, shape (Q,); i2t_ranks : int array, shape (I',)
        Resampled independently in each draw (see the module docstring).

    Returns
    -------
    dict key -> (lo, hi) in percent, for ``t2i_R@k``, ``i2t_R@k`` and ``mR``.
    """
    (draws,) = _resampled_metrics([(t2i_ranks, i2t_ranks)], n_boot, np.random.default_rng(seed), ks)
    return {key: _interval(values, level) for key, values in draws.items()}


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
) -> dict:
    """Difference A - B of one metric between two methods ranked on the same queries, paired bootstrap.

    Parameters
    ----------
    t2i_a, t2i_b : int arrays, shape (Q,); i2t_a, i2t_b : int arrays, shape (I',)
        Ranks of methods A and B for the same queries in the same order; every draw applies the same resampled
        query indices to both.
    metric : a key of `retrieval_metrics`

    Returns
    -------
    dict: ``metric``, ``a``, ``b`` (point values), ``diff`` (a - b), ``lo``, ``hi`` (percentile CI of the
    difference), ``p_value`` (two-sided, ``2 * min(P*(d <= 0), P*(d >= 0))`` with +1 smoothing, capped at 1),
    ``n_boot``, ``level``.
    """
    a_draws, b_draws = _resampled_metrics([(t2i_a, i2t_a), (t2i_b, i2t_b)], n_boot, np.random.default_rng(seed), ks)
    if metric not in a_draws:
        raise ValueError(f"unknown metric {metric!r}: expected one of {sorted(a_draws)}")
    a = retrieval_metrics(t2i_a, i2t_a, ks)[metric]
    b = retrieval_metrics(t2i_b, i2t_b, ks)[metric]
    summary = _difference(a - b, a_draws[metric] - b_draws[metric], level)
    return {"metric": metric, "a": a, "b": b, **summary, "n_boot": n_boot, "level": level}


def disparity_bootstrap(
    ranks_a: Mapping[str, RankPair],
    ranks_b: Mapping[str, RankPair] | None = None,
    *,
    exclude: Iterable[str] = ("en",),
    groups: Mapping[str, str] | None = None,
    sizes: Mapping[str, float | None] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict:
    """CIs of disparity figures for one method and, given ``ranks_b``, of the difference A - B.

    Each draw resamples every language's queries (t2i and i2t independently, languages independently), computes
    mR per language, then the figures of `disparity_stats` across languages. With two methods the draws are
    shared (paired), so ``diff`` answers "does A have a smaller spread than B, with what confidence".

    Parameters
    ----------
    ranks_a, ranks_b : mapping locale -> (t2i ranks, shape (Q_l,), i2t ranks, shape (I'_l,)); B must have the
        same locales and query counts as A
    exclude, groups, sizes : as in `disparity` (English excluded by default)

    Returns
    -------
    JSON-ready dict: ``languages``, ``n_boot``, ``level``; ``a`` (and ``b``): figure -> ``{"value", "lo", "hi"}``;
    with B, ``diff``: figure -> ``{"diff", "lo", "hi", "p_value"}`` for A - B (a negative std diff means A is more
    even across languages). Figures in `BOOTSTRAP_DISPARITY_STATS`; undefined ones are None.
    """
    languages = _checked_languages(ranks_a, exclude)
    if ranks_b is not None and set(languages) - set(ranks_b):
        raise ValueError(f"ranks_b lacks languages {sorted(set(languages) - set(ranks_b))}")
    group_list, size_list = _resource_table(languages, groups, sizes)
    methods = [ranks_a] if ranks_b is None else [ranks_a, ranks_b]
    points = np.array([[[retrieval_metrics(*m[lang], ks)["mR"] for lang in languages]] for m in methods])  # (M, 1, L)
    draws = np.empty((len(methods), n_boot, len(languages)))
    for column, language in enumerate(languages):
        rng = np.random.default_rng([seed, zlib.crc32(language.encode())])
        for method, metrics in enumerate(_resampled_metrics([m[language] for m in methods], n_boot, rng, ks)):
            draws[method, :, column] = metrics["mR"]
    point_stats = [disparity_stats(p, group_list, size_list) for p in points]
    draw_stats = [disparity_stats(d, group_list, size_list) for d in draws]
    out = {"languages": languages, "n_boot": n_boot, "level": level}
    for name, point, stats in zip("ab", point_stats, draw_stats):
        out[name] = {}
        for stat in BOOTSTRAP_DISPARITY_STATS:
            lo, hi = _interval(stats[stat], level)
            out[name][stat] = {"value": _json_float(point[stat][0]), "lo": lo, "hi": hi}
    if ranks_b is not None:
        out["diff"] = {
            stat: _difference(
                float(point_stats[0][stat][0] - point_stats[1][stat][0]),
                draw_stats[0][stat] - draw_stats[1][stat],
                level,
            )
            for stat in BOOTSTRAP_DISPARITY_STATS
        }
    return out
