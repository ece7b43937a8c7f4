"""The one training loop shared by the teacher and every student: epochs, data-parallel shards, checkpoints.

The caller supplies ``loss_fn(indices) -> scalar`` for a batch of example indices; this module owns the order of
the examples, the optimiser, mixed precision, gradient averaging across processes, per-epoch checkpoints,
resuming, and early stopping on a validation score.

Frozen modules (no parameter of theirs trains) run in eval mode while the rest trains (``train_mode``): they are a
fixed feature extractor, without dropout, exactly as the frozen-layer cache (``optical.distill._prefix``) computes
them, so training with and without that cache is the same computation.

Determinism: epoch ``e`` shuffles with seed ``seed * 1000 + e`` and re-seeds torch (dropout) the same way, so a
run resumed from the checkpoint of epoch ``e`` continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from optical.store import atomic_dir
from optical.config import TrainConfig
from optical.distill.distributed import (
    DistInfo,
    any_rank,
    average_gradients,
    barrier,
    broadcast_object,
    is_main_process,
)
from optical.errors import NonFiniteError

_STATE = "trainer_state.json"
_OPTIM = "optimizer.pt"
_MODEL = "model"


@dataclass
class TrainState:
    """What a checkpoint records besides the weights."""

    epoch: int = 0  # epochs finished
    step: int = 0
    best_score: float | None = None  # best validation score (None without validation)
    best_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    first_step: dict | None = None  # what ``fit``'s ``first_step`` recorded at step 0 (None: not asked, or older)


def fit(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    n_examples: int,
    config: TrainConfig,
    info: DistInfo,
    work_dir: Path,
    *,
    validate: Callable[[], float] | None = None,
    head_names: tuple[str, ...] = ("proj", "image_proj", "logit_scale"),
    desc: str = "train",
    on_epoch: Callable[[TrainState], None] | None = None,
    first_step: Callable[[torch.Tensor], tuple[torch.Tensor, dict]] | None = None,
) -> TrainState:
    """Train ``model`` in place for ``config.epochs`` and leave its best (or last) weights in it.

    ``model`` must offer ``save(path)`` and ``load_weights(path)`` (the optical model folders, which store only
    the trained tensors on top of their base). ``work_dir/checkpoint/`` holds the weights after the last finished
    epoch (``model/``), ``optimizer.pt`` (trainable parameters only; not after the last epoch) and
    ``trainer_state.json``; when present they are resumed from. With ``validate`` (higher is better), the best
    epoch's weights are kept in ``work_dir/best/`` (hard links to that epoch's checkpoint files) and restored
    at the end; training stops after ``config.patience`` epochs without improvement. Under several processes only
    rank 0 calls ``validate`` and its score is broadcast, so every rank keeps the same best epoch and stops at the
    same epoch.

    ``first_step(shard) -> (loss, record)``, when given, replaces ``loss_fn`` at the run's very first step (step 0;
    not at a resume past it): the same loss plus a JSON-able record (``train_student``: the gradient norms of the
    loss's terms), kept in ``TrainState.first_step`` and so in every checkpoint, where a resumed run finds it.
    Every later step calls ``loss_fn`` alone.
    """
    if n_examples <= 0:
        raise ValueError(f"{desc}: no training examples")
    optimizer = _optimizer(model, config, head_names)
    checkpoint_dir, best_dir = work_dir / "checkpoint", work_dir / "best"
    state = _resume(model, optimizer, checkpoint_dir)
    trainable = [p for p in model.parameters() if p.requires_grad]
    autocast = autocast_context(info.device, config.precision)
    while state.epoch < config.epochs and not _stopped(state, config, validate):
        epoch = state.epoch
        torch.manual_seed(config.seed * 1000 + epoch)
        order = torch.randperm(n_examples, generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        # every process takes a shard of each global batch; a last batch smaller than the world is dropped so no
        # process ever has an empty shard (losses that gather across processes need every rank to take part)
        batches = [b for b in order.split(config.batch_size) if len(b) >= info.world_size]
        train_mode(model)
        total = 0.0
        bar = tqdm(batches, desc=f"{desc} epoch {epoch + 1}/{config.epochs}", disable=not is_main_process(info))
        for i, batch in enumerate(bar):
            shard = batch[info.rank :: info.world_size]
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                if first_step is not None and state.step == 0:
                    loss, state.first_step = first_step(shard)
                else:
                    loss = loss_fn(shard)
            where = (desc, epoch, config.epochs, i + 1, len(batches), state.epoch, checkpoint_dir)
            value = float(loss.detach())
            if any_rank(not math.isfinite(value), info):  # every rank stops at the same step
                raise _diverged(f"loss is {value}" if not math.isfinite(value) else "loss of another process is not "
                                "finite", *where)
            loss.backward()
            average_gradients(trainable, info)
            # the norm (identical on every rank once averaged) also clips; an infinite bound leaves the gradients be
            norm = nn.utils.clip_grad_norm_(trainable, config.grad_clip or float("inf"))
            if not torch.isfinite(norm):  # before the step: no non-finite weight is ever made, nor checkpointed
                raise _diverged(f"gradient norm is {float(norm)}", *where)
            optimizer.step()
            state.step += 1
            total += value
            bar.set_postfix(loss=f"{value:.4f}")
        state.epoch = epoch + 1
        record = {"epoch": state.epoch, "loss": total / max(1, len(batches))}
        if validate is not None:  # rank 0 scores, every rank follows: a near-tie must not split the ranks' epochs
            record["val"] = score = broadcast_object(float(validate()) if is_main_process(info) else None, info)
            if state.best_score is None or score > state.best_score:
                state.best_score, state.best_epoch = score, state.epoch
        state.history.append(record)
        if is_main_process(info):
            finished = state.epoch >= config.epochs or _stopped(state, config, validate)
            _save_checkpoint(model, None if finished else optimizer, state, checkpoint_dir)
            if validate is not None and state.best_epoch == state.epoch:
                _link_tree(checkpoint_dir / _MODEL, best_dir)
        barrier(info)
        if on_epoch is not None:
            on_epoch(state)
    if validate is not None and best_dir.is_dir():
        model.load_weights(best_dir)
    return state


def _diverged(
    what: str, desc: str, epoch: int, epochs: int, step: int, steps: int, finished: int, checkpoint_dir: Path
) -> NonFiniteError:
    """The error that stops training at a non-finite ``what`` (the loss, the gradient norm) in 0-based ``epoch``,
    1-based ``step`` of ``steps``; ``finished`` epochs have a checkpoint in ``checkpoint_dir``, which is kept."""
    kept = (f"the checkpoint of epoch {finished} in {checkpoint_dir} is kept for --resume" if finished
            else "no epoch had finished, so --resume starts it over")
    return NonFiniteError(f"{desc}: the training {what} at epoch {epoch + 1}/{epochs}, step {step}/{steps}; "
                          f"training stopped and {kept}")


def train_mode(model: nn.Module) -> None:
    """``model.train()``, except that every module none of whose parameters requires grad stays in eval mode
    (no dropout in frozen layers, as ``FrozenPrefix`` computes them)."""
    model.train()
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


def autocast_context(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision="bf16"`` (or ``"auto"`` on CUDA); a no-op for fp32.

    The OT plan is computed in fp32 whatever this says (``optical.transport`` casts up).
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"unknown precision {precision!r}; expected auto, bf16 or fp32")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _optimizer(model: nn.Module, config: TrainConfig, head_names: tuple[str, ...]) -> torch.optim.Optimizer:
    """AdamW with a larger learning rate for the freshly initialised heads than for the pre-trained tower."""
    heads, tower = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (heads if name.split(".")[0] in head_names else tower).append(p)
    groups = [{"params": g, "lr": lr} for g, lr in ((tower, config.lr), (heads, config.head_lr)) if g]
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def _stopped(state: TrainState, config: TrainConfig, validate: Callable | None) -> bool:
    return validate is not None and state.epoch - state.best_epoch >= config.patience


def _save_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer | None, state: TrainState, path: Path) -> None:
    """Replace ``path`` atomically with weights, optimiser state and trainer state.

    ``optimizer`` is None after the last epoch: a resume from there trains no more, so its state is not written.
    """
    with atomic_dir(path) as tmp:
        model.save(tmp / _MODEL)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / _OPTIM)
        (tmp / _STATE).write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")


def _link_tree(source: Path, target: Path) -> None:
    """Replace ``target`` atomically with hard links to the files of ``source`` (a copy where links fail).

    The best epoch's weights are the checkpoint's files, linked: they cost no second write, and survive the
    next epoch's checkpoint replacing ``source``.
    """
    with atomic_dir(target) as tmp:
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            dest = tmp / file.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(file, dest)
            except OSError:
                shutil.copy2(file, dest)


def _resume(model: nn.Module, optimizer: torch.optim.Optimizer, path: Path) -> TrainState:
    """Load the last checkpoint into ``model`` and ``optimizer`` if there is one; else a fresh TrainState."""
    state_file = path / _STATE
    if not state_file.is_file():
        return TrainState()
    model.load_weights(path / _MODEL)
    if (path / _OPTIM).is_file():  # absent once training finished: nothing left to train
        optimizer.load_state_dict(torch.load(path / _OPTIM, weights_only=True))
    return TrainState(**json.loads(state_file.read_text(encoding="utf-8")))
