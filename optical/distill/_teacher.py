"""Teacher training: symmetric InfoNCE between English captions and frozen image-tower features (LiT style)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from optical.config import TrainConfig
from optical.distill._models import DualEncoder
from optical.distill._prefix import FrozenPrefix, forward_texts
from optical.distill.distributed import DistInfo
from optical.distill.train import TrainState, fit


def clip_loss(text: torch.Tensor, image: torch.Tensor, groups: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with soft targets for interchangeable images.

    text, image : (B, D) L2-normalised embeddings of matching pairs; groups : (B,) int, equal ids mark pairs
    whose captions are identical (any of them is a correct match, so the target mass is spread over them).
    """
    logits = logit_scale.exp().clamp(max=100) * text.float() @ image.float().T  # (B, B)
    same = (groups[:, None] == groups[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (nn.functional.cross_entropy(logits, targets) + nn.functional.cross_entropy(logits.T, targets))


def train_teacher(
    teacher: DualEncoder,
    captions: list[str],
    image_features: torch.Tensor,
    groups: list[str],
    config: TrainConfig,
    info: DistInfo,
    work_dir: Path,
    *,
    validate: Callable[[], float] | None = None,
    prefix: FrozenPrefix | None = None,
) -> TrainState:
    """Fit ``teacher`` on (caption, image feature) pairs; ``image_features`` is (N, image_dim), aligned with captions.

    Under several processes each rank embeds its shard and the negatives of the other shards are gathered
    without gradient (open_clip's default), so the loss matches one process up to that gradient term.
    ``prefix``, built over ``captions``, skips recomputing the frozen layers at every step.
    """
    group_ids = torch.tensor(_group_ids(groups))
    feats = image_features.float()

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        out = forward_texts(teacher, captions, idx, prefix, info.device)
        text = nn.functional.normalize(out["sentence_embedding"].float(), dim=-1)
        image = teacher.encode_image_features(feats[idx].to(info.device)).float()
        g = group_ids[idx].to(info.device)
        if info.distributed:
            text, image, g = (_gather_keep_local(t, info) for t in (text, image, g))
        return clip_loss(text, image, g, teacher.logit_scale)

    return fit(teacher, loss_fn, len(captions), config, info, work_dir, validate=validate, desc="teacher")


def _group_ids(groups: list[str]) -> list[int]:
    ids: dict[str, int] = {}
    return [ids.setdefault(g, len(ids)) for g in groups]


def _gather_keep_local(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate ``x`` from all ranks; only this rank's slice keeps its gradient. Shards may differ in size."""
    size = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(info.world_size)]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros((longest, *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[: x.shape[0]] = x.detach()
    parts = [torch.zeros_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    parts = [p[: int(s.item())] for p, s in zip(parts, sizes)]
    parts[info.rank] = x
    return torch.cat(parts)
