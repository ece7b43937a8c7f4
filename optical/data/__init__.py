"""Datasets: the built-in benchmarks "stamps" and "art4apps", a user's captions folder, Multi30k, bitext, and
language resource levels.

All bad input raises ``optical.errors.InputError`` naming the file (and line); a missing prepared asset raises
``MissingAssetError`` saying which command makes it.
"""

from optical.data._art4apps import ART4APPS_PACKAGE, load_art4apps, parse_po, prepare_art4apps
from optical.data._benchmarks import (
    BENCHMARKS,
    benchmark_retrieval_set,
    evaluation_sets,
    evaluation_split,
    load_benchmark,
)
from optical.data._bitext import BITEXT_SOURCES, iter_bitext
from optical.data._captions import CaptionedImage, CaptionRow, CaptionsDataset, captions_bitext, load_captions
from optical.data._images import open_rgb, to_rgb
from optical.data._languages import (
    HIGH_RESOURCE_MIN_GIB,
    cc100_size_gib,
    language_name,
    normalize_locale,
    resource_group,
)
from optical.data._multi30k import Multi30kSplit, caption_files, load_multi30k
from optical.data._retrieval import (
    RetrievalSet,
    captions_retrieval_set,
    common_images,
    multi30k_retrieval_set,
    stamps_retrieval_set,
)
from optical.data._stamps import (
    SPLITS,
    Stamp,
    StampsDataset,
    caption_key,
    load_stamps,
    parse_caption_file,
    prepare_stamps,
    split_of,
)
from optical.data._stats import captions_stats, multi30k_stats, stamps_stats

__all__ = [
    "ART4APPS_PACKAGE",
    "BENCHMARKS",
    "BITEXT_SOURCES",
    "CaptionRow",
    "CaptionedImage",
    "CaptionsDataset",
    "HIGH_RESOURCE_MIN_GIB",
    "Multi30kSplit",
    "RetrievalSet",
    "SPLITS",
    "Stamp",
    "StampsDataset",
    "benchmark_retrieval_set",
    "caption_files",
    "caption_key",
    "captions_bitext",
    "captions_retrieval_set",
    "captions_stats",
    "cc100_size_gib",
    "common_images",
    "evaluation_sets",
    "evaluation_split",
    "iter_bitext",
    "language_name",
    "load_art4apps",
    "load_benchmark",
    "load_captions",
    "load_multi30k",
    "load_stamps",
    "multi30k_retrieval_set",
    "multi30k_stats",
    "normalize_locale",
    "open_rgb",
    "parse_caption_file",
    "parse_po",
    "prepare_art4apps",
    "prepare_stamps",
    "resource_group",
    "split_of",
    "stamps_retrieval_set",
    "stamps_stats",
    "to_rgb",
]
