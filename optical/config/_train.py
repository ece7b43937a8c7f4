"""Settings of the training loop: ``TrainConfig``, the precisions it takes and the device names ``--device`` takes.

Config validation and the CLI's argument checks read them before torch is imported, so a bad argument fails at
once; ``optical.distill.train`` and ``optical.distill.distributed`` use them with torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from optical.errors import InputError

DEVICE_HELP = "auto, cpu, cuda or cuda:N"
PRECISIONS = ("auto", "bf16", "fp32")  # TrainConfig.precision, as optical.distill.train.autocast_context reads it
_DEVICE = re.compile(r"cuda(?::(\d+))?")


@dataclass
class TrainConfig:
    """Optimisation settings (the experiment config holds one for the teacher and one for the students)."""

    epochs: int = 2
    batch_size: int = 64
    lr: float = 5e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    patience: int = 2  # epochs without a better validation score before stopping (when a score is given)
    precision: str = "auto"  # "auto": bf16 autocast on CUDA, fp32 on CPU; "bf16" or "fp32" to force


def cuda_index(name: object) -> int | None:
    """The ``N`` of a device name ``cuda:N`` (-1 for plain ``cuda``: this process's GPU), None for ``auto`` and
    ``cpu``; InputError for anything else (whether CUDA is present is checked when torch resolves it)."""
    if name in ("auto", "cpu"):
        return None
    match = _DEVICE.fullmatch(name) if isinstance(name, str) else None
    if not match:
        raise InputError(f"unknown device {name!r}: expected {DEVICE_HELP}")
    return int(match.group(1)) if match.group(1) is not None else -1
