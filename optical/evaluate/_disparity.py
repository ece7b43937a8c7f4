"""How unequal is retrieval quality across languages: spread, extremes, resource groups, data-size slope.

All figures are in mR points (percent). By default English is excluded: it is the language the teacher was
trained on, so it is the reference the other languages are compared with, not one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

RESOURCE_GROUPS = ("high", "low", "unseen")


def _checked_languages(mr_by_language: Mapping[str, float], exclude: Iterable[str]) -> list[str]:
    excluded = set(exclude)
    languages = [language for language in mr_by_language if language not in excluded]
    if not languages:
        raise ValueError(f"no language left to compare after excluding {sorted(excluded)}")
    return languages


def _resource_table(
    languages: Sequence[str],
    groups: Mapping[str, str] | None,
    sizes: Mapping[str, float | None] | None,
) -> tuple[list[str], list[float | None]]:
    """Resource group and CC-100 size (GiB, None when unseen) per language, from the overrides or `optical.data`."""
    if groups is None or sizes is None:
        from optical.data import cc100_size_gib, resource_group  # lazy: evaluation works without the data package

        groups = groups if groups is not None else {language: resource_group(language) for language in languages}
        sizes = sizes if sizes is not None else {language: cc100_size_gib(language) for language in languages}
    missing = [language for language in languages if language not in groups or language not in sizes]
    if missing:
        raise ValueError(f"groups and sizes must cover every language; missing {missing}")
    unknown = {groups[language] for language in languages} - set(RESOURCE_GROUPS)
    if unknown:
        raise ValueError(f"resource groups must be one of {RESOURCE_GROUPS}, got {sorted(unknown)}")
    bad_sizes = [language for language in languages if sizes[language] is not None and not sizes[language] > 0]
    if bad_sizes:
        raise ValueError(f"sizes must be positive GiB or None; bad for {bad_sizes}")
    return [groups[language] for language in languages], [sizes[language] for language in languages]


def disparity_stats(mr: np.ndarray, groups: Sequence[str], sizes: Sequence[float | None]) -> dict[str, np.ndarray]:
    """Vectorised disparity figures over rows of per-language mR (used by `disparity` and its bootstrap).

    Parameters
    ----------
    mr : array, shape (n, L); mR per draw (row) and language (column)
    groups : length L; "high" | "low" | "unseen" per language
    sizes : length L; CC-100 GiB per language, None for languages without a size

    Returns
    -------
    dict of float64 arrays, shape (n,) (NaN where undefined): ``mean``, ``std`` (population, ddof=0),
    ``max_gap`` (best - worst), ``mean_<group>`` for each group, ``high_minus_low``, ``high_minus_unseen``,
    ``slope_log_size`` (least-squares slope of mR on log10 GiB: mR points per 10x more pre-training text) and
    ``pearson_r_log_size``, both over the languages with a size.
    """
    mr = np.asarray(mr, dtype=np.float64)
    n_draws = len(mr)
    out = {"mean": mr.mean(axis=1), "std": mr.std(axis=1), "max_gap": mr.max(axis=1) - mr.min(axis=1)}
    groups = np.asarray(groups)
    for group in RESOURCE_GROUPS:
        member = groups == group
        out[f"mean_{group}"] = mr[:, member].mean(axis=1) if member.any() else np.full(n_draws, np.nan)
    out["high_minus_low"] = out["mean_high"] - out["mean_low"]
    out["high_minus_unseen"] = out["mean_high"] - out["mean_unseen"]

    sized = np.array([size is not None for size in sizes], dtype=bool)
    fit = log_size_fit(mr[:, sized], [size for size in sizes if size is not None])
    out["slope_log_size"], out["pearson_r_log_size"] = fit["slope"], fit["pearson_r"]
    return out


def log_size_fit(mr: np.ndarray, sizes: Sequence[float]) -> dict[str, np.ndarray]:
    """Least-squares line of mR on log10 pre-training size, per row.

    Parameters
    ----------
    mr : array, shape (n, L); mR per row (a method, or a bootstrap draw) and language
    sizes : length L; CC-100 GiB per language (all > 0)

    Returns
    -------
    dict of float64 arrays, shape (n,): ``slope`` (mR points per 10x more data), ``intercept`` (mR at 1 GiB),
    ``pearson_r``; NaN where undefined (fewer than two distinct sizes; r also for constant mR).
    """
    mr = np.asarray(mr, dtype=np.float64)
    nan = np.full(len(mr), np.nan)
    x = np.log10(np.asarray(sizes, dtype=np.float64))  # (L,)
    if len(x) < 2:
        return {"slope": nan, "intercept": nan, "pearson_r": nan}
    x_dev = x - x.mean()
    y_mean = mr.mean(axis=1)
    y_dev = mr - y_mean[:, None]  # (n, L)
    sxx, sxy, syy = x_dev @ x_dev, y_dev @ x_dev, (y_dev**2).sum(axis=1)
    if not sxx > 0:
        return {"slope": nan, "intercept": nan, "pearson_r": nan}
    slope = sxy / sxx
    with np.errstate(invalid="ignore", divide="ignore"):
        pearson_r = np.where(syy > 0, sxy / np.sqrt(sxx * syy), np.nan)
    return {"slope": slope, "intercept": y_mean - slope * x.mean(), "pearson_r": pearson_r}


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def disparity(
    mr_by_language: Mapping[str, float],
    *,
    exclude: Iterable[str] = ("en",),
    groups: Mapping[str, str] | None = None,
    sizes: Mapping[str, float | None] | None = None,
) -> dict:
    """Disparity of one method's mR across languages.

    Parameters
    ----------
    mr_by_language : mapping locale -> mR (percent)
    exclude : locales left out; English by default (the teacher's training language is the reference, not a
        member of the spread)
    groups : mapping locale -> "high" | "low" | "unseen"; default `optical.data.resource_group`
    sizes : mapping locale -> CC-100 GiB or None; default `optical.data.cc100_size_gib`

    Returns
    -------
    JSON-ready dict: ``languages``, ``n_languages``, ``mean``, ``std`` (population), ``worst`` and ``best``
    (``{"language", "mR"}``), ``max_gap``, ``group_means`` (present groups only), ``high_minus_low``,
    ``high_minus_unseen``, ``slope_log_size`` (mR points per 10x CC-100 data, least squares over the
    ``n_sized`` languages with a size), ``pearson_r_log_size``, ``resource_groups`` (locale -> group).
    Figures that are undefined (an empty group, fewer than two sizes) are None.
    """
    languages = _checked_languages(mr_by_language, exclude)
    group_list, size_list = _resource_table(languages, groups, sizes)
    mr = np.array([float(mr_by_language[language]) for language in languages])
    stats = {name: values[0] for name, values in disparity_stats(mr[None, :], group_list, size_list).items()}
    worst, best = int(mr.argmin()), int(mr.argmax())
    return {
        "languages": languages,
        "n_languages": len(languages),
        "mean": float(stats["mean"]),
        "std": float(stats["std"]),
        "worst": {"language": languages[worst], "mR": float(mr[worst])},
        "best": {"language": languages[best], "mR": float(mr[best])},
        "max_gap": float(stats["max_gap"]),
        "group_means": {g: float(stats[f"mean_{g}"]) for g in RESOURCE_GROUPS if g in group_list},
        "high_minus_low": _json_float(stats["high_minus_low"]),
        "high_minus_unseen": _json_float(stats["high_minus_unseen"]),
        "slope_log_size": _json_float(stats["slope_log_size"]),
        "pearson_r_log_size": _json_float(stats["pearson_r_log_size"]),
        "n_sized": sum(size is not None for size in size_list),
        "resource_groups": dict(zip(languages, group_list)),
    }
