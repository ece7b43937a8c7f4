"""The late-interaction teacher: its scoring saved with it, token states and region embeddings, training on late
scores (alone and under two processes), and the contrastive loss shared with the pooled teacher."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from optical.config import TrainConfig
from optical.distill import DualEncoder
from optical.distill._teacher import clip_loss, contrastive_loss, train_teacher
from optical.distill.distributed import DistInfo
from optical.scoring import Padded, late_scores
from tests.fakes import CAPTIONS, tiny_text_encoder

CPU = DistInfo()
REPO = Path(__file__).resolve().parents[2]


def _late(seed: int = 0) -> DualEncoder:
    torch.manual_seed(seed)
    teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=6, scoring="late")
    teacher.freeze(-1)
    return teacher


def _bank(n_images: int, regions: int = 4) -> tuple[Padded, torch.Tensor]:
    """Random region features of ``n_images`` images (the last one a one-region image) and one caption each."""
    values = torch.randn(n_images, regions, 6).half()
    mask = torch.ones(n_images, regions, dtype=torch.bool)
    mask[-1, 1:] = False
    return Padded(values.masked_fill(~mask[..., None], 0), mask), torch.arange(n_images)


def test_scoring_is_saved_with_the_teacher_and_checked(tmp_path):
    teacher = _late()
    teacher.save(tmp_path / "t")
    assert DualEncoder.load(tmp_path / "t").scoring == "late"
    pooled = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=6)
    pooled.save(tmp_path / "p")
    assert DualEncoder.load(tmp_path / "p").scoring == "pooled"
    with pytest.raises(ValueError, match="scoring"):
        DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=6, scoring="colbert")


def test_token_states_and_region_embeddings_are_what_the_scorer_reads():
    teacher = _late()
    texts = ["a dog", "the big red house on the hill"]
    states = teacher.encode_tokens(texts)
    features = {k: v for k, v in teacher.tokenize(texts).items()}
    with torch.no_grad():
        out = teacher(features)
    mask = out["attention_mask"].bool()
    assert torch.equal(states.mask, mask)
    torch.testing.assert_close(states.values[mask], out["token_embeddings"][mask])
    assert float(states.values[~mask].abs().sum()) == 0
    bank, _ = _bank(3)
    embedded = teacher.embed_regions(bank)
    assert embedded.values.shape == (3, 4, 8) and torch.equal(embedded.mask, bank.mask)
    torch.testing.assert_close(embedded.values[bank.mask].norm(dim=-1), torch.ones(int(bank.mask.sum())))
    assert float(embedded.values[~bank.mask].abs().sum()) == 0  # padding stays zero


def test_contrastive_loss_on_cosines_is_clip_loss():
    text = torch.nn.functional.normalize(torch.randn(5, 4), dim=-1)
    image = torch.nn.functional.normalize(torch.randn(5, 4), dim=-1)
    groups, scale = torch.tensor([0, 1, 1, 2, 3]), torch.tensor(2.0)
    torch.testing.assert_close(contrastive_loss(text @ image.T, groups, scale), clip_loss(text, image, groups, scale))


def test_a_late_teacher_learns_on_late_scores_and_needs_regions(tmp_path):
    teacher = _late()
    bank, rows = _bank(len(CAPTIONS))
    config = TrainConfig(epochs=6, batch_size=4, lr=1e-3, head_lr=3e-2, patience=10)
    before = teacher.image_proj.weight.detach().clone()
    state = train_teacher(teacher, CAPTIONS, torch.zeros(len(CAPTIONS), 6), CAPTIONS, config, CPU, tmp_path / "w",
                          regions=(bank, rows))
    assert state.history[-1]["loss"] < state.history[0]["loss"]
    assert not torch.equal(before, teacher.image_proj.weight)  # the image head learns through the regions
    # the trained teacher ranks each caption's own image first more often than chance by its late score
    scores = late_scores(teacher.encode_tokens(CAPTIONS).values, teacher.encode_tokens(CAPTIONS).mask,
                         teacher.embed_regions(bank).values, bank.mask)
    assert float((scores.argmax(1) == torch.arange(len(CAPTIONS))).float().mean()) > 1 / len(CAPTIONS)
    with pytest.raises(ValueError, match="region features"):
        train_teacher(_late(), CAPTIONS, torch.zeros(8, 6), CAPTIONS, config, CPU, tmp_path / "x")


def test_late_teacher_training_under_two_processes_matches_one(tmp_path):
    """Gathered negatives with captions and region sets of different lengths per rank: the first step's loss on
    two gloo processes equals one process's on the whole batch (gradients differ only by the gathered term)."""
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        import sys, torch, torch.distributed as dist
        sys.path.insert(0, {str(REPO)!r})
        from optical.config import TrainConfig
        from optical.distill.distributed import DistInfo
        from optical.distill._teacher import train_teacher
        from tests.distill.test_late_teacher import _bank, _late
        from tests.fakes import CAPTIONS
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        info = DistInfo(rank=rank, world_size=world, local_rank=rank, device=torch.device("cpu"))
        teacher, (bank, rows) = _late(), _bank(len(CAPTIONS))
        state = train_teacher(teacher, CAPTIONS, torch.zeros(8, 6), CAPTIONS, TrainConfig(epochs=1, batch_size=8),
                              info, __import__("pathlib").Path(sys.argv[1]), regions=(bank, rows))
        if rank == 0:
            print("LOSS", state.history[0]["loss"])
        dist.destroy_process_group()
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           "29631", str(script), str(tmp_path / "w")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    two = float(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("LOSS")))
    teacher, (bank, rows) = _late(), _bank(len(CAPTIONS))
    one = train_teacher(teacher, CAPTIONS, torch.zeros(8, 6), CAPTIONS, TrainConfig(epochs=1, batch_size=8), CPU,
                        tmp_path / "one", regions=(bank, rows))
    assert two == pytest.approx(one.history[0]["loss"], rel=1e-4)


def test_shared_prefix_token_states_equal_each_models_own():
    """``shared_prefix_embeddings(tokens=True)`` (what ``optical eval`` of a late run reads): the bottom layer run
    once for both models gives each model's own ``encode_tokens``, in the order of the texts."""
    from optical.distill import shared_prefix_embeddings, transformer_layers

    teacher = _late()
    student = teacher.text_side()
    with torch.no_grad():  # the student's top layer differs from the teacher's, its bottom one is shared
        for p in transformer_layers(student.text.model)[-1].parameters():
            p.add_(0.05 * torch.randn_like(p))
    texts = ["the big red house on the hill", "a dog", "ein roter apfel und ein baum", "a cat"]
    shared = shared_prefix_embeddings({"t": teacher, "s": student}, texts, n_frozen=1, batch_size=3, tokens=True)
    for name, model in (("t", teacher), ("s", student)):
        own = model.encode_tokens(texts)
        assert torch.equal(shared[name].mask, own.mask)
        torch.testing.assert_close(shared[name].values, own.values, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(shared["t"].values, shared["s"].values)
