"""Token-level OT distillation plus sentence-level MSE distillation (``optical+mse``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from optical.config import WEIGHTINGS

from .MSEDistillLoss import MSEDistillLoss
from .OpticalLoss import OpticalLoss

SCALE_FLOOR = 1e-12  # "scale-free": a term is divided by its value, floored here (a term at 0 has no gradient to scale)


class CombinedLoss(nn.Module):
    r"""``optical_weight * OpticalLoss + mse_weight * MSEDistillLoss``, each term scale-free (``optical+mse``).

    The OT term aligns the student's token states with the teacher's [1]; the MSE term anchors the
    student's sentence vector on the teacher's [3], which is what retrieval finally compares.

    Weighting (``weighting``): the two terms live on unrelated scales. The OT term is a cosine distance averaged over
    the plan (0.13 to 0.2 at the start); the MSE term is averaged over the B x d entries of the sentence vectors
    (0.0025 to 0.005 for d = 256). Summed as they are (``"fixed"``), the OT term's gradient is about 30x the MSE
    term's at the first step of the real setting (e5 teacher, untrained head, stamp bitext: 33x with the English
    term, 28x without; ``bench/grad_ratio.py``), so ``optical+mse`` trains as ``optical`` does. ``"scale-free"``
    (the default) divides each term by its own detached value at that step::

        loss = optical_weight * L_o / sg(L_o) + mse_weight * L_m / sg(L_m)          (sg: stop-gradient)
        grad = optical_weight * grad(L_o) / L_o + mse_weight * grad(L_m) / L_m
             = grad(optical_weight * log L_o + mse_weight * log L_m)

    Why this scheme: rescaling either term by any factor (another width d, a sum instead of a mean, another cost)
    leaves the gradient unchanged, so the weights mean what they say (1 and 1: a relative change of either term
    counts alike); on the real setting the two gradients are then of a size at the first step (OT / MSE 0.65 with
    the English term, 0.68 without). It is where learned uncertainty weighting [4] settles (a term's weight at its
    optimum is 1 / L) without learned parameters, and it is stateless: unlike a running magnitude nothing has to be
    checkpointed (``--resume`` stays exact) and nothing hangs on the first batches. The value returned is the log
    form, ``optical_weight * log L_o + mse_weight * log L_m`` (negative; it falls as either term falls, so the
    training loss still shows progress), computed as the tangent ``log s + L / s - 1`` at the detached scale ``s``
    (``= log L`` where ``s = L``), whose gradient is ``grad(L) / s``. Under several processes ``average``
    (``train_student`` sets it) makes ``s`` the mean over the processes, the global batch's value, so data-parallel
    training is the single-process computation. Near 0 a term's gradient grows as its value falls (for MSE as
    1 / sqrt(L)); the scale is floored at ``SCALE_FLOOR``. ``"fixed"`` is the plain weighted sum (what configs
    written before the option read as).

    Args:
        optical: the token-level term (default ``OpticalLoss()``).
        mse: the sentence-level term (default ``MSEDistillLoss()``).
        optical_weight: weight of the OT term.
        mse_weight: weight of the MSE term.
        weighting: ``"scale-free"`` (default: each term divided by its detached value at that step) or ``"fixed"``
            (the plain weighted sum); see above.

    References:
        [1] Z. Huang, P. Yu, J. Allan. Improving Cross-lingual Information Retrieval on Low-Resource
            Languages via Optimal Transport Distillation. WSDM 2023. https://arxiv.org/abs/2301.12566
        [2] M. Cuturi. Sinkhorn Distances: Lightspeed Computation of Optimal Transport. NeurIPS 2013.
            https://arxiv.org/abs/1306.0895
        [3] N. Reimers, I. Gurevych. Making Monolingual Sentence Embeddings Multilingual using Knowledge
            Distillation. EMNLP 2020. https://arxiv.org/abs/2004.09813
        [4] A. Kendall, Y. Gal, R. Cipolla. Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
            Geometry and Semantics. CVPR 2018. https://arxiv.org/abs/1705.07115

    Inputs:
        +-----------------------------------------------+----------------------------------------------+
        | student (foreign sentence)                    | teacher (English sentence, frozen)           |
        +===============================================+==============================================+
        | ``token_embeddings`` (B, n, d),               | ``token_embeddings`` (B, m, d),              |
        | ``attention_mask`` (B, n),                    | ``attention_mask`` (B, m),                   |
        | ``sentence_embedding`` (B, d)                 | ``sentence_embedding`` (B, d)                |
        +-----------------------------------------------+----------------------------------------------+

    Relations:
        - ``mse_weight=0`` is :class:`OpticalLoss`; ``optical_weight=0`` is :class:`MSEDistillLoss` (with
          ``"scale-free"``, their gradients divided by the term's value).
        - :meth:`gradient_ratio`: the norms of both terms' gradients, before and after weighting (``train_student``
          records them at the first step).

    Example:
        ::

            loss_fn = CombinedLoss(OpticalLoss(reg=0.05), mse_weight=0.5)
            loss = loss_fn(student_encoder(student_batch), teacher_states)
            loss.backward()
    """

    OPTIONS = (*OpticalLoss.OPTIONS, "optical_weight", "mse_weight", "weighting")  # what ``create_loss`` passes

    def __init__(
        self,
        optical: OpticalLoss | None = None,
        mse: MSEDistillLoss | None = None,
        optical_weight: float = 1.0,
        mse_weight: float = 1.0,
        weighting: str = "scale-free",
    ):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {weighting!r}; expected one of {list(WEIGHTINGS)}")
        self.optical = optical if optical is not None else OpticalLoss()
        self.mse = mse if mse is not None else MSEDistillLoss()
        self.optical_weight = optical_weight
        self.mse_weight = mse_weight
        self.weighting = weighting
        # "scale-free" under several processes: the mean over them of the detached term values (2,), a collective
        # every rank calls once per loss (``train_student`` sets it); None: this process's values
        self.average: Callable[[Tensor], Tensor] | None = None

    @classmethod
    def from_options(
        cls, optical_weight: float = 1.0, mse_weight: float = 1.0, english: bool = False,
        weighting: str = "scale-free", **optical: object
    ) -> CombinedLoss:
        """Both terms from flat settings: the weights go here, ``english`` (the English term) to both terms, the
        rest to :class:`OpticalLoss`."""
        mse = MSEDistillLoss(english=english)
        return cls(OpticalLoss(english=english, **optical), mse, optical_weight=optical_weight, mse_weight=mse_weight,
                   weighting=weighting)

    @property
    def uses_english(self) -> bool:
        """Whether a term reads the student's reading of the English sentences (the English term)."""
        return self.mse.uses_english or self.optical.uses_english

    def forward(self, student: dict[str, Tensor], teacher: dict[str, Tensor]) -> Tensor:
        """Scalar loss from the encoders' output dicts (token states, masks and sentence embeddings). The OT term reads
        the dicts itself, so its ``tokens`` option and weights apply; the MSE term reads what :class:`MSEDistillLoss`
        reads, the student's English embedding included when it uses it (each term its own English term)."""
        return self.combine(self.optical(student, teacher), self.mse(student, teacher))

    def compute_loss_from_embeddings(
        self,
        student_tokens: Tensor,
        teacher_tokens: Tensor,
        student_mask: Tensor | None,
        teacher_mask: Tensor | None,
        student_embeddings: Tensor,
        teacher_embeddings: Tensor,
    ) -> Tensor:
        """The loss (:meth:`combine`) from tokens (B, n, d), (B, m, d), masks (B, n), (B, m) and sentence vectors
        (B, d)."""
        optical = self.optical.compute_loss_from_embeddings(student_tokens, teacher_tokens, student_mask, teacher_mask)
        mse = self.mse.compute_loss_from_embeddings(student_embeddings, teacher_embeddings)
        return self.combine(optical, mse)

    def combine(self, optical: Tensor, mse: Tensor, scales: Tensor | None = None) -> Tensor:
        """The loss from the two scalar terms: ``optical_weight * optical + mse_weight * mse`` (``"fixed"``), or
        ``optical_weight * log optical + mse_weight * log mse`` in value with the gradient of each term divided by
        its ``scales`` (``"scale-free"``; default :meth:`scales`, which under ``average`` is a collective)."""
        if self.weighting == "fixed":
            return self.optical_weight * optical + self.mse_weight * mse
        scales = self.scales(optical, mse) if scales is None else scales
        return self.optical_weight * _log_tangent(optical, scales[0]) + self.mse_weight * _log_tangent(mse, scales[1])

    def scales(self, optical: Tensor, mse: Tensor) -> Tensor:
        """What ``"scale-free"`` divides the terms by (2,): their detached fp32 values (the mean over the processes
        under ``average``), floored at ``SCALE_FLOOR``."""
        values = torch.stack([optical.detach().float(), mse.detach().float()])
        if self.average is not None:
            values = self.average(values)
        return values.clamp_min(SCALE_FLOOR)

    def factors(self, scales: Tensor | None = None) -> tuple[float, float]:
        """What each term's gradient is multiplied by in the loss's: the weights (``"fixed"``), the weights over
        ``scales`` (``"scale-free"``)."""
        if self.weighting == "fixed":
            return float(self.optical_weight), float(self.mse_weight)
        if scales is None:
            raise ValueError("scale-free factors need the scales of a batch (CombinedLoss.scales)")
        return self.optical_weight / float(scales[0]), self.mse_weight / float(scales[1])

    def gradient_ratio(
        self, student: dict[str, Tensor], teacher: dict[str, Tensor], params: Sequence[Tensor]
    ) -> tuple[Tensor, dict[str, object]]:
        """The loss of a batch, as :meth:`forward` computes it, and how large each term's gradient is w.r.t.
        ``params`` (the trainable parameters): two extra ``autograd.grad`` calls, which keep the graph for the
        loss's own backward (``train_student`` calls this at the first step only).

        The record: ``weighting``; the terms' values ``optical``, ``mse``; the L2 norms of their raw gradients
        ``optical_grad_norm``, ``mse_grad_norm`` and their ratio ``grad_ratio`` (OT over MSE, before weighting); the
        factors each gradient gets in the loss (:meth:`factors`) ``optical_factor``, ``mse_factor`` and the ratio
        after weighting ``weighted_grad_ratio``; ``seconds`` the two gradients took. A value that is not finite (a
        zero norm) is None.
        """
        optical, mse = self.optical(student, teacher), self.mse(student, teacher)
        scales = self.scales(optical, mse) if self.weighting == "scale-free" else None
        loss = self.combine(optical, mse, scales)
        started = time.perf_counter()
        with torch.autocast(loss.device.type, enabled=False):
            optical_norm, mse_norm = (_grad_norm(term, params) for term in (optical, mse))
        seconds = time.perf_counter() - started
        optical_factor, mse_factor = self.factors(scales)
        record = {
            "weighting": self.weighting,
            "optical": float(optical.detach()),
            "mse": float(mse.detach()),
            "optical_grad_norm": optical_norm,
            "mse_grad_norm": mse_norm,
            "grad_ratio": _ratio(optical_norm, mse_norm),
            "optical_factor": optical_factor,
            "mse_factor": mse_factor,
            "weighted_grad_ratio": _ratio(optical_factor * optical_norm, mse_factor * mse_norm),
            "seconds": seconds,
        }
        return loss, {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}

    def get_config_dict(self) -> dict[str, object]:
        """Hyperparameters of both terms and their weights, for logging."""
        return {
            **self.optical.get_config_dict(),
            **self.mse.get_config_dict(),
            "optical_weight": self.optical_weight,
            "mse_weight": self.mse_weight,
            "weighting": self.weighting,
        }

    @property
    def citation(self) -> str:
        """BibTeX of both methods."""
        return self.optical.citation + self.mse.citation


