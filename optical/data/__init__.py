"""Datasets: the built-in "stamps" benchmark, Multi30k, bitext, and language resource levels.

All bad input raises ``optical.errors.InputError`` naming the file (and line); a missing prepared asset raises
``MissingAssetError`` saying which command makes it.
"""

from optical.data._bitext import iter_bitext
from optical.data._images import open_rgb, to_rgb
from optical.data._languages import HIGH_RESOURCE_MIN_GIB, cc100_size_gib, normalize_locale, resource_group
from optical.data._multi30k import Multi30kSplit, caption_files, load_multi30k
from optical.data._retrieval import RetrievalSet, multi30k_retrieval_set, stamps_retrieval_set
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
from optical.data._stats import multi30k_stats, stamps_stats

__all__ = [
    "HIGH_RESOURCE_MIN_GIB",
    "SPLITS",
    "Multi30kSplit",
    "RetrievalSet",
    "Stamp",
    "StampsDataset",
    "caption_files",
    "caption_key",
    "cc100_size_gib",
    "iter_bitext",
    "load_multi30k",
    "load_stamps",
    "multi30k_retrieval_set",
    "multi30k_stats",
    "normalize_locale",
    "open_rgb",
    "parse_caption_file",
    "prepare_stamps",
    "resource_group",
    "split_of",
    "stamps_retrieval_set",
    "stamps_stats",
    "to_rgb",
]
