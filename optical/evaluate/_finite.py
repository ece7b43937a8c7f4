"""The one check that numbers reaching a ranking are finite: a NaN score compares neither greater nor equal, so it
would rank every query's correct item first and report perfect recall."""

from __future__ import annotations

import numpy as np

from optical.errors import NonFiniteError


def check_finite(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` (N, ...) unchanged when every entry is finite; else NonFiniteError naming ``what`` (the model and
    the data, e.g. ``"mse: the de caption embeddings"``) and how many of its N rows hold NaN or inf."""
    values = np.asarray(values)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = bad.reshape(len(values), -1).any(axis=1) if values.ndim else bad.reshape(1)
        raise NonFiniteError(f"{what}: {int(rows.sum())} of {len(rows)} rows hold NaN or infinite values "
                             "(a diverged or damaged model?)")
    return values
