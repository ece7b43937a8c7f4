"""Token-level OT distillation plus sentence-level MSE distillation (``optical+mse``)."""

from __future__ import annotations

from torch import Tensor, nn

from .MSEDistillLoss import MSEDistillLoss
from .OpticalLoss import OpticalLoss


class CombinedLoss(nn.Module):
    r"""Weighted sum ``optical_weight * OpticalLoss + mse_weight * MSEDistillLoss`` (``optical+mse``).

    The OT term aligns the student's token states with the teacher's [1]; the MSE term anchors the
    student's sentence vector on the teacher's [3], which is what retrieval finally compares.

    Args:
        optical: the token-level term (default ``OpticalLoss()``).
        mse: the sentence-level term (default ``MSEDistillLoss()``).
        optical_weight: weight of the OT term.
        mse_weight: weight of the MSE term.

    References:
        [1] Z. Huang, P. Yu, J. Allan. Improving Cross-lingual Information Retrieval on Low-Resource
            Languages via Optimal Transport Distillation. WSDM 2023. https://arxiv.org/abs/2301.12566
        [2] M. Cuturi. Sinkhorn Distances: Lightspeed Computation of Optimal Transport. NeurIPS 2013.
            https://arxiv.org/abs/1306.0895
        [3] N. Reimers, I. Gurevych. Making Monolingual Sentence Embeddings Multilingual using Knowledge
            Distillation. EMNLP 2020. https://arxiv.org/abs/2004.09813

    Inputs:
        +-----------------------------------------------+----------------------------------------------+
        | student (foreign sentence)                    | teacher (English sentence, frozen)           |
        +===============================================+==============================================+
        | ``token_embeddings`` (B, n, d),               | ``token_embeddings`` (B, m, d),              |
        | ``attention_mask`` (B, n),                    | ``attention_mask`` (B, m),                   |
        | ``sentence_embedding`` (B, d)                 | ``sentence_embedding`` (B, d)                |
        +-----------------------------------------------+----------------------------------------------+

    Relations:
        - ``mse_weight=0`` is :class:`OpticalLoss`; ``optical_weight=0`` is :class:`MSEDistillLoss`.

    Example:
        ::

            loss_fn = CombinedLoss(OpticalLoss(reg=0.05), mse_weight=0.5)
            loss = loss_fn(student_encoder(student_batch), teacher_states)
            loss.backward()
    """

    OPTIONS = (*OpticalLoss.OPTIONS, "optical_weight", "mse_weight", "mse_english")  # what ``create_loss`` passes

    def __init__(
        self,
        optical: OpticalLoss | None = None,
        mse: MSEDistillLoss | None = None,
        optical_weight: float = 1.0,
        mse_weight: float = 1.0,
    ):
        super().__init__()
        self.optical = optical if optical is not None else OpticalLoss()
        self.mse = mse if mse is not None else MSEDistillLoss()
        self.optical_weight = optical_weight
        self.mse_weight = mse_weight

    @classmethod
    def from_options(
        cls, optical_weight: float = 1.0, mse_weight: float = 1.0, mse_english: bool = False, **optical: object
    ) -> CombinedLoss:
        """Both terms from flat settings: the weights go here, ``mse_english`` to :class:`MSEDistillLoss`, the rest
        to :class:`OpticalLoss`."""
        mse = MSEDistillLoss(english=mse_english)
        return cls(OpticalLoss(**optical), mse, optical_weight=optical_weight, mse_weight=mse_weight)

    @property
    def uses_english(self) -> bool:
        """Whether the MSE term reads the student's English embedding (the reference recipe)."""
        return self.mse.uses_english

    def forward(self, student: dict[str, Tensor], teacher: dict[str, Tensor]) -> Tensor:
        """Scalar loss from the encoders' output dicts (token states, masks and sentence embeddings). The OT term reads
        the dicts itself, so its ``tokens`` option and weights apply; the MSE term reads what :class:`MSEDistillLoss`
        reads, the student's English embedding included when it uses it."""
        return self.optical_weight * self.optical(student, teacher) + self.mse_weight * self.mse(student, teacher)

    def compute_loss_from_embeddings(
        self,
        student_tokens: Tensor,
        teacher_tokens: Tensor,
        student_mask: Tensor | None,
        teacher_mask: Tensor | None,
        student_embeddings: Tensor,
        teacher_embeddings: Tensor,
    ) -> Tensor:
        """Weighted sum from tokens (B, n, d), (B, m, d), masks (B, n), (B, m) and sentence vectors (B, d)."""
        optical = self.optical.compute_loss_from_embeddings(student_tokens, teacher_tokens, student_mask, teacher_mask)
        mse = self.mse.compute_loss_from_embeddings(student_embeddings, teacher_embeddings)
        return self.optical_weight * optical + self.mse_weight * mse

    def get_config_dict(self) -> dict[str, object]:
        """Hyperparameters of both terms and their weights, for logging."""
        return {
            **self.optical.get_config_dict(),
            **self.mse.get_config_dict(),
            "optical_weight": self.optical_weight,
            "mse_weight": self.mse_weight,
        }

    @property
    def citation(self) -> str:
        """BibTeX of both methods."""
        return self.optical.citation + self.mse.citation
