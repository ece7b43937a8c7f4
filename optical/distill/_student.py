"""Student distillation from bitext only: the frozen teacher reads the English side once, the student the foreign."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from optical.config import TrainConfig
from optical.distill._models import ProjectedTextEncoder
from optical.distill._prefix import FrozenPrefix, forward_texts
from optical.distill._tokens import TokenMass
from optical.distill.distributed import DistInfo, is_main_process, mean_over_processes
from optical.distill.losses.CombinedLoss import describe_gradient_ratio
from optical.distill.losses.OpticalLoss import ENGLISH
from optical.distill.train import TrainState, fit


@dataclass
class TeacherTargets:
    """The frozen teacher's outputs for N unique English sentences, computed once.

    token_embeddings : list of N tensors (L_i, D), non-padding tokens only, or (L_i, H) after transformer layer
    ``layer`` when it is not -1; sentence_embedding : (N, D); input_ids : list of N tensors (L_i,), the ids of those
    tokens (for the losses' token roles and weights). ``train_student`` reads the student's states of that layer.
    """

    token_embeddings: list[torch.Tensor]
    sentence_embedding: torch.Tensor
    input_ids: list[torch.Tensor]
    layer: int = -1  # LossConfig.layer: -1 the last layer's states projected, k >= 1 those after layer k

    def batch(self, idx: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        """Padded batch dict for ``idx`` (B,): token_embeddings (B, L, D), attention_mask and input_ids (B, L),
        sentence_embedding (B, D)."""
        tokens = [self.token_embeddings[i] for i in idx.tolist()]
        mask = [torch.ones(len(t), dtype=torch.long) for t in tokens]
        return {
            "token_embeddings": nn.utils.rnn.pad_sequence(tokens, batch_first=True).to(device),
            "attention_mask": nn.utils.rnn.pad_sequence(mask, batch_first=True).to(device),
            "input_ids": nn.utils.rnn.pad_sequence([self.input_ids[i] for i in idx.tolist()], batch_first=True).to(
                device
            ),
            "sentence_embedding": self.sentence_embedding[idx].to(device),
        }


@torch.no_grad()
def teacher_targets(
    teacher: ProjectedTextEncoder, english: list[str], batch_size: int = 64, layer: int = -1
) -> TeacherTargets:
    """Run the frozen teacher over ``english`` once (eval mode, fp32) and keep per-token states on the CPU: those
    of ``layer`` (``ProjectedTextEncoder.forward``)."""
    teacher.eval()
    device = next(teacher.parameters()).device
    tokens: list[torch.Tensor] = []
    ids: list[torch.Tensor] = []
    sentences = []
    for start in range(0, len(english), batch_size):
        feats = {k: v.to(device) for k, v in teacher.tokenize(english[start : start + batch_size]).items()}
        out = teacher(feats, layer)
        masks = out["attention_mask"].cpu()
        for states, row, mask in zip(out["token_embeddings"].float().cpu(), feats["input_ids"].cpu(), masks):
            tokens.append(states[mask.bool()].clone())
            ids.append(row[mask.bool()].clone())
        sentences.append(out["sentence_embedding"].float().cpu())
    return TeacherTargets(tokens, torch.cat(sentences) if sentences else torch.zeros(0, teacher.embed_dim), ids, layer)


def train_student(
    student: ProjectedTextEncoder,
    targets: TeacherTargets,
    english_index: list[int],
    foreign: list[str],
    loss: nn.Module,
    config: TrainConfig,
    info: DistInfo,
    work_dir: Path,
    desc: str = "student",
    prefix: FrozenPrefix | None = None,
    mass: TokenMass | None = None,
    *,
    english: list[str] | None = None,
    validate: Callable[[], float] | None = None,
) -> TrainState:
    """Fit ``student`` so its reading of ``foreign[k]`` matches the teacher's of English sentence ``english_index[k]``.

    ``loss(student_out, teacher_out) -> scalar`` is one of ``optical.distill.losses`` (MSE, OPTICAL, combined).
    When the loss ``uses_english`` (the English term, ``LossConfig.english``), ``english`` (the N unique English
    sentences the targets were computed from) is read by the student too: each batch forwards its unique English
    sentences once and adds the student's reading of each pair's English sentence to its output under ``english_``
    keys (``student_batch``): ``english_sentence_embedding`` (B, d) for the MSE term, ``english_token_embeddings``,
    ``english_attention_mask`` (and with ``mass`` ``english_token_roles``, ``english_token_weights``) for the
    token losses. ``prefix``, built over
    ``foreign + english`` (or ``foreign`` alone) with the student's frozen layers, skips recomputing them at every
    step. ``validate`` (higher is better) selects the best epoch and stops early (``fit``).
    ``mass`` adds ``token_roles`` and ``token_weights`` to both sides' batches (the OT losses' ``tokens`` option
    and :class:`~optical.distill.losses.IdfOpticalLoss` read them). The student's token states are those of the
    layer the targets hold (``targets.layer``), so the losses compare like with like.
    A loss with ``gradient_ratio`` (``optical+mse``) measures at the first step how large each term's gradient is
    w.r.t. the trainable parameters, before and after its weighting: one line on stderr, and the record in the
    returned state's ``first_step``. Under several processes, a loss with ``average`` (the scale-free
    ``optical+mse``) divides its terms by their mean over the processes.
    """
    if len(english_index) != len(foreign):
        raise ValueError(f"{len(english_index)} English indices for {len(foreign)} foreign sentences")
    uses_english = bool(getattr(loss, "uses_english", False))
    if uses_english and english is None:
        raise ValueError(f"{desc}: the loss reads the student's English embeddings; pass the English sentences")
    eng = torch.tensor(english_index)
    texts = foreign + (english if uses_english else [])
    if prefix is not None and len(prefix.states) < len(texts):
        raise ValueError(f"{desc}: the frozen-layer cache holds {len(prefix.states)} sentences, the loss reads "
                         f"{len(texts)} (foreign + English): build it over foreign + english")

    def outputs(idx: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The student's and the teacher's output dicts for the pairs ``idx``, as the loss reads them."""
        english_rows = eng[idx] + len(foreign) if uses_english else None
        out = student_batch(student, texts, idx, english_rows, prefix, info.device, targets.layer, mass)
        teacher_out = targets.batch(eng[idx], info.device)
        if mass is not None:
            teacher_out = mass.add(teacher_out, "teacher")
        return out, teacher_out

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        return loss(*outputs(idx))

    # a loss of several terms (optical+mse) says how large each one's gradient is at the first step: printed, and kept
    # in the returned state (``TrainState.first_step``); two extra autograd.grad calls, once
    gradient_ratio = getattr(loss, "gradient_ratio", None)
    trainable = [p for p in student.parameters() if p.requires_grad]

    def first_step(idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        value, record = gradient_ratio(*outputs(idx), trainable)
        if is_main_process(info):
            tqdm.write(f"{desc}: first step: {describe_gradient_ratio(record)}", file=sys.stderr)
        return value, record

    if info.distributed and hasattr(loss, "average"):  # scale-free terms divided by the global batch's values
        loss.average = functools.partial(mean_over_processes, info=info)
    return fit(student, loss_fn, len(foreign), config, info, work_dir, desc=desc, validate=validate,
               first_step=first_step if gradient_ratio is not None else None)


def student_batch(
    student: ProjectedTextEncoder,
    texts: list[str],
    idx: torch.Tensor,
    english_rows: torch.Tensor | None,
    prefix: FrozenPrefix | None,
    device: torch.device,
    layer: int = -1,
    mass: TokenMass | None = None,
) -> dict[str, torch.Tensor]:
    """The student's output dict for ``texts[idx]`` (B,), its reading of the foreign sentences (``forward_texts``,
    token states of ``layer``). ``english_rows`` (B,): the rows of ``texts`` holding each pair's English sentence
    (the English term), or None: the student also reads them, each distinct one once, and every entry of that
    output is added per pair under ``english_`` + its key (``english_sentence_embedding`` (B, d),
    ``english_token_embeddings`` (B, n', d), ``english_attention_mask`` (B, n'), ...). ``mass`` adds token roles
    and weights: the ``"student"`` side to the foreign rows, ``"student-english"`` to the English ones."""
    out = forward_texts(student, texts, idx, prefix, device, layer)
    if mass is not None:
        out = mass.add(out, "student")
    if english_rows is not None:
        unique, inverse = torch.unique(english_rows, return_inverse=True)  # the batch's English sentences, once each
        english = forward_texts(student, texts, unique, prefix, device, layer)
        if mass is not None:
            english = mass.add(english, "student-english")
        inverse = inverse.to(device)
        out = {**out, **{ENGLISH + key: value[inverse] for key, value in english.items()}}
    return out
