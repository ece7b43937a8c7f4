"""Teacher and students train on tiny models: every method, resume after a kill, DDP on 2 CPU processes."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from optical.distill._models import DualEncoder
from optical.distill._student import teacher_targets, train_student
from optical.distill._teacher import clip_loss, train_teacher
from optical.distill.distributed import DistInfo
from optical.distill.losses import create_loss
from optical.distill.train import TrainConfig
from tests.tiny_models import tiny_text_encoder

CAPTIONS = ["a red apple", "a green tree", "the blue car", "a dog", "a cat", "the house", "a boat", "a bird"]
FOREIGN = ["ein roter apfel", "der baum", "das auto", "der hund", "die katze", "das haus", "das boot", "der vogel"]
CPU = DistInfo()


def _teacher(tmp_path: Path) -> DualEncoder:
    teacher = DualEncoder(tiny_text_encoder(tmp_path), embed_dim=8, image_dim=6)
    teacher.freeze(-1)
    return teacher


def test_clip_loss_soft_targets_for_identical_captions():
    text = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]), dim=-1)
    image = text.clone()
    scale = torch.tensor(4.0)
    swapped = image[[1, 0, 2]]
    # pairs 0 and 1 are one group (identical captions): which of their images comes first does not matter
    groups = torch.tensor([0, 0, 1])
    assert torch.allclose(clip_loss(text, image, groups, scale), clip_loss(text, swapped, groups, scale))
    # as separate groups, swapping their images is a mistake the loss sees
    distinct = torch.tensor([0, 1, 2])
    assert clip_loss(text, swapped, distinct, scale) > clip_loss(text, image, distinct, scale) + 0.1


def test_teacher_learns_and_keeps_best_epoch(tmp_path):
    torch.manual_seed(0)
    teacher = _teacher(tmp_path)
    feats = torch.randn(len(CAPTIONS), 6)
    config = TrainConfig(epochs=4, batch_size=4, lr=1e-3, head_lr=1e-2, patience=10)
    scores = iter([1.0, 3.0, 2.0, 0.5])
    state = train_teacher(
        teacher, CAPTIONS, feats, CAPTIONS, config, CPU, tmp_path / "work", validate=lambda: next(scores)
    )
    assert [h["epoch"] for h in state.history] == [1, 2, 3, 4]
    assert state.best_epoch == 2 and state.best_score == 3.0
    assert state.history[-1]["loss"] < state.history[0]["loss"]
    best = DualEncoder.load(tmp_path / "work" / "best")
    assert torch.allclose(best.image_proj.weight, teacher.image_proj.weight)


def test_early_stopping_stops_after_patience(tmp_path):
    teacher = _teacher(tmp_path)
    config = TrainConfig(epochs=10, batch_size=4, patience=2)
    state = train_teacher(
        teacher, CAPTIONS, torch.randn(8, 6), CAPTIONS, config, CPU, tmp_path / "w", validate=lambda: 1.0
    )
    assert state.epoch == 3  # best at 1, then two epochs without improvement


@pytest.mark.parametrize("method", ["mse", "optical", "optical+mse"])
def test_student_methods_reduce_their_loss(tmp_path, method):
    torch.manual_seed(0)
    teacher = _teacher(tmp_path)
    targets = teacher_targets(teacher, CAPTIONS)
    assert len(targets.token_embeddings) == len(CAPTIONS)
    student = teacher.text_side()
    student.freeze(-1)
    loss = create_loss(method, **({} if method == "mse" else {"reg": 0.1}))

    def full_loss() -> float:
        with torch.no_grad():
            return float(loss(student(student.tokenize(FOREIGN)), targets.batch(torch.arange(8), CPU.device)))

    before = full_loss()
    config = TrainConfig(epochs=8, batch_size=8, lr=1e-4, head_lr=1e-4)
    train_student(student, targets, list(range(8)), FOREIGN, loss, config, CPU, tmp_path / "s")
    student.eval()
    assert full_loss() < 0.98 * before
    # the teacher is untouched by distillation
    assert not any(p.grad is not None for p in teacher.parameters())


def test_resume_continues_exactly(tmp_path):
    def run(work: Path, epochs: int) -> torch.Tensor:
        torch.manual_seed(0)
        teacher = _teacher(tmp_path)
        student = teacher.text_side()
        student.freeze(-1)
        targets = teacher_targets(teacher, CAPTIONS)
        config = TrainConfig(epochs=epochs, batch_size=4, lr=1e-3)
        train_student(student, targets, list(range(8)), FOREIGN, create_loss("mse"), config, CPU, work)
        return student.proj.weight.detach().clone()

    straight = run(tmp_path / "a", 3)
    run(tmp_path / "b", 1)  # "killed" after epoch 1: its checkpoint is all that is left
    state = json.loads((tmp_path / "b" / "checkpoint" / "trainer_state.json").read_text())
    assert state["epoch"] == 1
    resumed = run(tmp_path / "b", 3)
    assert torch.allclose(straight, resumed, atol=1e-6)


DDP_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from pathlib import Path
    from optical.distill._models import DualEncoder
    from optical.distill._student import teacher_targets, train_student
    from optical.distill.distributed import init_distributed, is_main_process
    from optical.distill.losses import create_loss
    from optical.distill.train import TrainConfig
    from tests.tiny_models import tiny_text_encoder
    from tests.distill.test_training import CAPTIONS, FOREIGN

    out = Path(sys.argv[1])
    info = init_distributed("cpu")
    torch.manual_seed(0)
    teacher = DualEncoder(tiny_text_encoder(out / f"tok{info.rank}"), embed_dim=8, image_dim=6)
    student = teacher.text_side()
    student.freeze(-1)
    targets = teacher_targets(teacher, CAPTIONS)
    config = TrainConfig(epochs=2, batch_size=4, lr=1e-3)
    train_student(student, targets, list(range(8)), FOREIGN, create_loss("optical+mse", reg=0.1), config, info, out / "work")
    if is_main_process(info):
        torch.save(student.proj.weight.detach(), out / "weight.pt")
    """
)


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    weights = []
    for nproc in (1, 2):
        out = tmp_path / f"n{nproc}"
        out.mkdir()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
               "--master_port", str(29500 + nproc), str(script), str(out)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        weights.append(torch.load(out / "weight.pt", weights_only=True))
    # same data, same global batch, gradients averaged: equal up to float summation order (Adam amplifies it)
    diff = (weights[0] - weights[1]).abs().max().item()
    assert diff < 1e-4, diff


