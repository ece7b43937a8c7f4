"""Bootstrap draws shared by every figure: query weights from resampled image groups (or queries), and seeds.

Resampling unit. By default the unit is the test *image group* (images with interchangeable captions): each draw
resamples the G groups once, with replacement (multinomial counts, shape (G,)), and a query's weight is the
count of its group, for both directions (a caption's group is its image's, an image query's group its own), every
language and every method. The same images stand behind every language's queries, so one draw stream serves all
of them, and paired differences and disparity figures see the sampling those queries have in common. Without
groups (``image_groups=None``) the unit is the query: t2i and i2t queries are resampled independently, and each
language from its own stream seeded by ``(seed, crc32(locale))`` (the order of the languages does not matter).

Seeds. A study is several runs that differ only by the training seed, evaluated on the same test split. Each draw
also resamples the S seeds (multinomial counts, shape (S,)) and averages the seeds' figures with those counts,
each seed's figure computed with the draw's one set of query weights: the interval carries training variance and
test-set sampling (a hierarchical bootstrap: seeds, then image groups). With one seed this is the plain bootstrap.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._recall import DEFAULT_KS, hits_at_k, named_metrics, retrieval_metrics

RankPair = tuple[np.ndarray, np.ndarray]  # (t2i ranks (Q,), i2t ranks (I',))
GroupPair = tuple[np.ndarray, np.ndarray]  # (t2i query group ids (Q,), i2t query group ids (I',))


@dataclass(frozen=True)
class DrawWeights:
    """One direction's bootstrap weights (n_boot, Q), kept per resampled unit: weight[b, q] = counts[b, unit[q]].

    The units are image groups (or, per-query resampling, the queries themselves); sums over queries are taken per
    unit first, so a draw costs O(units), not O(queries), and the (n_boot, Q) matrix is never built.
    """

    counts: np.ndarray  # (n_boot, U) float64: how often each unit was drawn
    unit: np.ndarray  # (Q,) int: each query's unit

    @property
    def n_boot(self) -> int:
        return self.counts.shape[0]

    @property
    def n_queries(self) -> int:
        return len(self.unit)

    def dense(self) -> np.ndarray:
        """The weights as a matrix, shape (n_boot, Q)."""
        return self.counts[:, self.unit]

    def weighted_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum over the queries of weight x ``values`` (Q, K) in every draw: shape (n_boot, K)."""
        n_units = self.counts.shape[1]
        per_unit = np.stack([np.bincount(self.unit, weights=values[:, k], minlength=n_units)
                             for k in range(values.shape[1])], axis=1)  # (U, K)
        return self.counts @ per_unit

    def total(self) -> np.ndarray:
        """Each draw's total weight, shape (n_boot, 1)."""
        return self.weighted_sum(np.ones((len(self.unit), 1)))


WeightPair = tuple[DrawWeights, DrawWeights]  # (t2i weights (n_boot, Q), i2t weights (n_boot, I'))


def _counts(rng: np.random.Generator, n_units: int, n_boot: int) -> np.ndarray:
    """Resample ``n_units`` units with replacement ``n_boot`` times: float64 counts, shape (n_boot, n_units)."""
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(np.float64)


def query_weights(
    query_counts: Mapping[str, tuple[int, int]],
    image_groups: Mapping[str, GroupPair] | None,
    n_boot: int,
    seed: int,
) -> dict[str, WeightPair]:
    """Bootstrap weights of every language's queries (see the module docstring for the scheme).

    Parameters
    ----------
    query_counts : mapping locale -> (Q, I'), the numbers of t2i and i2t queries
    image_groups : mapping locale -> (t2i group ids, shape (Q,), i2t group ids, shape (I',)), ids shared by every
        language; None resamples queries instead of image groups

    Returns
    -------
    mapping locale -> (t2i weights, shape (n_boot, Q), i2t weights, shape (n_boot, I')) as `DrawWeights`; each
    row is one draw
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if image_groups is None:
        weights = {}
        for language, (n_t2i, n_i2t) in query_counts.items():
            rng = np.random.default_rng([seed, zlib.crc32(language.encode())])
            weights[language] = (DrawWeights(_counts(rng, n_t2i, n_boot), np.arange(n_t2i)),
                                 DrawWeights(_counts(rng, n_i2t, n_boot), np.arange(n_i2t)))
        return weights
    missing = sorted(set(query_counts) - set(image_groups))
    if missing:
        raise ValueError(f"image_groups lacks languages {missing}")
    for language, counts in query_counts.items():
        shapes = tuple(np.shape(ids) for ids in image_groups[language])
        if shapes != ((counts[0],), (counts[1],)):
            raise ValueError(f"{language}: image groups of shapes {shapes} for {counts} t2i and i2t queries")
    ids = np.unique(np.concatenate([np.concatenate(image_groups[language]) for language in query_counts]))
    counts = _counts(np.random.default_rng(seed), len(ids), n_boot)  # (n_boot, G)
    return {
        language: tuple(DrawWeights(counts, np.searchsorted(ids, np.asarray(g))) for g in image_groups[language])
        for language in query_counts
    }


def seed_weights(n_seeds: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampled seeds as averaging weights: shape (n_boot, n_seeds), each row sums to 1 (all 1 for one seed)."""
    if n_seeds < 1:
        raise ValueError("a study needs at least one seed")
    if n_seeds == 1:
        return np.ones((n_boot, 1))
    return _counts(np.random.default_rng([seed, n_seeds]), n_seeds, n_boot) / n_seeds


def resampled_metrics(
    pairs: Sequence[RankPair],
    weights: WeightPair,
    seed_w: np.ndarray | None = None,
    ks: Sequence[int] = DEFAULT_KS,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Point values and bootstrap draws of every `retrieval_metrics` key, averaged over seeds.

    Parameters
    ----------
    pairs : one (t2i ranks (Q,), i2t ranks (I',)) per seed, all ranked on the same queries
    weights : this language's query weights from `query_weights`, shapes (n_boot, Q), (n_boot, I')
    seed_w : shape (n_boot, S) from `seed_weights`; None for one seed

    Returns
    -------
    point : key -> mean over seeds of the metric (percent)
    draws : key -> array, shape (n_boot,); NaN in a draw that gives a language no query
    """
    n_boot = weights[0].n_boot
    if seed_w is None:
        seed_w = np.ones((n_boot, 1))
    if seed_w.shape != (n_boot, len(pairs)):
        raise ValueError(f"seed weights of shape {seed_w.shape} for {len(pairs)} seeds and {n_boot} draws")
    expected = tuple(w.n_queries for w in weights)
    if any((len(t2i), len(i2t)) != expected for t2i, i2t in pairs):
        raise ValueError(f"paired rankings must be on the same queries ({expected[0]} t2i and {expected[1]} i2t ranks)")
    totals = [w.total() for w in weights]  # (n_boot, 1) per direction
    per_seed = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for pair in pairs:
            recalls = [100.0 * w.weighted_sum(hits_at_k(r, ks)) / total
                       for r, w, total in zip(pair, weights, totals)]
            per_seed.append(named_metrics(*recalls, ks))  # key -> (n_boot,)
    points = [retrieval_metrics(*pair, ks) for pair in pairs]
    point = {key: float(np.mean([p[key] for p in points])) for key in points[0]}
    draws = {key: (seed_w * np.stack([d[key] for d in per_seed], axis=1)).sum(axis=1) for key in point}
    return point, draws
