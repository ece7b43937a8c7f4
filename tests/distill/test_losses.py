"""Distillation losses: batched == per-pair loop, values by hand, the factory."""

import pytest
import torch

from optical.distill.losses import CombinedLoss, LossConfig, MSEDistillLoss, OpticalLoss, create_loss
from optical.distill.losses.CombinedLoss import describe_gradient_ratio

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
    combined = CombinedLoss(optical, mse_weight=0.25, optical_weight=2.0, weighting="fixed")
    expected = 2.0 * optical(student, teacher) + 0.25 * MSEDistillLoss()(student, teacher)
    torch.testing.assert_close(combined(student, teacher), expected)
    assert combined.get_config_dict()["mse_weight"] == 0.25 and combined.get_config_dict()["reg"] == 0.1


def _combined_terms(seed=0):
    """Student outputs whose token states and sentence vectors require grad, the teacher's, and those leaves."""
    student, teacher = _features(seed)
    leaves = [student["token_embeddings"].requires_grad_(True), student["sentence_embedding"].requires_grad_(True)]
    return student, teacher, leaves


def test_scale_free_value_and_gradient_by_hand():
    student, teacher, leaves = _combined_terms()
    optical, mse = OpticalLoss(reg=0.1), MSEDistillLoss()
    combined = CombinedLoss(optical, mse, optical_weight=2.0, mse_weight=0.25)  # scale-free: the default
    assert combined.weighting == "scale-free" and combined.get_config_dict()["weighting"] == "scale-free"
    loss = combined(student, teacher)
    l_o, l_m = optical(student, teacher), mse(student, teacher)
    # the value is the log form, 2 log L_o + 0.25 log L_m
    torch.testing.assert_close(loss, 2.0 * torch.log(l_o) + 0.25 * torch.log(l_m))
    # the gradient is each term's divided by its own value: 2 grad(L_o) / L_o + 0.25 grad(L_m) / L_m
    got = torch.autograd.grad(loss, leaves)
    g_o, g_m = (torch.autograd.grad(term, leaves, retain_graph=True, materialize_grads=True) for term in (l_o, l_m))
    for k in range(2):
        expected = 2.0 * g_o[k] / l_o.detach() + 0.25 * g_m[k] / l_m.detach()
        torch.testing.assert_close(got[k], expected)
    # the same by the stop-gradient form w * L / sg(L)
    sg = 2.0 * l_o / l_o.detach() + 0.25 * l_m / l_m.detach()
    for a, b in zip(got, torch.autograd.grad(sg, leaves)):
        torch.testing.assert_close(a, b)
    # from embeddings: the same loss
    emb = combined.compute_loss_from_embeddings(student["token_embeddings"], teacher["token_embeddings"],
                                                student["attention_mask"], teacher["attention_mask"],
                                                student["sentence_embedding"], teacher["sentence_embedding"])
    torch.testing.assert_close(emb, loss)
    with pytest.raises(ValueError, match="unknown weighting 'equal'"):
        CombinedLoss(weighting="equal")


class _Scaled(torch.nn.Module):
    """A loss term multiplied by a constant: the same term in other units."""

    def __init__(self, term, factor):
        super().__init__()
        self.term, self.factor = term, factor
        self.uses_english = False

    def forward(self, student, teacher):
        return self.factor * self.term(student, teacher)


@pytest.mark.parametrize("weighting", ["fixed", "scale-free"])
def test_scale_free_weighting_ignores_a_term_s_units(weighting):
    """The MSE term in units 100x larger: the fixed gradient ratio OT / MSE falls 100x, the scale-free one stays."""
    student, teacher, leaves = _combined_terms(seed=3)
    records = {}
    for factor in (1.0, 100.0):
        combined = CombinedLoss(OpticalLoss(reg=0.1), _Scaled(MSEDistillLoss(), factor), weighting=weighting)
        loss, records[factor] = combined.gradient_ratio(student, teacher, leaves)
        torch.testing.assert_close(loss, combined(student, teacher))  # gradient_ratio's loss is forward's
        loss.backward()  # the graph is kept for the loss's own backward
        grads = [leaf.grad.clone() for leaf in leaves]
        for leaf in leaves:
            leaf.grad = None
        records[factor]["grads"] = grads
    one, hundred = records[1.0], records[100.0]
    # before weighting: the MSE gradient is 100x larger in the new units
    assert hundred["mse_grad_norm"] == pytest.approx(100 * one["mse_grad_norm"], rel=1e-5)
    assert hundred["grad_ratio"] == pytest.approx(one["grad_ratio"] / 100, rel=1e-5)
    if weighting == "fixed":  # as weighted too: the ratio changes 100x
        assert hundred["weighted_grad_ratio"] == pytest.approx(one["weighted_grad_ratio"] / 100, rel=1e-5)
    else:  # scale-free: the same ratio, the same gradient
        assert hundred["weighted_grad_ratio"] == pytest.approx(one["weighted_grad_ratio"], rel=1e-5)
        for a, b in zip(one["grads"], hundred["grads"]):
            torch.testing.assert_close(a, b)