def test_frozen_prefix_matches_full_forward_and_training(tmp_path):
    from optical.distill._prefix import FrozenPrefix

    teacher = _teacher(tmp_path)
    assert FrozenPrefix.supported(teacher)
    # the tiny tower has 2 layers: no cache for -1 (all train) or 2 (all of them train)
    assert all(FrozenPrefix.for_top_layers(teacher, k, FOREIGN) is None for k in (-1, 2))
    idx = torch.tensor([3, 0, 5])
    with torch.no_grad():
        full = teacher(teacher.tokenize([FOREIGN[i] for i in idx]))
        heads_only = FrozenPrefix.for_top_layers(teacher, 0, FOREIGN)  # the whole tower cached: heads train
        assert heads_only.n_frozen == 2
        assert torch.allclose(full["sentence_embedding"], heads_only.forward(teacher, idx)["sentence_embedding"],
                              atol=1e-5)
    prefix = FrozenPrefix.for_top_layers(teacher, 1, FOREIGN)
    assert prefix is not None and prefix.n_frozen == 1
    with torch.no_grad():
        part = prefix.forward(teacher, idx)
    assert torch.allclose(full["sentence_embedding"], part["sentence_embedding"], atol=1e-5)
    mask = full["attention_mask"].bool()
    assert torch.allclose(full["token_embeddings"][mask], part["token_embeddings"][part["attention_mask"].bool()], atol=1e-5)

    targets = teacher_targets(teacher, CAPTIONS)
    weights = []
    for use_prefix in (False, True):
        torch.manual_seed(0)
        student = teacher.text_side()
        student.freeze(1)  # the top layer trains; layer 0 is the frozen prefix
        config = TrainConfig(epochs=2, batch_size=4, lr=1e-3)
        train_student(
            student, targets, list(range(8)), FOREIGN, create_loss("optical", reg=0.1), config, CPU,
            tmp_path / f"p{use_prefix}", prefix=prefix if use_prefix else None,
        )
        weights.append(student.proj.weight.detach().clone())
    assert torch.allclose(weights[0], weights[1], atol=1e-5)
