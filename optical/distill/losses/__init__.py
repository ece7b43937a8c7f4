"""Distillation losses, one class per file (``mse``, ``optical``, ``optical+mse``, ``optical-uot``, ``optical-idf``,
``token-nn``),
``create_loss`` to build them, and ``TokenMass``, which adds the token roles and weights some of them read."""

from __future__ import annotations

from torch import nn

from optical.config import LOSS_NAMES, LossConfig, Method
from optical.distill._tokens import CONTENT, PREFIX, SPECIAL, TokenMass, TokenRoles, token_ids

from .CombinedLoss import CombinedLoss
from .IdfOpticalLoss import IdfOpticalLoss
from .MSEDistillLoss import MSEDistillLoss
from .OpticalLoss import OpticalLoss
from .TokenNNLoss import TokenNNLoss
from .UnbalancedOpticalLoss import UnbalancedOpticalLoss

# loss name (optical.config.LOSS_NAMES, in its order) -> class; each class lists the LossConfig settings it takes
# in ``OPTIONS``
LOSSES: dict[str, type[nn.Module]] = dict(zip(LOSS_NAMES, (
    MSEDistillLoss, OpticalLoss, CombinedLoss, UnbalancedOpticalLoss, IdfOpticalLoss, TokenNNLoss,
)))


def create_loss(name: str, config: LossConfig | None = None, **options: object) -> nn.Module:
    """The loss ``name`` (a key of ``LOSSES``) with the settings of ``config`` it takes, then ``options`` on top.

    - ``"mse"``: :class:`MSEDistillLoss`.
    - ``"optical"``: :class:`OpticalLoss` (``reg``, ``cost``, ``n_iter``, ``tol``, ``grad``, ``tokens``).
    - ``"optical-uot"``: :class:`UnbalancedOpticalLoss` (those and ``reg_m``).
    - ``"optical-idf"``: :class:`IdfOpticalLoss` (as ``optical``; the batches carry IDF ``token_weights``).
    - ``"optical+mse"``: :class:`CombinedLoss` of both; ``optical_weight`` and ``mse_weight`` go to it,
      ``english`` to both terms, the rest to :class:`OpticalLoss`.
    - ``"token-nn"``: :class:`TokenNNLoss` (``cost``, ``tokens``): each student token to its nearest teacher token.

    Every loss takes ``english`` (the English term: the student also reads each pair's English sentence and the
    loss is ``(L(foreign) + L(english)) / 2``; class default False, ``LossConfig``'s True); ``mse_english``, its
    older name, is read as ``english``.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {list(LOSSES)}")
    cls = LOSSES[name]
    if "mse_english" in options:  # the English term's older name (it applied to the MSE terms alone)
        options = {"english": options.pop("mse_english"), **options}
    settings = {**(config.options(cls.OPTIONS) if config is not None else {}), **options}
    unknown = sorted(set(settings) - set(cls.OPTIONS))
    if unknown:
        raise ValueError(f"loss {name!r} takes none of {unknown}; it takes {list(cls.OPTIONS)}")
    factory = getattr(cls, "from_options", cls)
    return factory(**settings)


def method_loss(method: Method, config: LossConfig) -> nn.Module:
    """The distillation loss of the (trained) ``method`` with ``config``'s settings."""
    if method.loss is None:
        raise ValueError(f"method {method.name!r} trains no student, so it has no loss")
    return create_loss(method.loss, config)


__all__ = [
    "CONTENT",
    "LOSSES",
    "PREFIX",
    "SPECIAL",
    "CombinedLoss",
    "IdfOpticalLoss",
    "LossConfig",
    "MSEDistillLoss",
    "OpticalLoss",
    "TokenNNLoss",
    "TokenMass",
    "TokenRoles",
    "UnbalancedOpticalLoss",
    "create_loss",
    "method_loss",
    "token_ids",
]
