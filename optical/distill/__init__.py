"""Teacher training and bitext-only student distillation (MSE, OPTICAL and its variants).

The public names: the two model classes (``ProjectedTextEncoder``, the teacher ``DualEncoder``), the frozen-layer
cache (``FrozenPrefix``, ``forward_texts``; ``shared_prefix_embeddings`` for several models at once), teacher and
student training (``train_teacher``, ``teacher_targets``, ``train_student``, ``student_batch``: what a student
step feeds its loss), the training loop (``optical.distill.train``; its ``TrainConfig`` lives in the torch-free
``optical.config``), data parallelism (``optical.distill.distributed``) and the losses (``optical.distill.losses``).
"""

from optical.distill._models import DualEncoder, ProjectedTextEncoder, read_model_config, transformer_layers
from optical.distill._prefix import FrozenPrefix, forward_texts, shared_prefix_embeddings
from optical.distill._student import TeacherTargets, student_batch, teacher_targets, train_student
from optical.distill._teacher import clip_loss, train_teacher

__all__ = [
    "DualEncoder",
    "FrozenPrefix",
    "ProjectedTextEncoder",
    "TeacherTargets",
    "clip_loss",
    "forward_texts",
    "read_model_config",
    "shared_prefix_embeddings",
    "student_batch",
    "teacher_targets",
    "train_student",
    "train_teacher",
    "transformer_layers",
]
