"""Retrieval evaluation: search, ranks with groups of interchangeable images, recall, bootstrap CIs, disparity.

Bootstrap draws resample test image groups (or queries, on request) and, for a study, training seeds.

Pure numpy (faiss for large galleries). Every figure comes back as plain floats / dicts for ``metrics.json``.
"""

from ._bootstrap import (
    BOOTSTRAP_DISPARITY_STATS,
    bootstrap_ci,
    difference_summary,
    disparity_bootstrap,
    disparity_intervals,
    paired_bootstrap_diff,
    paired_summary,
    percentile_interval,
)
from ._disparity import RESOURCE_GROUPS, disparity, disparity_stats, log_size_fit
from ._finite import check_finite
from ._ranks import (
    captioned_images,
    first_hit_ranks,
    image_to_text_ranks,
    retrieval_ranks,
    text_to_image_ranks,
)
from ._recall import DEFAULT_KS, hits_at_k, recall_at_k, retrieval_metrics
from ._resample import DrawWeights, GroupPair, RankPair, query_weights, resampled_metrics, seed_weights
from ._search import FAISS_MIN_GALLERY, build_index, search, similarity

__all__ = [
    "BOOTSTRAP_DISPARITY_STATS",
    "DEFAULT_KS",
    "FAISS_MIN_GALLERY",
    "RESOURCE_GROUPS",
    "GroupPair",
    "RankPair",
    "bootstrap_ci",
    "build_index",
    "captioned_images",
    "check_finite",
    "difference_summary",
    "disparity",
    "disparity_bootstrap",
    "disparity_intervals",
    "disparity_stats",
    "first_hit_ranks",
    "hits_at_k",
    "image_to_text_ranks",
    "log_size_fit",
    "paired_bootstrap_diff",
    "paired_summary",
    "percentile_interval",
    "query_weights",
    "DrawWeights",
    "recall_at_k",
    "resampled_metrics",
    "retrieval_metrics",
    "retrieval_ranks",
    "search",
    "seed_weights",
    "similarity",
    "text_to_image_ranks",
]
