"""``ot.layer``: which token states OPTICAL compares. -1 (default): the last layer's through the projection, as
before; k: the hidden states after transformer layer k, unprojected, on every path that makes them (the model's
forward, the frozen-layer cache, the teacher's cached targets, the student's training step, the plan samples)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optical.distill import FrozenPrefix, ProjectedTextEncoder, teacher_targets, train_student
from optical.distill.distributed import DistInfo
from optical.distill.losses import LossConfig, create_loss
from optical.config import TrainConfig
from optical.experiment import plan_loss, transport_sample
from tests.fakes import tiny_text_encoder

ENGLISH = ["a red apple", "a green tree", "the blue car", "a dog"]
FOREIGN = ["ein roter apfel", "der gruene baum", "das blaue auto", "der hund"]
HIDDEN, DIM = 32, 8  # the tiny tower's width, the projection's: token states of a layer k are HIDDEN wide


def _model(layers: int = 3) -> ProjectedTextEncoder:
    torch.manual_seed(0)
    return ProjectedTextEncoder(tiny_text_encoder(hidden=HIDDEN, layers=layers), DIM).eval()


def _hidden_states(model: ProjectedTextEncoder, features: dict) -> tuple[torch.Tensor, ...]:
    """What the HF model itself says: embeddings, then the states after each layer, each (B, L, H)."""
    return model.text.model(**features, output_hidden_states=True).hidden_states


@torch.no_grad()
def test_layer_minus_one_is_unchanged_and_layer_k_is_the_hidden_state_after_layer_k():
    model = _model()
    features = model.tokenize(FOREIGN)
    default, minus_one = model(features), model(features, -1)
    hidden = _hidden_states(model, features)
    for key in default:
        assert torch.equal(default[key], minus_one[key])
    assert torch.allclose(default["token_embeddings"], model.proj(hidden[-1]), atol=1e-6)  # (B, L, D) projected
    assert default["token_embeddings"].shape[-1] == DIM
    for k in (1, 2, 3):
        out = model(features, k)
        assert out["token_embeddings"].shape[-1] == HIDDEN
        assert torch.allclose(out["token_embeddings"], hidden[k], atol=1e-6)
        assert torch.equal(out["sentence_embedding"], default["sentence_embedding"])  # the sentence stays the last's
    assert not torch.allclose(hidden[1], hidden[2], atol=1e-3)  # the layers differ, so the check above can fail
    for k in (0, 4):
        with pytest.raises(ValueError, match="has transformer layers 1..3"):
            model(features, k)


@torch.no_grad()
def test_the_frozen_layer_cache_gives_the_same_states_of_any_trainable_layer():
    model = _model()
    prefix = FrozenPrefix.for_top_layers(model, 2, FOREIGN)  # layer 1 frozen (cached), layers 2 and 3 train
    assert prefix.n_frozen == 1
    idx = torch.tensor([2, 0, 3])
    full_features = model.tokenize([FOREIGN[i] for i in idx])
    for layer in (-1, 2, 3):
        full, cached = model(full_features, layer), prefix.forward(model, idx, layer)
        mask, cached_mask = full["attention_mask"].bool(), cached["attention_mask"].bool()
        assert torch.allclose(full["token_embeddings"][mask], cached["token_embeddings"][cached_mask], atol=1e-5)
        assert torch.allclose(full["sentence_embedding"], cached["sentence_embedding"], atol=1e-5)
    with pytest.raises(ValueError, match="after layers 2..3 \\(the trainable ones\\)"):
        prefix.forward(model, idx, 1)


@torch.no_grad()
def test_teacher_targets_hold_the_states_of_their_layer():
    teacher = _model()
    last, second = teacher_targets(teacher, ENGLISH), teacher_targets(teacher, ENGLISH, layer=2)
    assert (last.layer, second.layer) == (-1, 2)
    assert torch.equal(last.sentence_embedding, second.sentence_embedding)
    features = teacher.tokenize(ENGLISH)
    hidden, mask = _hidden_states(teacher, features)[2], features["attention_mask"].bool()
    for i, states in enumerate(second.token_embeddings):
        assert states.shape == (int(mask[i].sum()), HIDDEN)
        assert torch.allclose(states, hidden[i][mask[i]], atol=1e-6)
    assert all(states.shape[-1] == DIM for states in last.token_embeddings)


class _Spy(nn.Module):
    """OPTICAL that records the token states each side hands it."""

    def __init__(self):
        super().__init__()
        self.loss = create_loss("optical", reg=0.1)
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, student: dict, teacher: dict) -> torch.Tensor:
        self.seen.append((student["token_embeddings"].detach().clone(), teacher["token_embeddings"].detach().clone()))
        return self.loss(student, teacher)


@pytest.mark.parametrize("cached", [False, True])
def test_the_student_aligns_the_states_of_the_targets_layer(tmp_path, cached):
    teacher = _model()
    targets = teacher_targets(teacher, ENGLISH, layer=2)
    student = ProjectedTextEncoder(teacher.text, DIM)
    student.proj.load_state_dict(teacher.proj.state_dict())
    student.freeze(2)
    prefix = FrozenPrefix.for_top_layers(student, 2, FOREIGN) if cached else None
    spy, config = _Spy(), TrainConfig(epochs=1, batch_size=4, lr=1e-3)
    with torch.no_grad():
        expected = student(student.tokenize(FOREIGN), 2)  # before the first step: what the first batch must hold
    order = torch.randperm(4, generator=torch.Generator().manual_seed(config.seed * 1000))
    train_student(student, targets, list(range(4)), FOREIGN, spy, config, DistInfo(), tmp_path / "work",
                  prefix=prefix)
    (student_states, teacher_states), = spy.seen
    assert student_states.shape[-1] == teacher_states.shape[-1] == HIDDEN
    mask = expected["attention_mask"][order].bool()
    got = student_states[:, : mask.shape[1]]
    assert torch.allclose(got[mask], expected["token_embeddings"][order][mask], atol=1e-5)


@torch.no_grad()
def test_plan_samples_compare_the_states_of_the_layer():
    student = _model()
    loss = plan_loss(LossConfig(layer=2))
    last, second = (transport_sample(student, student, FOREIGN[0], ENGLISH[0], loss, layer=k) for k in (-1, 2))
    assert len(second["plan"]) == len(last["plan"]) and second["cost"] != last["cost"]
    s_states = student(student.tokenize([FOREIGN[0]]), 2)["token_embeddings"][0]
    t_states = student(student.tokenize([ENGLISH[0]]), 2)["token_embeddings"][0]
    cosine = nn.functional.normalize(s_states, dim=-1) @ nn.functional.normalize(t_states, dim=-1).T
    assert torch.allclose(torch.tensor(second["cost"]), 1 - cosine, atol=1e-5)
