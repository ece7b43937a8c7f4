"""Every hyperparameter of the distillation losses in one dataclass (the experiment config's ``ot`` section), and
the names its string settings take, declared here once: ``optical.transport`` and ``optical.distill`` read them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# the distillation losses (``optical.distill.losses.LOSSES``, in this order) a trained method may name
LOSS_NAMES = ("mse", "optical", "optical+mse", "optical-uot", "optical-idf", "token-nn")
COST_KINDS = ("cosine", "sqeuclidean", "sqeuclidean-mean")  # ``cost``: optical.transport.cost_matrix's kinds
GRAD_MODES = ("envelope", "autodiff")  # ``grad``: how the OT plan's gradient is taken
REG_SCALES = ("absolute", "relative")  # ``reg_scale``: what ``reg`` is measured in: cost units, or each pair's spread
TOKEN_MODES = ("all", "no-special", "content")  # ``tokens``: which tokens carry mass (optical.distill's token roles)
WEIGHTINGS = ("scale-free", "fixed")  # ``weighting``: how CombinedLoss weighs its two terms


@dataclass
class LossConfig:
    """Arguments of :class:`OpticalLoss` (``reg``, ``reg_scale``, ``cost``, ``n_iter``, ``tol``, ``grad``,
    ``tokens``), of :class:`UnbalancedOpticalLoss` (also ``reg_m``), of :class:`CombinedLoss` (``optical_weight``,
    ``mse_weight``) and ``english`` (the English term, every loss takes it); ``create_loss`` passes each loss the
    ones it takes. ``layer`` chooses the token states the OT losses are given (no loss takes it)."""

    reg: float = 0.05
    # what ``reg`` is measured in: "absolute" the cost's units (epsilon = reg; configs written before the option
    # read so), "relative" each pair's cost spread (epsilon = reg * optical.transport.cost_spread, the std of the
    # doubly centred cost): the same sharpness of plan whatever the scale of the costs (bench/plans.py)
    reg_scale: str = "absolute"
    cost: str = "cosine"
    # Sinkhorn: iterate until each pair's row-marginal error (L2) is below ``tol``, at most ``n_iter`` times; the
    # error at stop is recorded with the run's plan diagnostics. 60 keeps the OT step within 1.2x of the former cap
    # of 50 (bench/transport.py); at reg 0.05 e5's plans reach 1e-4 in about 25 iterations (bench/plans.py)
    n_iter: int = 60
    tol: float = 1e-4
    grad: str = "envelope"
    tokens: str = "all"  # which tokens carry mass: all, no-special (not <s> </s>), content (nor the input prefix)
    reg_m: float = 1.0  # optical-uot: marginal relaxation tau (KL penalty weight), > 0
    mse_weight: float = 1.0  # optical+mse: loss = optical_weight * optical + mse_weight * mse
    optical_weight: float = 1.0
    # optical+mse: "scale-free" each term divided by its own detached value at each step (the gradients of both
    # then count alike, whatever their units; CombinedLoss), "fixed" the plain weighted sum. Configs written before
    # the option (both weights, no weighting: ExperimentConfig.from_dict) read as "fixed", as they trained.
    weighting: str = "scale-free"
    # every trained method (mse, optical, optical+mse, optical-uot, optical-idf, token-nn): every student also reads
    # the English side of each pair, and its loss is the mean of the foreign term and the English term (the same loss
    # between the student's reading of the English sentence and the teacher's), as the MSE reference recipe
    # (Reimers & Gurevych 2020) maps both sentences onto the teacher's embedding; False: the foreign side only.
    # Older configs call it ``mse_english`` (then read by the MSE terms alone; ``ExperimentConfig.from_dict`` maps it).
    english: bool = True
    # which token states OPTICAL's cost compares (both sides): -1 the last layer's through the projection (width
    # embed_dim); k >= 1 the hidden states after transformer layer k, unprojected (the tower's width), k one of the
    # layers the student trains. Read where the states are made (teacher_targets, train_student, the plans), not by
    # the losses, which compare whatever ``token_embeddings`` they are given.
    layer: int = -1

    def options(self, names: tuple[str, ...]) -> dict[str, object]:
        """The settings named in ``names`` (a loss class's ``OPTIONS``)."""
        return {key: value for key, value in asdict(self).items() if key in names}
