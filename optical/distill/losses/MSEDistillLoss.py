"""Sentence-level distillation: regress the student's sentence embedding onto the teacher's."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MSEDistillLoss(nn.Module):
    r"""Mean squared error between student and teacher sentence embeddings (the ``mse`` method).

    The student embeds the foreign sentence, the frozen teacher embeds its English translation, and the
    student is pulled onto the teacher's vector, so that the foreign sentence lands where the English one
    does in the teacher's (image-aligned) space [1]. This is Reimers & Gurevych's multilingual knowledge
    distillation and the ``mse`` baseline against which OPTICAL is compared. Only sentence vectors are
    matched; token states are ignored.

    The reference recipe (``english=True``, the experiment's default through ``LossConfig.english``) also maps
    the student's reading of the English sentence onto the same target, as sentence-transformers'
    ``ParallelSentencesDataset`` does (each pair gives the examples (English, target) and (foreign, target)): the
    loss is the mean over those 2B rows, ``(mse(foreign) + mse(english)) / 2``.

    Args:
        english: also regress the student's English embedding (``student["english_sentence_embedding"]``,
            (B, d), row b the English sentence of pair b) onto the teacher's. Default False: foreign only.
            The foreign-only loss is :math:`\frac{1}{B d}\sum_{b,k} (s_{bk} - t_{bk})^2`, the mean over batch
            and width (as ``torch.nn.MSELoss``), so its scale does not depend on the batch size.

    References:
        [1] N. Reimers, I. Gurevych. Making Monolingual Sentence Embeddings Multilingual using Knowledge
            Distillation. EMNLP 2020. https://arxiv.org/abs/2004.09813

    Inputs:
        +--------------------------------------------+---------------------------------------------+
        | student (foreign sentence)                 | teacher (English sentence)                  |
        +============================================+=============================================+
        | ``{"sentence_embedding": (B, d), ...}``    | ``{"sentence_embedding": (B, d), ...}``     |
        +--------------------------------------------+---------------------------------------------+

    Relations:
        - :class:`OpticalLoss` matches token states through an optimal transport plan instead.
        - :class:`CombinedLoss` adds this loss to :class:`OpticalLoss` (the ``optical+mse`` method).

    Example:
        ::

            loss_fn = MSEDistillLoss()
            student = student_encoder(student_encoder.tokenize(["Ein Hund rennt."]))
            with torch.no_grad():
                teacher = teacher_encoder(teacher_encoder.tokenize(["A dog runs."]))
            loss = loss_fn(student, teacher)
            loss.backward()
    """

    OPTIONS: tuple[str, ...] = ("english",)  # what ``create_loss`` passes from a LossConfig

    def __init__(self, english: bool = False):
        super().__init__()
        self.english = english

    @property
    def uses_english(self) -> bool:
        """Whether the student's output must hold ``english_sentence_embedding`` (``train_student`` adds it)."""
        return self.english

    def forward(self, student: dict[str, Tensor], teacher: dict[str, Tensor]) -> Tensor:
        """Scalar loss from the encoders' output dicts (key ``sentence_embedding``; with ``english`` the student's
        ``english_sentence_embedding`` too)."""
        foreign = self.compute_loss_from_embeddings(student["sentence_embedding"], teacher["sentence_embedding"])
        if not self.english:
            return foreign
        if "english_sentence_embedding" not in student:
            raise ValueError("MSEDistillLoss(english=True) needs the student's 'english_sentence_embedding' (B, d): "
                             "its reading of each pair's English sentence")
        english = self.compute_loss_from_embeddings(student["english_sentence_embedding"], teacher["sentence_embedding"])
        return (foreign + english) / 2

    def compute_loss_from_embeddings(self, student_embeddings: Tensor, teacher_embeddings: Tensor) -> Tensor:
        """Scalar loss from student (B, d) and teacher (B, d) sentence embeddings."""
        if student_embeddings.shape != teacher_embeddings.shape:
            raise ValueError(
                f"student {tuple(student_embeddings.shape)} and teacher {tuple(teacher_embeddings.shape)} "
                "sentence embeddings must have the same shape (project them to the same width)"
            )
        return F.mse_loss(student_embeddings, teacher_embeddings)

    def get_config_dict(self) -> dict[str, object]:
        """Hyperparameters, for logging."""
        return {"english": self.english}

    @property
    def citation(self) -> str:
        """BibTeX of the method."""
        return """
@inproceedings{reimers-2020-multilingual-sentence-bert,
    title = "Making Monolingual Sentence Embeddings Multilingual using Knowledge Distillation",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing",
    year = "2020",
    url = "https://arxiv.org/abs/2004.09813",
}
"""
