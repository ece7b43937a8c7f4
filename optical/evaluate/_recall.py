"""Recall@k and mean recall (mR) from ranks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The cut-offs reported everywhere: R@1, R@5, R@10 in each direction; mR is the mean of the six.
DEFAULT_KS = (1, 5, 10)


def hits_at_k(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> np.ndarray:
    """Hit indicators: float64 array, shape (n, K), 1.0 where ``ranks[q] < ks[j]``; ranks shape (n,), 0-based."""
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or len(ranks) == 0:
        raise ValueError(f"ranks must be a non-empty array of shape (n,), got {ranks.shape}")
    return (ranks[:, None] < np.asarray(ks)[None, :]).astype(np.float64)


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Percentage of queries (ranks shape (n,), 0-based) whose first correct item is in the top k."""
    return float(100.0 * hits_at_k(ranks, (k,)).mean())


def named_metrics(t2i_recall: np.ndarray, i2t_recall: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict:
    """Name recall columns and add mR.

    Parameters
    ----------
    t2i_recall, i2t_recall : arrays, shape (..., K); percentages per cut-off in ``ks``

    Returns
    -------
    dict with keys ``t2i_R@k`` and ``i2t_R@k`` for each k (arrays of shape (...)) and ``mR``, their mean.
    """
    out = {f"t2i_R@{k}": t2i_recall[..., j] for j, k in enumerate(ks)}
    out.update({f"i2t_R@{k}": i2t_recall[..., j] for j, k in enumerate(ks)})
    out["mR"] = np.concatenate([t2i_recall, i2t_recall], axis=-1).mean(axis=-1)
    return out


def retrieval_metrics(t2i_ranks: np.ndarray, i2t_ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict:
    """R@k in both directions and mR, in percent.

    Parameters
    ----------
    t2i_ranks : int array, shape (Q,); i2t_ranks : int array, shape (I',) (0-based, from `optical.evaluate` ranks)

    Returns
    -------
    dict of floats: ``t2i_R@1``, ``t2i_R@5``, ``t2i_R@10``, ``i2t_R@1``, ``i2t_R@5``, ``i2t_R@10``, ``mR``.
    """
    t2i = 100.0 * hits_at_k(t2i_ranks, ks).mean(axis=0)  # (K,)
    i2t = 100.0 * hits_at_k(i2t_ranks, ks).mean(axis=0)
    return {key: float(value) for key, value in named_metrics(t2i, i2t, ks).items()}
