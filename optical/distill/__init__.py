"""Teacher training and bitext-only student distillation (MSE, OPTICAL and its variants).

The public names: the two model classes (``ProjectedTextEncoder``, the teacher ``DualEncoder``), the frozen-layer
cache (``FrozenPrefix``, ``forward_texts``; ``shared_prefix_embeddings`` for several models at once), teacher and
student training (``train_teacher``, ``teacher_targets``, ``train_student``, ``student_batch``: what a student
step feeds its loss), the training loop
(``optical.distill.train``; its ``TrainConfig`` lives in the torch-free ``optical.distill.config`` with the device
names ``--device`` takes), data parallelism (``optical.distill.distributed``) and the losses
(``optical.distill.losses``). Names are imported on first use (PEP 562), so the torch-free parts that import
``optical.distill.losses.LossConfig`` (config validation, ``report``) do not load transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from optical.lazy import lazy_exports

_WHERE = {
    "DualEncoder": "_models",
    "ProjectedTextEncoder": "_models",
    "read_model_config": "_models",
    "transformer_layers": "_models",
    "FrozenPrefix": "_prefix",
    "forward_texts": "_prefix",
    "shared_prefix_embeddings": "_prefix",
    "TeacherTargets": "_student",
    "student_batch": "_student",
    "teacher_targets": "_student",
    "train_student": "_student",
    "clip_loss": "_teacher",
    "train_teacher": "_teacher",
    "TrainConfig": "config",
    "cuda_index": "config",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from optical.distill._models import DualEncoder, ProjectedTextEncoder, read_model_config, transformer_layers
    from optical.distill._prefix import FrozenPrefix, forward_texts, shared_prefix_embeddings
    from optical.distill._student import TeacherTargets, student_batch, teacher_targets, train_student
    from optical.distill._teacher import clip_loss, train_teacher
    from optical.distill.config import TrainConfig, cuda_index


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
