"""OT loss variants: token roles and masks, IDF weights (against ot.sinkhorn), unbalanced OT (against POT)."""

import math
import warnings

import numpy as np
import ot
import pytest
import torch

from optical.distill._tokens import CONTENT, PAD, PREFIX, SPECIAL, idf_table, mass_mask
from optical.distill.losses import (
    CombinedLoss,
    IdfOpticalLoss,
    OpticalLoss,
    TokenMass,
    TokenRoles,
    UnbalancedOpticalLoss,
    create_loss,
    token_ids,
)
from optical.encoders import TextEncoder
from tests.fakes import tiny_text_encoder

LENGTHS_S = [5, 2, 4]
LENGTHS_T = [3, 6, 6]


def _features(seed=0, weights=False):
    """Student and teacher output dicts with padding, width 8; roles <s> first and </s> last, optional weights."""
    gen = torch.Generator().manual_seed(seed)

    def side(lengths, width):
        mask = (torch.arange(width)[None] < torch.tensor(lengths)[:, None]).long()
        tokens = torch.randn(len(lengths), width, 8, generator=gen) * mask[:, :, None]
        roles = mask * CONTENT
        for k, n in enumerate(lengths):
            if n >= 3:
                roles[k, 0], roles[k, n - 1] = SPECIAL, SPECIAL
        out = {"token_embeddings": tokens, "attention_mask": mask, "token_roles": roles}
        out["sentence_embedding"] = torch.randn(len(lengths), 8, generator=gen)
        if weights:
            out["token_weights"] = (torch.rand(len(lengths), width, generator=gen) + 0.2) * mask
        return out

    return side(LENGTHS_S, 5), side(LENGTHS_T, 6)


def _e5_like() -> TextEncoder:
    """The tiny BERT reading every text with e5's ``"query: "`` prefix."""
    tiny = tiny_text_encoder()
    return TextEncoder(tiny.model, tiny.tokenizer, name="tiny-e5", prefix="query: ", max_length=32)


def test_roles_find_the_prefix_from_the_tokenizer():
    encoder = _e5_like()
    roles = TokenRoles.from_encoder(encoder)
    tok = encoder.tokenizer
    assert roles.prefix_ids == tuple(tok("query:", add_special_tokens=False)["input_ids"])
    assert set(roles.special_ids) == set(tok.all_special_ids)
    feats = encoder.tokenize(["a dog", "query: the cat"])  # the prefix's ids later in a sentence are content
    codes = roles.roles(feats["input_ids"], feats["attention_mask"])
    k = len(roles.prefix_ids)
    first = [SPECIAL] + [PREFIX] * k + [CONTENT, CONTENT, SPECIAL]
    assert codes[0].tolist()[: len(first)] == first and set(codes[0, len(first) :].tolist()) <= {PAD}
    assert codes[1].tolist() == [SPECIAL] + [PREFIX] * k + [CONTENT] * (k + 2) + [SPECIAL]
    assert mass_mask(codes, "all").equal(feats["attention_mask"].bool())
    assert mass_mask(codes, "no-special").sum() == feats["attention_mask"].sum() - 4
    assert mass_mask(codes, "content").sum() == feats["attention_mask"].sum() - 4 - 2 * k
    with pytest.raises(ValueError, match="unknown tokens mode"):
        mass_mask(codes, "nouns")


def test_roles_without_a_prefix():
    encoder = tiny_text_encoder()
    roles = TokenRoles.from_encoder(encoder)
    feats = encoder.tokenize(["a dog"])
    assert roles.prefix_ids == () and roles.roles(feats["input_ids"], feats["attention_mask"]).tolist() == [
        [SPECIAL, CONTENT, CONTENT, SPECIAL]
    ]


def test_idf_by_hand_and_token_mass():
    idf = idf_table([torch.tensor([0, 5, 5, 2]), torch.tensor([0, 6, 2])], vocab_size=8)
    assert idf[0] == idf[2] == 1.0  # in every sentence: the minimum
    assert idf[5] == idf[6] == pytest.approx(math.log(3 / 2) + 1)
    assert idf[7] == pytest.approx(math.log(3) + 1)  # never seen: the maximum
    encoder = _e5_like()
    english = ["a dog", "a cat", "a red apple"]
    mass = TokenMass.from_bitext(encoder, token_ids(encoder, ["der hund"]), token_ids(encoder, english))
    feats = encoder.tokenize(english)
    out = mass.add(feats, "teacher")
    dog, a = encoder.tokenizer.convert_tokens_to_ids(["dog", "a"])
    row = feats["input_ids"][0].tolist()
    assert out["token_weights"][0, row.index(dog)] > out["token_weights"][0, row.index(a)] == 1.0
    assert (out["token_weights"][feats["attention_mask"] == 0] == 0).all()
    assert out["token_roles"].shape == feats["input_ids"].shape


