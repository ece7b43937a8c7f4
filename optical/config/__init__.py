"""The experiment's settings, torch-free: ``ExperimentConfig`` (with its ``ot`` section ``LossConfig`` and the
``TrainConfig`` of teacher and students), presets, the method registry, sweep grids over config keys and the names
each setting takes. Config validation and the CLI's argument checks read them before torch is imported."""

from optical.config._experiment import (
    CLIP_PREFIX,
    DEFAULT_IMAGE_ENCODER,
    FULL_LANGUAGES,
    FULL_TEACHER_SOURCES,
    QUICK_LANGUAGES,
    QUICK_TEACHER_SOURCES,
    ExperimentConfig,
    preset,
)
from optical.config._flags import add_config_flags, check_flags, flags_over, resume_refused
from optical.config._grid import format_point, grid_points, parse_grid, point_config, point_name
from optical.config._loss import COST_KINDS, GRAD_MODES, LOSS_NAMES, REG_SCALES, TOKEN_MODES, WEIGHTINGS, LossConfig
from optical.config._methods import (
    ENCODER_KINDS,
    EVAL_PRECISIONS,
    METHODS,
    MT_SYSTEMS,
    Method,
    comparisons,
    english_term,
    register_method,
)
from optical.config._parse import parse_bitext_flag, split_list
from optical.config._settings import BITEXT_AMOUNTS, PRESETS, SCORINGS, SETTINGS, Setting
from optical.config._teacher_sources import TEACHER_SOURCES, check_teacher_sources
from optical.config._train import DEVICE_HELP, PRECISIONS, TrainConfig, cuda_index

__all__ = [
    "BITEXT_AMOUNTS",
    "CLIP_PREFIX",
    "COST_KINDS",
    "DEFAULT_IMAGE_ENCODER",
    "DEVICE_HELP",
    "ENCODER_KINDS",
    "EVAL_PRECISIONS",
    "FULL_LANGUAGES",
    "FULL_TEACHER_SOURCES",
    "GRAD_MODES",
    "LOSS_NAMES",
    "METHODS",
    "MT_SYSTEMS",
    "PRECISIONS",
    "PRESETS",
    "SCORINGS",
    "QUICK_LANGUAGES",
    "QUICK_TEACHER_SOURCES",
    "REG_SCALES",
    "SETTINGS",
    "TEACHER_SOURCES",
    "TOKEN_MODES",
    "WEIGHTINGS",
    "ExperimentConfig",
    "LossConfig",
    "Method",
    "Setting",
    "TrainConfig",
    "add_config_flags",
    "check_flags",
    "check_teacher_sources",
    "comparisons",
    "cuda_index",
    "english_term",
    "flags_over",
    "format_point",
    "grid_points",
    "parse_bitext_flag",
    "parse_grid",
    "point_config",
    "point_name",
    "preset",
    "register_method",
    "resume_refused",
    "split_list",
]
