"""Late-interaction (FILIP-style) scores between captions' tokens and images' regions."""

from ._late import late_scores, rank_late

__all__ = ["late_scores", "rank_late"]
