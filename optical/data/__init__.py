"""Datasets: the built-in benchmarks "stamps" and "art4apps", a user's captions folder, Multi30k, bitext,
language resource levels, and the teacher's extra training text: OpenClipart drawings and ImageNet's class names.

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
from optical.data._imagenet import (
    IMAGENET_CLASSES,
    ImageNetClass,
    load_imagenet_classes,
    parse_timm_wheel,
    prepare_imagenet_classes,
)
from optical.data._languages import (
    HIGH_RESOURCE_MIN_GIB,
    cc100_size_gib,
    closest_language,
    language_name,
    normalize_locale,
    resource_group,
)
from optical.data._multi30k import Multi30kSplit, caption_files, load_multi30k
from optical.data._openclipart import (
    build_captions,
    load_openclipart,
    name_words,
    parse_svg_metadata,
    prepare_openclipart,
)
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
    "IMAGENET_CLASSES",
    "ImageNetClass",
    "Multi30kSplit",
    "RetrievalSet",
    "SPLITS",
    "Stamp",
    "StampsDataset",
    "benchmark_retrieval_set",
    "build_captions",
    "caption_files",
    "caption_key",
    "captions_bitext",
    "captions_retrieval_set",
    "captions_stats",
    "cc100_size_gib",
    "closest_language",
    "common_images",
    "evaluation_sets",
    "evaluation_split",
    "iter_bitext",
    "language_name",
    "load_art4apps",
    "load_benchmark",
    "load_captions",
    "load_imagenet_classes",
    "load_multi30k",
    "load_openclipart",
    "load_stamps",
    "multi30k_retrieval_set",
    "multi30k_stats",
    "name_words",
    "normalize_locale",
    "open_rgb",
    "parse_caption_file",
    "parse_po",
    "parse_svg_metadata",
    "parse_timm_wheel",
    "prepare_art4apps",
    "prepare_imagenet_classes",
    "prepare_openclipart",
    "prepare_stamps",
    "resource_group",
    "split_of",
    "stamps_retrieval_set",
    "stamps_stats",
    "to_rgb",
]