def test_gradient_ratio_record_by_hand():
    student, teacher, leaves = _combined_terms(seed=4)
    optical, mse = OpticalLoss(reg=0.1), MSEDistillLoss()
    combined = CombinedLoss(optical, mse, optical_weight=2.0, mse_weight=0.5)
    _, record = combined.gradient_ratio(student, teacher, leaves)
    l_o, l_m = optical(student, teacher).detach(), mse(student, teacher).detach()

    def norm(term):
        grads = torch.autograd.grad(term, leaves, allow_unused=True, materialize_grads=True)
        return float(torch.sqrt(sum((g**2).sum() for g in grads)))

    n_o, n_m = norm(optical(student, teacher)), norm(mse(student, teacher))
    assert record["weighting"] == "scale-free"
    assert record["optical"] == pytest.approx(float(l_o)) and record["mse"] == pytest.approx(float(l_m))
    assert record["optical_grad_norm"] == pytest.approx(n_o, rel=1e-5)
    assert record["mse_grad_norm"] == pytest.approx(n_m, rel=1e-5)
    assert record["grad_ratio"] == pytest.approx(n_o / n_m, rel=1e-5)
    assert record["optical_factor"] == pytest.approx(2.0 / float(l_o))
    assert record["mse_factor"] == pytest.approx(0.5 / float(l_m))
    assert record["weighted_grad_ratio"] == pytest.approx((2.0 * n_o / float(l_o)) / (0.5 * n_m / float(l_m)), rel=1e-5)
    assert record["seconds"] >= 0
    assert "as weighted (scale-free)" in describe_gradient_ratio(record)
    # a term that reaches none of the parameters: a zero norm and no ratio (None, JSON-able), not a division error
    _, frozen = combined.gradient_ratio(student, teacher, [torch.zeros(2, requires_grad=True)])
    assert frozen["optical_grad_norm"] == 0.0 and frozen["grad_ratio"] is None


def test_scale_free_mean_over_processes_sets_the_scale():
    """Under several processes each term is divided by the mean over them (``average``): with the mean equal to this
    process's value the loss is the single-process one; otherwise the gradient is grad(L) / mean."""
    student, teacher, leaves = _combined_terms(seed=2)
    combined = CombinedLoss(OpticalLoss(reg=0.1), mse_weight=1.0)
    alone = combined(student, teacher)
    l_o, l_m = combined.optical(student, teacher), combined.mse(student, teacher)
    combined.average = lambda values: values * torch.tensor([2.0, 4.0])  # the other processes' values are larger
    loss = combined(student, teacher)
    s_o, s_m = 2.0 * l_o.detach(), 4.0 * l_m.detach()
    torch.testing.assert_close(loss, torch.log(s_o) + l_o / s_o - 1 + torch.log(s_m) + l_m / s_m - 1)
    expected = torch.autograd.grad(l_o / s_o + l_m / s_m, leaves)
    for a, b in zip(torch.autograd.grad(loss, leaves), expected):
        torch.testing.assert_close(a, b)
    combined.average = lambda values: values
    torch.testing.assert_close(combined(student, teacher), alone)


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
        "reg": 0.2, "cost": "sqeuclidean", "n_iter": 7, "tol": 1e-3, "grad": "autodiff", "tokens": "all",
        "english": True, "reg_scale": "absolute",
    }
    combined = create_loss("optical+mse", config, mse_weight=0.25)  # keyword options override the config
    assert combined.get_config_dict() == {
        **optical.get_config_dict(), "english": True, "optical_weight": 2.0, "mse_weight": 0.25,
        "weighting": "scale-free",
    }
    assert create_loss("optical+mse", LossConfig(weighting="fixed")).weighting == "fixed"


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
    assert not create_loss("mse", LossConfig(english=False)).uses_english
    with pytest.raises(ValueError, match="english_sentence_embedding"):
        MSEDistillLoss(english=True)({"sentence_embedding": torch.zeros(2, 3)}, teacher)


def test_combined_follows_the_mse_recipe():
    student, teacher = _features()
    # the student reads each English sentence exactly as the teacher does: both English terms are (about) 0
    exact = {f"english_{key}": value.clone() for key, value in teacher.items()}
    student = {**student, **exact}
    combined = create_loss("optical+mse", LossConfig(reg=0.1, mse_weight=0.5, weighting="fixed"))
    assert combined.uses_english and combined.optical.english and combined.mse.english
    expected = (OpticalLoss(reg=0.1, english=True)(student, teacher)
                + 0.5 * MSEDistillLoss(english=True)(student, teacher))
    torch.testing.assert_close(combined(student, teacher), expected)
    foreign_only = create_loss("optical+mse", LossConfig(reg=0.1, mse_weight=0.5, english=False, weighting="fixed"))
    assert not foreign_only.uses_english
    assert combined(student, teacher) < foreign_only(student, teacher)  # exact English rows halve both terms
    # the older name of the switch still reads
    assert not create_loss("optical+mse", mse_english=False).uses_english
    assert create_loss("mse", mse_english=True).uses_english


