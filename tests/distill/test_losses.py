"""Distillation losses: batched == per-pair loop, values by hand, the factory."""

import pytest
import torch

from optical.distill.losses import CombinedLoss, LossConfig, MSEDistillLoss, OpticalLoss, create_loss

LENGTHS_S = [5, 2, 4]
LENGTHS_T = [3, 6, 6]


def _features(seed=0):
    """Student (foreign) and teacher (English) encoder outputs with padding, width 8."""
    gen = torch.Generator().manual_seed(seed)

    def side(lengths, width):
        mask = (torch.arange(width)[None] < torch.tensor(lengths)[:, None]).long()
        tokens = torch.randn(len(lengths), width, 8, generator=gen) * mask[:, :, None]
        sentence = torch.randn(3, 8, generator=gen)
        return {"token_embeddings": tokens, "attention_mask": mask, "sentence_embedding": sentence}

    return side(LENGTHS_S, 5), side(LENGTHS_T, 6)


@pytest.mark.parametrize("cost", ["cosine", "sqeuclidean"])
def test_optical_batched_equals_per_pair_loop(cost):
    student, teacher = _features()
    student["token_embeddings"].requires_grad_(True)
    loss_fn = OpticalLoss(reg=0.1, cost=cost, n_iter=2000, tol=1e-7)
    loss = loss_fn(student, teacher)
    loss.backward()
    batched_grad = student["token_embeddings"].grad.clone()
    student["token_embeddings"].grad = None
    s_tokens, t_tokens = student["token_embeddings"], teacher["token_embeddings"]
    per_pair = [
        loss_fn.compute_loss_from_embeddings(s_tokens[k : k + 1, :n], t_tokens[k : k + 1, :m])
        for k, (n, m) in enumerate(zip(LENGTHS_S, LENGTHS_T))
    ]
    looped = torch.stack(per_pair).mean()
    looped.backward()
    torch.testing.assert_close(loss, looped, atol=1e-5, rtol=0)
    torch.testing.assert_close(batched_grad, student["token_embeddings"].grad, atol=1e-5, rtol=0)


def test_optical_one_token_is_cosine_distance():
    student, teacher = _features()
    s, t = student["token_embeddings"][:, :1], teacher["token_embeddings"][:, :1]
    loss = OpticalLoss().compute_loss_from_embeddings(s, t)
    expected = (1 - torch.nn.functional.cosine_similarity(s[:, 0], t[:, 0])).mean()
    torch.testing.assert_close(loss, expected)


def test_optical_transport_for_the_app():
    student, teacher = _features()
    res = OpticalLoss().transport(student, teacher)
    assert res.plan.shape == (3, 5, 6) and res.value.shape == (3,)
    torch.testing.assert_close(res.plan.sum(dim=(1, 2)), torch.ones(3))


def test_mse_value_by_hand():
    student, teacher = _features()
    s, t = student["sentence_embedding"], teacher["sentence_embedding"]
    expected = sum(float((s[b, k] - t[b, k]) ** 2) for b in range(3) for k in range(8)) / 24
    assert MSEDistillLoss()(student, teacher).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        MSEDistillLoss().compute_loss_from_embeddings(s, t[:, :4])


def test_combined_is_weighted_sum():
    student, teacher = _features()
    optical = OpticalLoss(reg=0.1)
    combined = CombinedLoss(optical, mse_weight=0.25, optical_weight=2.0)
    expected = 2.0 * optical(student, teacher) + 0.25 * MSEDistillLoss()(student, teacher)
    torch.testing.assert_close(combined(student, teacher), expected)
    assert combined.get_config_dict()["mse_weight"] == 0.25 and combined.get_config_dict()["reg"] == 0.1


def test_create_loss():
    assert isinstance(create_loss("mse"), MSEDistillLoss)
    optical = create_loss("optical", reg=0.2, n_iter=10)
    assert isinstance(optical, OpticalLoss) and optical.get_config_dict()["reg"] == 0.2
    combined = create_loss("optical+mse", reg=0.3, mse_weight=0.5)
    assert isinstance(combined, CombinedLoss)
    assert combined.optical.reg == 0.3 and combined.mse_weight == 0.5 and combined.optical_weight == 1.0
    assert "2301.12566" in optical.citation and "2004.09813" in combined.citation
    with pytest.raises(ValueError, match="unknown loss 'ot'"):
        create_loss("ot")
    with pytest.raises(ValueError, match="takes none of \\['reg'\\]"):
        create_loss("mse", reg=0.1)