def test_content_tokens_equal_the_loss_on_the_content_tokens_alone():
    student, teacher = _features()
    loss_fn = OpticalLoss(reg=0.1, n_iter=2000, tol=1e-8, tokens="content")
    loss = loss_fn(student, teacher)
    per_pair = []
    for k in range(3):
        keep_s = student["token_roles"][k] == CONTENT
        keep_t = teacher["token_roles"][k] == CONTENT
        per_pair.append(
            loss_fn.compute_loss_from_embeddings(
                student["token_embeddings"][k : k + 1, keep_s], teacher["token_embeddings"][k : k + 1, keep_t]
            )
        )
    torch.testing.assert_close(loss, torch.stack(per_pair).mean(), atol=1e-6, rtol=0)
    res = loss_fn.transport(student, teacher)
    assert res.plan[student["token_roles"] == SPECIAL].abs().sum() == 0
    # "all" is exactly the default loss, and needs no roles
    plain = {k: v for k, v in student.items() if k != "token_roles"}
    assert OpticalLoss(tokens="all")(plain, teacher).equal(OpticalLoss()(plain, teacher))
    with pytest.raises(ValueError, match="needs 'token_roles'"):
        OpticalLoss(tokens="no-special")(plain, teacher)
    combined = CombinedLoss(loss_fn, mse_weight=0.0, weighting="fixed")  # the combined loss applies the option too
    torch.testing.assert_close(combined(student, teacher), loss)


def test_idf_loss_matches_ot_sinkhorn_with_the_same_weights():
    student, teacher = _features(weights=True)
    student["token_embeddings"] = student["token_embeddings"].double()
    teacher["token_embeddings"] = teacher["token_embeddings"].double()
    loss_fn = IdfOpticalLoss(reg=0.1, n_iter=5000, tol=1e-10)
    res = loss_fn.transport(student, teacher)
    cost = torch.stack([1 - torch.nn.functional.cosine_similarity(
        student["token_embeddings"][k][:, None], teacher["token_embeddings"][k][None], dim=-1) for k in range(3)])
    for k, (n, m) in enumerate(zip(LENGTHS_S, LENGTHS_T)):
        a = student["token_weights"][k, :n].double().numpy()
        b = teacher["token_weights"][k, :m].double().numpy()
        a, b, C = a / a.sum(), b / b.sum(), cost[k, :n, :m].numpy()
        plan = ot.sinkhorn(a, b, C, 0.1, method="sinkhorn_log", numItermax=100000, stopThr=1e-12)
        np.testing.assert_allclose(res.plan[k, :n, :m].numpy(), plan, atol=1e-6)
        np.testing.assert_allclose(res.value[k].item(), ot.sinkhorn2(a, b, C, 0.1, method="sinkhorn_log",
                                                                     numItermax=100000, stopThr=1e-12), atol=1e-6)
        np.testing.assert_allclose(res.plan[k, :n, :m].sum(1).numpy(), a, atol=1e-8)
    # equal weights give plain OPTICAL; missing weights are an error that names the key
    even = {**student, "token_weights": student["attention_mask"].double() * 3.0}
    torch.testing.assert_close(
        IdfOpticalLoss(reg=0.1)(even, {**teacher, "token_weights": teacher["attention_mask"].double()}),
        OpticalLoss(reg=0.1)(student, teacher),
    )
    with pytest.raises(ValueError, match="needs 'token_weights'"):
        IdfOpticalLoss()({k: v for k, v in student.items() if k != "token_weights"}, teacher)


def test_unbalanced_loss_matches_pot_and_the_per_pair_loop():
    student, teacher = _features()
    student["token_embeddings"].requires_grad_(True)
    loss_fn = UnbalancedOpticalLoss(reg=0.1, reg_m=0.5, n_iter=5000, tol=1e-10)
    res = loss_fn.transport(student, teacher)
    res.value.mean().backward()
    grad = student["token_embeddings"].grad.clone()
    student["token_embeddings"].grad = None
    looped = []
    for k, (n, m) in enumerate(zip(LENGTHS_S, LENGTHS_T)):
        one = loss_fn.transport_from_embeddings(
            student["token_embeddings"][k : k + 1, :n], teacher["token_embeddings"][k : k + 1, :m]
        )
        looped.append(one.value[0])
        cost = (1 - torch.nn.functional.cosine_similarity(
            student["token_embeddings"][k, :n, None], teacher["token_embeddings"][k, None, :m], dim=-1)).detach()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = ot.unbalanced.sinkhorn_unbalanced(
                np.full(n, 1 / n), np.full(m, 1 / m), cost.double().numpy(), 0.1, 0.5, numItermax=100000, stopThr=1e-13
            )
        np.testing.assert_allclose(res.plan[k, :n, :m].detach().double().numpy(), plan, atol=1e-5)
    torch.stack(looped).mean().backward()
    torch.testing.assert_close(grad, student["token_embeddings"].grad, atol=1e-5, rtol=0)
    assert (res.plan.sum(dim=(1, 2)) < 0.99).all()
    balanced = UnbalancedOpticalLoss(reg=0.1, reg_m=math.inf, n_iter=2000, tol=1e-9)
    torch.testing.assert_close(
        balanced(student, teacher), OpticalLoss(reg=0.1, n_iter=2000, tol=1e-9)(student, teacher), atol=1e-5, rtol=0
    )
    with pytest.raises(ValueError, match="reg_m"):
        UnbalancedOpticalLoss(reg_m=0.0)


def test_variants_from_the_factory():
    uot = create_loss("optical-uot", reg=0.2, reg_m=0.3, tokens="content")
    assert isinstance(uot, UnbalancedOpticalLoss)
    assert uot.get_config_dict()["reg_m"] == 0.3 and uot.tokens == "content"
    assert isinstance(create_loss("optical-idf"), IdfOpticalLoss)
    with pytest.raises(ValueError, match="takes none of \\['reg_m'\\]"):
        create_loss("optical", reg_m=1.0)
