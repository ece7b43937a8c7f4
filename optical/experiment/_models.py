"""The run's models beyond a trained teacher: a pretrained CLIP teacher used as is, students on their own encoder.

``check_models`` finds ``teacher_model`` and ``student_encoder`` before a run folder exists (no weights loaded);
``new_student`` is the starting point of every trained method: a copy of the teacher's text side, or
``student_encoder`` plus a new linear projection to the teacher's width.
"""

from __future__ import annotations

import torch

from optical.distill import DualEncoder, ProjectedTextEncoder
from optical.encoders import create_text_encoder, locate_encoder
from optical.errors import InputError, MissingAssetError
from optical.experiment._config import ExperimentConfig


def check_models(config: ExperimentConfig) -> None:
    """InputError naming ``teacher_model`` or ``student_encoder`` when it cannot be found, or the teacher is not a
    ``CLIPModel`` (reads their config files only)."""
    if config.clip_teacher is not None:
        kind = _locate("teacher", config.teacher_model, config.clip_teacher)
        if kind != "clip":
            raise InputError(f"teacher {config.teacher_model!r}: expected a transformers CLIPModel, found a "
                             f"{kind!r} model")
    if config.student_encoder is not None:
        _locate("student encoder", config.student_encoder, config.student_encoder)


def _locate(role: str, setting: str, name: str) -> str:
    try:
        return locate_encoder(name)
    except MissingAssetError as err:
        raise InputError(f"{role} {setting!r} cannot be loaded: {err}") from None


def new_student(config: ExperimentConfig, teacher: DualEncoder) -> ProjectedTextEncoder:
    """A student before training: ``config.student_encoder`` (its tower, mean pooling for HF models) with a new
    projection (H -> teacher width D, initialised from ``config.seed``), else ``teacher.text_side()``."""
    if config.student_encoder is None:
        return teacher.text_side()
    text = create_text_encoder(config.student_encoder)
    torch.manual_seed(config.seed)
    return ProjectedTextEncoder(text, teacher.embed_dim)
