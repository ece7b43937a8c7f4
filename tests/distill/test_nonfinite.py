"""No silent garbage in training: a non-finite loss or gradient stops ``fit`` at its step, naming it, and the last
good checkpoint stays for resuming; token masks that keep no token are found from the token ids."""

import json

import pytest
import torch

from optical.distill._models import DualEncoder
from optical.distill._student import teacher_targets, train_student
from optical.distill.distributed import DistInfo
from optical.distill.losses import TokenMass, TokenRoles, create_loss, token_ids
from optical.config import TrainConfig
from optical.errors import NonFiniteError
from tests.fakes import CAPTIONS, FOREIGN, tiny_text_encoder

CPU = DistInfo()


def _train(work, epochs: int = 3, bad_step: int | None = None, bad_grad: bool = False) -> torch.Tensor:
    """Distil a tiny student with MSE (2 steps per epoch); the loss is NaN at 1-based call ``bad_step`` or, with
    ``bad_grad``, finite with a NaN gradient there. Returns the projection's final weights."""
    torch.manual_seed(0)
    teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=6)
    student = teacher.text_side()
    student.freeze(-1)
    targets = teacher_targets(teacher, CAPTIONS)
    mse, calls = create_loss("mse"), [0]

    def loss(out, teacher_out):
        calls[0] += 1
        value = mse(out, teacher_out)
        if calls[0] != bad_step:
            return value
        if bad_grad:  # sqrt'(0) is infinite: the value stays finite, the gradient is NaN
            weight = student.proj.weight.sum()
            return value + 0.0 * torch.sqrt(weight - weight.detach())
        return value * torch.tensor(float("nan"))

    config = TrainConfig(epochs=epochs, batch_size=4, lr=1e-3)
    train_student(student, targets, list(range(8)), FOREIGN, loss, config, CPU, work, desc="mse")
    return student.proj.weight.detach().clone()


def test_a_nan_loss_stops_training_at_its_step_and_keeps_the_last_good_checkpoint_for_resume(tmp_path):
    straight = _train(tmp_path / "a")
    work = tmp_path / "b"
    with pytest.raises(NonFiniteError, match=r"^mse: the training loss is nan at epoch 2/3, step 2/2; .* the "
                                             r"checkpoint of epoch 1 .* is kept for --resume"):
        _train(work, bad_step=4)
    state = json.loads((work / "checkpoint" / "trainer_state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == 2  # nothing was written after the bad step
    assert (work / "checkpoint" / "optimizer.pt").is_file()
    resumed = _train(work)  # the cause gone (here: the NaN), the run continues from epoch 2
    assert torch.isfinite(resumed).all()
    assert torch.allclose(straight, resumed, atol=1e-6)


def test_a_nan_gradient_stops_training_before_the_weights_change(tmp_path):
    work = tmp_path / "w"
    with pytest.raises(NonFiniteError, match=r"^mse: the training gradient norm is nan at epoch 1/3, step 1/2; "
                                             r"training stopped and no epoch had finished"):
        _train(work, bad_step=1, bad_grad=True)
    assert not (work / "checkpoint").exists()


def test_massless_finds_sentences_whose_mask_keeps_no_token():
    teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=6)
    texts = ["a red apple", "", "☃", "the car"]  # empty, and one unknown character: [CLS] [UNK] [SEP]
    ids = token_ids(teacher.text, texts)
    mass = TokenMass(TokenRoles.from_encoder(teacher.text))
    assert mass.massless(ids, "student", "all") == []
    assert mass.massless(ids, "student", "no-special") == [1, 2]
    assert mass.massless(ids, "teacher", "content") == [1, 2]
