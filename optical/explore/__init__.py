"""What the app shows, without streamlit: run and sweep overviews, loaded models, image search, caption ranking
(pooled, or by late score for a late-teacher run), transport plans for any sentence pair, the token -> region view
of a late run, and the built-in experiment launched as a background process.

The pages in ``pages/`` and the cached loaders in ``app_resources.py`` call only these functions; nothing
here imports streamlit.
"""

from optical.explore._launch import ExperimentJob, experiment_commands, parse_progress
from optical.explore._late import (
    LATE_CANDIDATES,
    LATE_EXACT_MAX,
    TokenRegions,
    embed_image_regions,
    rank_captions_late,
    region_figure,
    search_images_late,
    token_grid_figure,
    token_regions,
    tower_view,
)
from optical.explore._plans import axis_labels, plan_figure, plan_for_pair, plan_partner, top_alignments
from optical.explore._queries import MAX_QUERY_CHARS, Query, clean_query
from optical.explore._runs import (
    TEST_SPLIT,
    Gallery,
    RunInfo,
    RunModels,
    default_run,
    describe_evaluations,
    describe_runs,
    load_gallery,
    load_metrics,
    load_models,
    resource_fit,
)
from optical.explore._search import (
    MAX_UPLOAD_PIXELS,
    SearchResult,
    embed_image,
    rank_captions,
    read_image,
    search_images,
)
from optical.explore._teacher import describe_teacher, teacher_recall
from optical.explore._sweeps import METHOD, SweepInfo, describe_sweeps, sweep_chart, sweep_figures, sweep_lines

__all__ = [
    "LATE_CANDIDATES",
    "LATE_EXACT_MAX",
    "MAX_QUERY_CHARS",
    "MAX_UPLOAD_PIXELS",
    "METHOD",
    "ExperimentJob",
    "Gallery",
    "Query",
    "RunInfo",
    "RunModels",
    "SearchResult",
    "TEST_SPLIT",
    "SweepInfo",
    "TokenRegions",
    "axis_labels",
    "clean_query",
    "default_run",
    "describe_evaluations",
    "describe_runs",
    "describe_sweeps",
    "describe_teacher",
    "embed_image",
    "embed_image_regions",
    "experiment_commands",
    "load_gallery",
    "load_metrics",
    "load_models",
    "parse_progress",
    "plan_figure",
    "plan_for_pair",
    "plan_partner",
    "rank_captions",
    "rank_captions_late",
    "read_image",
    "region_figure",
    "resource_fit",
    "search_images",
    "search_images_late",
    "sweep_chart",
    "sweep_figures",
    "sweep_lines",
    "teacher_recall",
    "token_grid_figure",
    "token_regions",
    "top_alignments",
    "tower_view",
]
