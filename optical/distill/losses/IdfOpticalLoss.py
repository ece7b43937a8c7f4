"""OPTICAL with non-uniform marginals: each token's mass is its IDF over the training bitext."""

from __future__ import annotations

from torch import Tensor

from .OpticalLoss import OpticalLoss, _require


class IdfOpticalLoss(OpticalLoss):
    r"""Token-level OT distillation where rare words carry more mass than frequent ones (``optical-idf``).

    As :class:`OpticalLoss`, but the marginals are not uniform: token :math:`i` of a sentence gets mass
    proportional to its weight :math:`w_i`, the smoothed inverse document frequency of its id over the
    training sentences of its side (foreign bitext for the student, English for the teacher), normalised to
    sum to 1 per sentence. Tokens in every sentence (``<s>``, ``</s>``, the ``query:`` prefix) get the
    smallest weight, content words more, so the alignment of the words that distinguish captions dominates
    the loss, in the spirit of IDF-weighted token matching [5].

    Args:
        reg, cost, n_iter, tol, grad, tokens, english: as in :class:`OpticalLoss` (``tokens`` zeroes the weights
            of the tokens it excludes; the English term reads ``english_token_weights``, the IDF over the English
            side as the student tokenizes it: ``TokenMass.add(..., "student-english")``).

    References:
        [1] Z. Huang, P. Yu, J. Allan. Improving Cross-lingual Information Retrieval on Low-Resource
            Languages via Optimal Transport Distillation. WSDM 2023. https://arxiv.org/abs/2301.12566
        [5] T. Zhang, V. Kishore, F. Wu, K. Q. Weinberger, Y. Artzi. BERTScore: Evaluating Text Generation
            with BERT. ICLR 2020 (IDF importance weighting). https://arxiv.org/abs/1904.09675

    Inputs:
        +-----------------------------------------------+----------------------------------------------+
        | student (foreign sentence)                    | teacher (English sentence, frozen)           |
        +===============================================+==============================================+
        | ``token_embeddings`` (B, n, d),               | ``token_embeddings`` (B, m, d),              |
        | ``attention_mask`` (B, n),                    | ``attention_mask`` (B, m),                   |
        | ``token_weights`` (B, n) (IDF, >= 0)          | ``token_weights`` (B, m)                     |
        +-----------------------------------------------+----------------------------------------------+

        ``optical.distill.losses.TokenMass.from_bitext(...).add(features, side)`` adds ``token_weights``.

    Relations:
        - With equal weights on every token this is :class:`OpticalLoss`.
        - The solver is :func:`optical.transport.sinkhorn_plan` with ``a``, ``b``, checked against
          ``ot.sinkhorn`` with the same non-uniform weights.

    Example:
        ::

            mass = TokenMass.from_bitext(student_encoder.text, foreign_ids, english_ids)
            loss_fn = IdfOpticalLoss(reg=0.05)
            loss = loss_fn(mass.add(student_out, "student"), mass.add(teacher_out, "teacher"))
    """

    def mass(self, features: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """The mask (B, L) of :class:`OpticalLoss` and the IDF weights (B, L) on it."""
        mask, _ = super().mass(features)
        weights = _require(features, "token_weights", "IdfOpticalLoss")
        return mask, weights * mask.to(weights.dtype)
