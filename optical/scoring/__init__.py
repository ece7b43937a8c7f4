"""Late-interaction (FILIP-style) scores between captions' tokens and images' regions, and padded sets of them."""

from ._late import late_scores, rank_late
from ._padded import Padded, pool_grid

__all__ = ["Padded", "late_scores", "pool_grid", "rank_late"]
