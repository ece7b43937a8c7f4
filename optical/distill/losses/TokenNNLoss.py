"""Greedy token matching: each student token pulled to its nearest teacher token (``token-nn``, an ablation)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from optical.distill._tokens import check_tokens, mass_mask
from optical.transport import check_cost_kind, cost_matrix

from .OpticalLoss import _require, with_english


class TokenNNLoss(nn.Module):
    r"""Mean over the student's tokens of the cost to their nearest teacher token (``token-nn``).

    :math:`\frac{1}{n_b} \sum_i \min_j C_{ij}` per pair, averaged over the batch, with the cost and token masses of
    :class:`OpticalLoss`. It is OPTICAL without the transport constraints: no column marginal (many student tokens
    may pull to one teacher token, some teacher tokens to none) and a hard argmin instead of an entropic plan. The
    difference between ``optical`` and ``token-nn`` is what the marginals add over greedy matching; with one
    teacher token it equals OPTICAL.

    Args:
        cost: ``"cosine"`` (default), ``"sqeuclidean"`` or ``"sqeuclidean-mean"``, as :class:`OpticalLoss`.
        tokens: which tokens take part (``"all"``, ``"no-special"``, ``"content"``), as :class:`OpticalLoss`.
        english: the English term, as :class:`OpticalLoss`: ``(L(foreign) + L(english)) / 2``, the English term
            matching the student's ``english_token_embeddings`` to the same teacher tokens. Default False.

    Inputs: as :class:`OpticalLoss`: ``token_embeddings`` (B, n, d) and (B, m, d), ``attention_mask`` (B, n) and
    (B, m); ``token_roles`` too unless ``tokens="all"``.
    """

    OPTIONS = ("cost", "tokens", "english")  # what ``create_loss`` passes from a LossConfig

    def __init__(self, cost: str = "cosine", tokens: str = "all", english: bool = False):
        super().__init__()
        check_cost_kind(cost)  # the library checks of cost_matrix and mass_mask, so a bad option fails here
        check_tokens(tokens)
        self.cost = cost
        self.tokens = tokens
        self.english = english

    @property
    def uses_english(self) -> bool:
        """Whether the student's output must hold its reading of the English sentences (``english_*``)."""
        return self.english

    def mass(self, features: dict[str, Tensor]) -> Tensor:
        """Which tokens of one side take part (B, L)."""
        if self.tokens == "all":
            return features["attention_mask"]
        return mass_mask(_require(features, "token_roles", f"tokens={self.tokens!r}"), self.tokens)

    def forward(self, student: dict[str, Tensor], teacher: dict[str, Tensor]) -> Tensor:
        """Scalar loss from the encoders' output dicts (with ``english``, over the foreign and the English rows)."""
        if self.english:
            student, teacher = with_english(student, teacher, type(self).__name__)
        return self.compute_loss_from_embeddings(student["token_embeddings"], teacher["token_embeddings"],
                                                 self.mass(student), self.mass(teacher))

    def compute_loss_from_embeddings(
        self, student_tokens: Tensor, teacher_tokens: Tensor, student_mask: Tensor, teacher_mask: Tensor
    ) -> Tensor:
        """Mean over pairs of the mean nearest-teacher cost of the student's tokens; tokens (B, n, d), (B, m, d),
        masks (B, n), (B, m)."""
        cost = cost_matrix(student_tokens, teacher_tokens, student_mask, teacher_mask, kind=self.cost)  # (B, n, m)
        cost = cost.masked_fill(~teacher_mask.bool()[:, None, :], torch.inf)  # no match on teacher padding
        nearest = cost.amin(dim=2)  # (B, n)
        rows = student_mask.bool()
        per_pair = torch.where(rows, nearest, torch.zeros_like(nearest)).sum(1) / rows.sum(1).clamp_min(1)
        return per_pair.mean()

    def get_config_dict(self) -> dict[str, object]:
        """Hyperparameters, for logging."""
        return {"cost": self.cost, "tokens": self.tokens, "english": self.english}
