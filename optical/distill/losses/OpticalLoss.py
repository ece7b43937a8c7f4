"""Token-level distillation through an entropic optimal transport plan (OPTICAL)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from optical.distill._tokens import check_tokens, mass_mask
from optical.transport import (
    TransportResult,
    check_cost_kind,
    check_solver_options,
    cost_matrix,
    sinkhorn_plan,
    uniform_marginal,
)


class OpticalLoss(nn.Module):
    r"""Optimal transport distillation between the student's and the teacher's token states (``optical``).

    For each pair, the student reads the foreign sentence (token states :math:`S`, shape (n, d)) and the
    frozen teacher reads the English one (:math:`E`, shape (m, d)). The cost between tokens is
    :math:`C_{ij} = 1 - \cos(S_i, E_j)` (or :math:`\|S_i - E_j\|^2`), the marginals are uniform over the
    non-padding tokens, :math:`T` is the entropic transport plan (log-domain Sinkhorn [2]) and the loss is
    :math:`\langle T, C \rangle_F`, averaged over the batch [1]. The plan finds a soft word alignment by
    itself, so the student learns from bitext at the token level without any alignment tool; this is the
    method whose effect on low-resource languages the project measures.

    Args:
        reg: entropic regularisation epsilon (> 0). Small values give sharp, nearly one-to-one alignments
            and need more iterations; large values spread each token's mass over the whole sentence.
        cost: ``"cosine"`` (default, scale-free) or ``"sqeuclidean"``.
        n_iter: Sinkhorn iteration cap.
        tol: stop when the largest row-marginal violation (L2, per pair) is below this; ``transport(...).error``
            holds each pair's violation at stop (above ``tol`` only where the cap stopped the iterations).
        reg_scale: ``"absolute"`` (default): ``reg`` is epsilon, in the cost's units. ``"relative"``: epsilon is
            ``reg`` times each pair's cost spread (:func:`optical.transport.cost_spread`: the standard deviation of
            the doubly centred cost, held constant in the gradient), so the plans' sharpness does not depend on the
            scale of the costs, which differs between pairs, heads and stages of training (``bench/plans.py``).
        grad: ``"envelope"`` (default): the gradient goes through the cost with the plan held fixed;
            exact for the entropic OT cost, and the iterations cost no autograd memory or time, which
            keeps an OPTICAL step close to an MSE step. ``"autodiff"``: backpropagate through the
            iterations (exact for :math:`\langle T, C \rangle`, slower, memory grows with iterations).
        tokens: which tokens carry mass: ``"all"`` (default: every non-padding token, as the masks say),
            ``"no-special"`` (not ``<s>``, ``</s>``), ``"content"`` (neither the specials nor the input prefix,
            e5's ``▁que ry :``). The two others read ``token_roles`` (B, L) from both dicts
            (``optical.distill.losses.TokenMass`` adds it). Every sequence of e5 starts ``<s> ▁que ry :``
            and ends ``</s>``: about half of a short caption's tokens, and with ``"all"`` about half the plan's
            mass sits on them (``bench/token_mass.py``).
        english: also transport the student's reading of each pair's English sentence (``english_token_embeddings``
            (B, n', d), ``english_attention_mask`` (B, n'), and ``english_token_roles`` / ``english_token_weights``
            where the foreign side has them) onto the same teacher states: the English term, as
            :class:`MSEDistillLoss` has it; the loss is ``(L(foreign) + L(english)) / 2``. Default False (foreign
            only); the experiment's default is ``LossConfig.english`` (True), for every method alike.

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
        | ``attention_mask`` (B, n)                     | ``attention_mask`` (B, m)                    |
        +-----------------------------------------------+----------------------------------------------+

        Both sides must have the same width d (project the student to the teacher's width first).
        With ``tokens="all"`` the masks alone decide (special tokens take part when their mask is 1);
        otherwise ``token_roles`` (B, n) and (B, m) are needed too.

    Relations:
        - With one token per side the plan is the single entry 1 and the loss is the cosine distance
          between the two vectors: sentence-level distillation with a cosine instead of :class:`MSEDistillLoss` [3].
        - :class:`CombinedLoss` adds :class:`MSEDistillLoss` (the ``optical+mse`` method).

    Example:
        ::

            loss_fn = OpticalLoss(reg=0.05)
            student = student_encoder(student_encoder.tokenize(["Ein Hund rennt."]))
            with torch.no_grad():
                teacher = teacher_encoder(teacher_encoder.tokenize(["A dog runs."]))
            loss = loss_fn(student, teacher)
            loss.backward()
            plan = loss_fn.transport(student, teacher).plan[0]  # (n, m) soft alignment
    """

    # what ``create_loss`` passes from a LossConfig
    OPTIONS: tuple[str, ...] = ("reg", "cost", "n_iter", "tol", "grad", "tokens", "english", "reg_scale")

    def __init__(
        self,
        reg: float = 0.05,
        cost: str = "cosine",
        n_iter: int = 60,
        tol: float = 1e-4,
        grad: str = "envelope",
        tokens: str = "all",
        english: bool = False,
        reg_scale: str = "absolute",
    ):
        super().__init__()
        # the library checks of the functions these options go to, run here so a bad option fails at construction
        # (the experiment's settings were validated by optical.config already)
        check_tokens(tokens)
        check_cost_kind(cost)
        check_solver_options(reg, n_iter, tol, grad, reg_scale)
        self.reg = reg
        self.cost = cost
        self.n_iter = n_iter
        self.tol = tol
        self.grad = grad
        self.tokens = tokens
        self.english = english
        self.reg_scale = reg_scale

    @property
    def uses_english(self) -> bool:
        """Whether the student's output must hold its reading of the English sentences (``english_*`` entries;
        ``train_student`` adds them)."""
        return self.english

    def forward(self, student: dict[str, Tensor], teacher: dict[str, Tensor]) -> Tensor:
        """Scalar loss from the encoders' output dicts (``token_embeddings``, ``attention_mask``). With ``english``,
        ``(L(foreign) + L(english)) / 2``: the English term transports the student's ``english_token_embeddings``
        onto the same teacher states, both terms solved as one batch of 2B pairs (``with_english``)."""
        if self.english:
            student, teacher = with_english(student, teacher, type(self).__name__)
        return self.transport(student, teacher).value.mean()

    def transport(self, student: dict[str, Tensor], teacher: dict[str, Tensor]) -> TransportResult:
        """The plans (B, n, m), per-pair costs (B,) and iteration count, for inspection and drawing."""
        (student_mask, student_weights), (teacher_mask, teacher_weights) = self.mass(student), self.mass(teacher)
        return self.transport_from_embeddings(
            student["token_embeddings"],
            teacher["token_embeddings"],
            student_mask,
            teacher_mask,
            student_weights,
            teacher_weights,
        )

    def mass(self, features: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """Which tokens of one side carry mass (B, L), and their weights (B, L) or None for uniform."""
        if self.tokens == "all":
            return features["attention_mask"], None
        return mass_mask(_require(features, "token_roles", f"tokens={self.tokens!r}"), self.tokens), None

    def marginal(self, features: dict[str, Tensor]) -> Tensor:
        """The marginal (B, L) this loss transports for one side, as :meth:`transport` solves with it: its token
        weights normalised, or uniform over the tokens that carry mass."""
        mask, weights = self.mass(features)
        return uniform_marginal(mask.bool(), torch.float32) if weights is None else _normalised(weights)

    def compute_loss_from_embeddings(
        self,
        student_tokens: Tensor,
        teacher_tokens: Tensor,
        student_mask: Tensor | None = None,
        teacher_mask: Tensor | None = None,
        student_weights: Tensor | None = None,
        teacher_weights: Tensor | None = None,
    ) -> Tensor:
        """Mean over pairs of :math:`\\langle T, C \\rangle_F`; tokens (B, n, d), (B, m, d), masks (B, n), (B, m),
        optional token weights (B, n), (B, m) as in :meth:`transport_from_embeddings`."""
        return self.transport_from_embeddings(
            student_tokens, teacher_tokens, student_mask, teacher_mask, student_weights, teacher_weights
        ).value.mean()

    def transport_from_embeddings(
        self,
        student_tokens: Tensor,
        teacher_tokens: Tensor,
        student_mask: Tensor | None = None,
        teacher_mask: Tensor | None = None,
        student_weights: Tensor | None = None,
        teacher_weights: Tensor | None = None,
    ) -> TransportResult:
        """Cost and plan for token states (B, n, d), (B, m, d) with masks (B, n), (B, m) (None: no padding).

        ``student_weights`` (B, n) and ``teacher_weights`` (B, m), unnormalised token masses, give non-uniform
        marginals (each pair's weights are rescaled to sum to 1); None is uniform over the mask.
        """
        cost = cost_matrix(student_tokens, teacher_tokens, student_mask, teacher_mask, kind=self.cost)  # (B, n, m)
        return self.solve(cost, _normalised(student_weights), _normalised(teacher_weights), student_mask, teacher_mask)

    def solve(
        self, cost: Tensor, a: Tensor | None, b: Tensor | None, mask_a: Tensor | None, mask_b: Tensor | None
    ) -> TransportResult:
        """The plan for ``cost`` (B, n, m) with marginals ``a`` (B, n), ``b`` (B, m) (None: uniform over the masks)."""
        return sinkhorn_plan(
            cost, self.reg, a, b, mask_a=mask_a, mask_b=mask_b, n_iter=self.n_iter, tol=self.tol, grad=self.grad,
            reg_scale=self.reg_scale,
        )

    def get_config_dict(self) -> dict[str, object]:
        """Hyperparameters, for logging."""
        return {
            "reg": self.reg,
            "cost": self.cost,
            "n_iter": self.n_iter,
            "tol": self.tol,
            "grad": self.grad,
            "tokens": self.tokens,
            "english": self.english,
            "reg_scale": self.reg_scale,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the method."""
        return """
@inproceedings{huang2023optical,
    title = "Improving Cross-lingual Information Retrieval on Low-Resource Languages via Optimal Transport Distillation",
    author = "Huang, Zhiqi and Yu, Puxuan and Allan, James",
    booktitle = "Proceedings of the Sixteenth ACM International Conference on Web Search and Data Mining (WSDM '23)",
    year = "2023",
    url = "https://arxiv.org/abs/2301.12566",
}
"""


def _require(features: dict[str, Tensor], key: str, why: str) -> Tensor:
    """``features[key]``, or a ValueError saying which option needs it."""
    if key not in features:
        raise ValueError(f"{why} needs {key!r} in both encoder output dicts (optical.distill.losses.TokenMass adds it)")
    return features[key]


ENGLISH = "english_"  # key prefix of the student's reading of each pair's English sentence in its output dict
_ROW_KEYS = ("token_embeddings", "attention_mask", "token_roles", "token_weights")  # what the token losses read


def with_english(
    student: dict[str, Tensor], teacher: dict[str, Tensor], loss: str = "the loss"
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The foreign and the English term as one batch of 2B pairs: the student's rows (its reading of the foreign
    sentences, then its ``english_*`` entries: its reading of each pair's English sentence), padded to a common
    length, and the teacher's rows twice. Only the per-token entries (``token_embeddings``, ``attention_mask``,
    ``token_roles``, ``token_weights``) are kept; a mean over the 2B pairs is ``(L(foreign) + L(english)) / 2``."""
    english = {key[len(ENGLISH):]: value for key, value in student.items() if key.startswith(ENGLISH)}
    keys = [key for key in _ROW_KEYS if key in student]
    missing = [ENGLISH + key for key in keys if key not in english]
    if missing:
        raise ValueError(f"{loss}(english=True) needs the student's {missing}: its reading of each pair's English "
                         "sentence (train_student adds them; TokenMass.add(..., 'student-english') the roles and "
                         "weights)")
    length = max(student["token_embeddings"].shape[1], english["token_embeddings"].shape[1])
    rows = {key: torch.cat([_pad_to(student[key], length), _pad_to(english[key], length)]) for key in keys}
    return rows, {key: torch.cat([value, value]) for key, value in teacher.items() if key in _ROW_KEYS}


def _pad_to(values: Tensor, length: int) -> Tensor:
    """``values`` (B, L) or (B, L, d) with zeros (padding: no mask, no role, no weight) up to ``length`` along L."""
    extra = length - values.shape[1]
    if extra == 0:
        return values
    return torch.nn.functional.pad(values, (0, 0) * (values.dim() - 2) + (0, extra))


def _normalised(weights: Tensor | None) -> Tensor | None:
    """Weights (B, L) rescaled so that each row sums to 1 (None stays None)."""
    if weights is None:
        return None
    weights = weights.detach().float() if weights.dtype != torch.float64 else weights.detach()
    return weights / weights.sum(dim=1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)