LENGTHS_E = [4, 7, 1]  # the student's English readings: one longer than every foreign sentence (padding grows)


def _with_english(student, seed=5):
    """``student`` plus its reading of each pair's English sentence (``english_*``), width 8, 7 positions."""
    gen = torch.Generator().manual_seed(seed)
    mask = (torch.arange(7)[None] < torch.tensor(LENGTHS_E)[:, None]).long()
    tokens = torch.randn(3, 7, 8, generator=gen) * mask[:, :, None]
    return {**student, "english_token_embeddings": tokens, "english_attention_mask": mask,
            "english_sentence_embedding": torch.randn(3, 8, generator=gen)}


def _english_alone(student):
    """The student's English reading as a dict of its own (the keys without ``english_``)."""
    return {key.removeprefix("english_"): value for key, value in student.items() if key.startswith("english_")}


def _weights(side, seed):
    """Positive token weights (B, L) on ``side``'s mask (as TokenMass adds for optical-idf)."""
    gen = torch.Generator().manual_seed(seed)
    mask = side["attention_mask"]
    return (torch.rand(mask.shape, generator=gen) + 0.5) * mask


@pytest.mark.parametrize("name", ["optical", "optical-uot", "optical-idf", "token-nn"])
def test_english_term_by_hand_is_the_mean_of_the_two_losses(name):
    student, teacher = _features(seed=1)
    student = _with_english(student)
    if name == "optical-idf":
        student["token_weights"] = _weights(student, 1)
        student["english_token_weights"] = _weights(_english_alone(student), 2)
        teacher["token_weights"] = _weights(teacher, 3)
    student["token_embeddings"].requires_grad_(True)
    student["english_token_embeddings"].requires_grad_(True)
    solver = {} if name == "token-nn" else {"reg": 0.1, "n_iter": 3000, "tol": 1e-9}
    loss = create_loss(name, LossConfig(), **solver)  # the experiment's default: the English term
    assert loss.uses_english
    value = loss(student, teacher)
    value.backward()
    grads = student["token_embeddings"].grad.clone(), student["english_token_embeddings"].grad.clone()
    assert grads[1].abs().sum() > 0  # the English reading is trained too
    for tokens in ("token_embeddings", "english_token_embeddings"):
        student[tokens].grad = None
    # by hand: the same loss without the term, once on the foreign reading, once on the English one
    plain = create_loss(name, LossConfig(english=False), **solver)
    foreign = plain({k: v for k, v in student.items() if not k.startswith("english_")}, teacher)
    english = plain(_english_alone(student), teacher)
    by_hand = (foreign + english) / 2
    by_hand.backward()
    torch.testing.assert_close(value, by_hand, atol=1e-5, rtol=0)
    torch.testing.assert_close(grads[0], student["token_embeddings"].grad, atol=1e-5, rtol=0)
    torch.testing.assert_close(grads[1], student["english_token_embeddings"].grad, atol=1e-5, rtol=0)


def test_english_term_off_is_the_foreign_only_loss():
    student, teacher = _features(seed=2)
    with_english = _with_english(student)
    for name in ("optical", "optical-uot", "token-nn", "mse"):
        off = create_loss(name, LossConfig(english=False))
        assert not off.uses_english
        # the English reading is there but not read: the value is the foreign-only loss of before
        torch.testing.assert_close(off(with_english, teacher), off(student, teacher))
    torch.testing.assert_close(OpticalLoss(english=False)(with_english, teacher),
                               OpticalLoss().transport(student, teacher).value.mean())


def test_every_loss_takes_the_english_switch():
    from optical.distill.losses import LOSSES

    for name, cls in LOSSES.items():
        assert "english" in cls.OPTIONS, name
        assert create_loss(name, LossConfig()).uses_english, name
        assert not create_loss(name, LossConfig(english=False)).uses_english, name
        assert not create_loss(name).uses_english, name  # the classes' own default: foreign only


def test_english_term_needs_the_students_english_reading():
    student, teacher = _features()
    with pytest.raises(ValueError, match="english_token_embeddings"):
        OpticalLoss(english=True)(student, teacher)
    roles = {"token_roles": torch.ones(3, 5, dtype=torch.long)}
    with pytest.raises(ValueError, match="english_token_roles"):  # tokens= reads the roles of both readings
        OpticalLoss(english=True, tokens="content")({**_with_english(student), **roles}, teacher)


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
