"""Teachers shared across runs, content-addressed by what they depend on.

A teacher depends only on the teacher settings, the English train/val data and the seed (``teacher_key``), so runs
that differ elsewhere (loss settings, bitext budget, languages, methods) train it once: it is kept in
``cache/teachers/<key>/`` (written atomically) and, within one process, in memory. What students share beyond the
teacher (its token states of the English bitext and the frozen layers' outputs) is kept in memory by the runner
under a key built on this one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from optical.store import TEACHER_TRAINING, atomic_dir, atomic_write_json, teachers_dir
from optical.config import ExperimentConfig
from optical.distill import DualEncoder
from optical.experiment._data import ExperimentData

T = TypeVar("T")

# ExperimentConfig fields the teacher depends on (``teacher`` holds its TrainConfig, seed included)
TEACHER_FIELDS = (
    "dataset", "root", "images", "text_encoder", "image_encoder", "teacher_model", "embed_dim", "teacher",
    "teacher_train_layers", "teacher_sources", "prototype_template", "prototype_synonyms", "prototype_scale", "seed",
)  # the extra teacher sources (openclipart, imagenet-prototypes) are named here; their prepared data is deterministic
LATE_FIELDS = ("scoring", "region_grid")  # in the key of late teachers only: pooled teachers keep the keys they had
MEMORY_SLOTS = 2  # teachers (and student inputs) kept in memory per process; a sweep runs one seed's points in a row
_MEMORY: OrderedDict[str, DualEncoder] = OrderedDict()
_SHARED: OrderedDict[str, object] = OrderedDict()  # memo key -> what students share (the runner's _Distillation)


def teacher_key(config: ExperimentConfig, data: ExperimentData) -> str:
    """A 16-hex-digit hash of ``TEACHER_FIELDS`` (and ``LATE_FIELDS`` for a late teacher) and the teacher's data (captions, groups and image features of the
    English train and val splits)."""
    settings = config.to_dict()
    fields = TEACHER_FIELDS + (LATE_FIELDS if config.scoring == "late" else ())
    digest = hashlib.sha256(json.dumps({k: settings[k] for k in fields}, sort_keys=True).encode("utf-8"))
    for pairs in (data.train, data.val):
        digest.update(json.dumps([pairs.captions, pairs.caption_groups()]).encode("utf-8"))
        digest.update(pairs.features.float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def teacher_dir(key: str) -> Path:
    return teachers_dir() / key


def shared_teacher(key: str, device: torch.device) -> DualEncoder | None:
    """The teacher ``key`` from this process's memory, else from ``cache/teachers/<key>/``; None when neither has it."""
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key].to(device).eval()
    if not (teacher_dir(key) / "optical_model.json").is_file():
        return None
    teacher = DualEncoder.load(teacher_dir(key)).to(device).eval()
    remember_teacher(key, teacher)
    return teacher


def remember_teacher(key: str, teacher: DualEncoder) -> None:
    """Keep ``teacher`` in memory under ``key`` (the least recently used beyond ``MEMORY_SLOTS`` is dropped)."""
    _MEMORY[key] = teacher
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > MEMORY_SLOTS:
        _MEMORY.popitem(last=False)


def store_teacher(key: str, teacher: DualEncoder, training: dict | None = None) -> None:
    """Write ``teacher`` to ``cache/teachers/<key>/`` atomically (kept when already there), with ``training`` (the
    epoch its validation chose: ``best_epoch``, ``epochs_run``, ``val_mR``) as ``training.json`` beside it."""
    if not (teacher_dir(key) / "optical_model.json").is_file():
        with atomic_dir(teacher_dir(key)) as tmp:
            teacher.save(tmp)
            if training is not None:
                atomic_write_json(tmp / TEACHER_TRAINING, training)


def link_teacher(key: str, target: Path) -> None:
    """Give a run its teacher folder ``target`` as hard links to ``cache/teachers/<key>/`` (copies where the file
    system has no hard links), atomically: no second copy of the weights on disk."""
    source = teacher_dir(key)
    with atomic_dir(target) as tmp:
        for file in source.rglob("*"):
            if file.is_file():
                out = tmp / file.relative_to(source)
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(file, out)
                except OSError:
                    shutil.copy2(file, out)


def shared_inputs(memo: str, build: Callable[[], T]) -> T:
    """``build()``'s result, kept in memory under ``memo`` (a key built on a teacher key) for later runs in this
    process; the least recently used beyond ``MEMORY_SLOTS`` is dropped."""
    if memo not in _SHARED:
        _SHARED[memo] = build()
        while len(_SHARED) > MEMORY_SLOTS:
            _SHARED.popitem(last=False)
    _SHARED.move_to_end(memo)
    return _SHARED[memo]  # type: ignore[return-value]


def forget_shared() -> None:
    """Drop the in-memory teachers and student inputs (tests, benches: the next run starts as a fresh process)."""
    _MEMORY.clear()
    _SHARED.clear()