def test_create_loss_from_a_loss_config():
    config = LossConfig(reg=0.2, cost="sqeuclidean", n_iter=7, tol=1e-3, grad="autodiff", mse_weight=0.5, optical_weight=2.0)
    assert isinstance(create_loss("mse", config), MSEDistillLoss)  # takes none of the OT settings
    optical = create_loss("optical", config)
    assert optical.get_config_dict() == {
        "reg": 0.2, "cost": "sqeuclidean", "n_iter": 7, "tol": 1e-3, "grad": "autodiff", "tokens": "all"
    }
    combined = create_loss("optical+mse", config, mse_weight=0.25)  # keyword options override the config
    assert combined.get_config_dict() == {
        **optical.get_config_dict(), "mse_english": True, "optical_weight": 2.0, "mse_weight": 0.25
    }


def test_optical_bad_config():
    for bad in ({"reg": -1.0}, {"reg": 0.0}, {"cost": "l1"}, {"grad": "implicit"}, {"n_iter": 0}):
        with pytest.raises(ValueError):
            OpticalLoss(**bad)


def test_mse_reference_recipe_maps_english_and_foreign_onto_the_teacher():
    teacher = {"sentence_embedding": torch.full((2, 3), 2.0)}
    student = {"sentence_embedding": torch.zeros(2, 3), "english_sentence_embedding": torch.ones(2, 3)}
    # foreign rows miss by 2 (squared 4), English rows by 1 (squared 1): the mean over the 2B rows is 2.5
    assert MSEDistillLoss(english=True)(student, teacher).item() == pytest.approx(2.5)
    assert MSEDistillLoss()(student, teacher).item() == pytest.approx(4.0)  # foreign only
    assert create_loss("mse", LossConfig()).uses_english  # the experiment's default is the reference recipe
    assert not create_loss("mse", LossConfig(mse_english=False)).uses_english
    with pytest.raises(ValueError, match="english_sentence_embedding"):
        MSEDistillLoss(english=True)({"sentence_embedding": torch.zeros(2, 3)}, teacher)


def test_combined_follows_the_mse_recipe():
    student, teacher = _features()
    student = {**student, "english_sentence_embedding": teacher["sentence_embedding"].clone()}
    combined = create_loss("optical+mse", LossConfig(reg=0.1, mse_weight=0.5))
    assert combined.uses_english
    expected = OpticalLoss(reg=0.1)(student, teacher) + 0.5 * MSEDistillLoss(english=True)(student, teacher)
    torch.testing.assert_close(combined(student, teacher), expected)
    foreign_only = create_loss("optical+mse", LossConfig(reg=0.1, mse_weight=0.5, mse_english=False))
    assert not foreign_only.uses_english
    assert combined(student, teacher) < foreign_only(student, teacher)  # exact English rows halve the MSE term


@pytest.mark.parametrize("cost", ["cosine", "sqeuclidean"])
def test_token_nn_is_the_brute_force_nearest_match(cost):
    student, teacher = _features(seed=3)
    loss = create_loss("token-nn", cost=cost)(student, teacher)
    pairs = []
    for k, (n, m) in enumerate(zip(LENGTHS_S, LENGTHS_T)):
        s, t = student["token_embeddings"][k, :n], teacher["token_embeddings"][k, :m]
        if cost == "cosine":
            dist = [[1 - torch.nn.functional.cosine_similarity(a, b, dim=0) for b in t] for a in s]
        else:
            dist = [[((a - b) ** 2).sum() for b in t] for a in s]
        pairs.append(sum(min(row) for row in dist) / n)
    assert loss.item() == pytest.approx(torch.stack(pairs).mean().item(), rel=1e-5)
    # no marginals: OPTICAL with a sharp plan costs at least as much (it must also cover every teacher token)
    optical = OpticalLoss(reg=0.001, cost=cost, n_iter=5000, tol=1e-9)(student, teacher)
    assert optical.item() >= loss.item() - 1e-4
