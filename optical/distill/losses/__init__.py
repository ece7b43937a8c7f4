"""Distillation losses, one class per file: ``mse``, ``optical`` and ``optical+mse``."""

from __future__ import annotations

from torch import nn

from .CombinedLoss import CombinedLoss
from .IdfOpticalLoss import IdfOpticalLoss
from .MSEDistillLoss import MSEDistillLoss
from .OpticalLoss import OpticalLoss
from .UnbalancedOpticalLoss import UnbalancedOpticalLoss

LOSS_METHODS = ("mse", "optical", "optical+mse")


def create_loss(method: str, **cfg: object) -> nn.Module:
    """The loss for a distillation method; ``cfg`` holds its hyperparameters.

    - ``"mse"``: :class:`MSEDistillLoss` (no options).
    - ``"optical"``: :class:`OpticalLoss` (``reg``, ``cost``, ``n_iter``, ``tol``, ``grad``).
    - ``"optical+mse"``: :class:`CombinedLoss` of both; ``optical_weight`` and ``mse_weight`` go to it,
      the rest to :class:`OpticalLoss`.
    """
    if method == "mse":
        return MSEDistillLoss(**cfg)
    if method == "optical":
        return OpticalLoss(**cfg)
    if method == "optical+mse":
        weights = {key: cfg.pop(key) for key in ("optical_weight", "mse_weight") if key in cfg}
        return CombinedLoss(OpticalLoss(**cfg), MSEDistillLoss(), **weights)
    raise ValueError(f"unknown loss method {method!r}; expected one of {LOSS_METHODS}")


__all__ = [
    "LOSS_METHODS",
    "CombinedLoss",
    "IdfOpticalLoss",
    "MSEDistillLoss",
    "OpticalLoss",
    "UnbalancedOpticalLoss",
    "create_loss",
]
