"""The run's models beyond a trained teacher: a pretrained CLIP teacher used as is, students on their own encoder.

``check_models`` finds ``teacher_model`` and ``student_encoder`` and checks ``ot.layer`` against the students'
tower before a run folder exists (no weights loaded);
``new_student`` is the starting point of every trained method: a copy of the teacher's text side, or
``student_encoder`` plus a new linear projection to the teacher's width.
"""

from __future__ import annotations

from pathlib import Path

import torch

from optical.config import ExperimentConfig
from optical.distill import DualEncoder, ProjectedTextEncoder
from optical.encoders import create_text_encoder, locate_encoder, text_layer_count
from optical.errors import InputError, MissingAssetError


def check_models(config: ExperimentConfig, source: str | Path = "<config>") -> None:
    """InputError naming ``teacher_model`` or ``student_encoder`` when it cannot be found, or the teacher is not a
    ``CLIPModel``, or ``ot.layer`` is not a layer the students train (``source``: where the config came from; reads
    the models' config files only)."""
    if config.clip_teacher is not None:
        kind = _locate("teacher", config.teacher_model, config.clip_teacher)
        if kind != "clip":
            raise InputError(f"teacher {config.teacher_model!r}: expected a transformers CLIPModel, found a "
                             f"{kind!r} model")
    if config.student_encoder is not None:
        _locate("student encoder", config.student_encoder, config.student_encoder)
    _check_layer(config, source)


def _check_layer(config: ExperimentConfig, source: str | Path) -> None:
    """``ot.layer`` k >= 1 must be one of the layers the students train (the text tower's config is read for their
    number): the states after a frozen layer never change, so aligning them would train nothing."""
    layer = config.ot.layer
    if layer == -1:
        return
    tower = config.clip_teacher or config.text_encoder  # the students start as the teacher's text side
    n_layers = text_layer_count(tower)
    frozen = 0 if config.student_train_layers < 0 else max(0, n_layers - config.student_train_layers)
    if not frozen < layer <= n_layers:
        trained = {0: f"all {n_layers} layers", n_layers: "no transformer layer (only the projection)"}.get(
            frozen, f"the top {n_layers - frozen} of {n_layers} layers")
        allowed = f"in {frozen + 1}..{n_layers} or -1" if frozen < n_layers else "-1"
        raise InputError(
            f"ot.layer {layer}: the students train {trained} of {tower} (student_train_layers "
            f"{config.student_train_layers}), so ot.layer must be {allowed} (-1: the last layer's projected "
            "states); the states after a frozen layer never change", source)


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
