"""Teacher training: symmetric InfoNCE between English captions and frozen image-tower features (LiT style), on
pooled vectors or, for a late teacher, on FILIP's token-to-region score."""

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
from optical.scoring import Padded, late_scores


def clip_loss(text: torch.Tensor, image: torch.Tensor, groups: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with soft targets for interchangeable images.

    text, image : (B, D) L2-normalised embeddings of matching pairs; groups : (B,) int, equal ids mark pairs
    whose captions are identical (any of them is a correct match, so the target mass is spread over them).
    """
    return contrastive_loss(text.float() @ image.float().T, groups, logit_scale)


def contrastive_loss(scores: torch.Tensor, groups: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over ``scores`` (B, B), caption i against image j (cosines, or late scores), matching
    pairs on the diagonal; ``groups`` as in ``clip_loss``; ``logit_scale`` the log inverse temperature."""
    logits = logit_scale.exp().clamp(max=100) * scores.float()  # (B, B)
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
    regions: tuple[Padded, torch.Tensor] | None = None,
) -> TrainState:
    """Fit ``teacher`` on (caption, image feature) pairs; ``image_features`` is (N, image_dim), aligned with captions.

    A late teacher (``teacher.scoring == "late"``) needs ``regions``: (the images' region features (I, R,
    image_dim), (N,) each caption's row), and trains on ``late_scores`` of its projected token states (padding
    out) against its projected regions; a pooled teacher on the cosine of the sentence and image embeddings.

    Under several processes each rank embeds its shard and the negatives of the other shards are gathered
    without gradient (open_clip's default), so the loss matches one process up to that gradient term.
    ``prefix``, built over ``captions``, skips recomputing the frozen layers at every step.
    """
    group_ids = torch.tensor(_group_ids(groups))
    feats = image_features.float()
    late = teacher.scoring == "late"
    if late and regions is None:
        raise ValueError("a late teacher trains on region features: pass regions=(bank, caption rows)")

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        out = forward_texts(teacher, captions, idx, prefix, info.device)
        g = group_ids[idx].to(info.device)
        if late:
            return _late_loss(teacher, out, regions[0].rows(regions[1][idx]), g, info)
        text = nn.functional.normalize(out["sentence_embedding"].float(), dim=-1)
        image = teacher.encode_image_features(feats[idx].to(info.device)).float()
        if info.distributed:
            text, image, g = (_gather_keep_local(t, info) for t in (text, image, g))
        return clip_loss(text, image, g, teacher.logit_scale)

    return fit(teacher, loss_fn, len(captions), config, info, work_dir, validate=validate, desc="teacher")


def _late_loss(teacher: DualEncoder, out: dict[str, torch.Tensor], regions: Padded, groups: torch.Tensor,
               info: DistInfo) -> torch.Tensor:
    """InfoNCE on late scores of a batch: token states (B, L, D) against its images' projected regions (B, R, D)."""
    tokens, mask = out["token_embeddings"].float(), out["attention_mask"].bool()
    image = teacher.encode_image_features(regions.values.to(info.device), normalize=False).float()  # (B, R, D)
    image_mask = regions.mask.to(info.device)
    if info.distributed:  # every rank's batch padded to the longest caption and region set of all, then gathered
        tokens, mask = _pad_to_widest(tokens, info), _pad_to_widest(mask.to(torch.uint8), info)
        image, image_mask = _pad_to_widest(image, info), _pad_to_widest(image_mask.to(torch.uint8), info)
        tokens, mask, image, image_mask, groups = (_gather_keep_local(t, info)
                                                   for t in (tokens, mask, image, image_mask, groups))
        mask, image_mask = mask.bool(), image_mask.bool()  # gathered as bytes (not every backend sends bool)
    scores = late_scores(tokens, mask, image, image_mask, chunk=max(len(tokens), len(image)))  # (B, B)
    return contrastive_loss(scores, groups, teacher.logit_scale)


def _pad_to_widest(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """``x`` (B, S, ...) zero-padded along S to the largest S of all ranks."""
    width = torch.tensor([x.shape[1]], device=x.device)
    dist.all_reduce(width, op=dist.ReduceOp.MAX)
    pad = int(width.item()) - x.shape[1]
    if pad == 0:
        return x
    return torch.cat([x, x.new_zeros((x.shape[0], pad, *x.shape[2:]))], dim=1)


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
