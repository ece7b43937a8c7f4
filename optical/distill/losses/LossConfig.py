"""Every hyperparameter of the distillation losses in one dataclass (the experiment config's ``ot`` section)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class LossConfig:
    """Arguments of :class:`OpticalLoss` (``reg``, ``cost``, ``n_iter``, ``tol``, ``grad``, ``tokens``), of
    :class:`UnbalancedOpticalLoss` (also ``reg_m``), of :class:`CombinedLoss` (``optical_weight``, ``mse_weight``)
    and of :class:`MSEDistillLoss` (``mse_english``); ``create_loss`` passes each loss the ones it takes. ``layer``
    chooses the token states the OT losses are given (no loss takes it)."""

    reg: float = 0.05
    cost: str = "cosine"
    n_iter: int = 50
    tol: float = 1e-6
    grad: str = "envelope"
    tokens: str = "all"  # which tokens carry mass: all, no-special (not <s> </s>), content (nor the input prefix)
    reg_m: float = 1.0  # optical-uot: marginal relaxation tau (KL penalty weight), > 0
    mse_weight: float = 1.0  # optical+mse: loss = optical_weight * optical + mse_weight * mse
    optical_weight: float = 1.0
    # mse, optical+mse: the reference recipe (Reimers & Gurevych 2020) maps both the English and the foreign sentence
    # onto the teacher's English embedding; False: the foreign sentence only
    mse_english: bool = True
    # which token states OPTICAL's cost compares (both sides): -1 the last layer's through the projection (width
    # embed_dim); k >= 1 the hidden states after transformer layer k, unprojected (the tower's width), k one of the
    # layers the student trains. Read where the states are made (teacher_targets, train_student, the plans), not by
    # the losses, which compare whatever ``token_embeddings`` they are given.
    layer: int = -1

    def options(self, names: tuple[str, ...]) -> dict[str, object]:
        """The settings named in ``names`` (a loss class's ``OPTIONS``)."""
        return {key: value for key, value in asdict(self).items() if key in names}