def describe_gradient_ratio(record: dict[str, object]) -> str:
    """One line of :meth:`CombinedLoss.gradient_ratio`'s record, e.g. ``|grad OT| / |grad MSE| = 49.3 unweighted
    (0.676 / 0.0137), 0.656 as weighted (scale-free)``."""

    def number(value: object) -> str:
        return "n/a" if value is None else f"{value:.3g}"

    return (f"|grad OT| / |grad MSE| = {number(record['grad_ratio'])} unweighted "
            f"({number(record['optical_grad_norm'])} / {number(record['mse_grad_norm'])}), "
            f"{number(record['weighted_grad_ratio'])} as weighted ({record['weighting']})")


def _log_tangent(value: Tensor, scale: Tensor) -> Tensor:
    """``log scale + value / scale - 1``: ``log value`` where ``value == scale``, with gradient ``grad(value) / scale``
    (``scale`` detached)."""
    return torch.log(scale) + value.float() / scale - 1


def _grad_norm(term: Tensor, params: Sequence[Tensor]) -> float:
    """L2 norm of the gradient of the scalar ``term`` w.r.t. ``params`` (0 for those it does not reach); the graph
    is kept."""
    if not term.requires_grad or not params:
        return 0.0
    grads = torch.autograd.grad(term, list(params), retain_graph=True, allow_unused=True)
    return math.sqrt(sum(float(g.detach().float().pow(2).sum()) for g in grads if g is not None))


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None
