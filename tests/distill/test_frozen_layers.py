"""The frozen-layer paths (``FrozenPrefix``, ``shared_prefix_embeddings``) against the towers' own full forward,
for BERT (e5's architecture), XLM-R and CLIP text towers under each attention implementation transformers offers
on the CPU. They build the attention mask themselves and call the layers' public forwards only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from optical.distill import FrozenPrefix, ProjectedTextEncoder, shared_prefix_embeddings
from optical.encoders import TextEncoder, create_text_encoder
from tests.fakes import saved_tiny_clip, saved_tiny_xlmr, tiny_text_encoder

# lengths from 1 word to 9: every batch pads, so a wrong padding mask shows
TEXTS = ["der hund", "ein roter apfel und ein gruener baum und das blaue auto", "a dog", "das haus",
         "the red car and the blue boat"]
TOWERS = ("bert", "xlmr", "clip")
IMPLEMENTATIONS = ("eager", "sdpa")


def _tower(kind: str, folder: Path, seed: int = 0) -> TextEncoder:
    """A tiny random tower of ``kind`` with 3 (BERT, XLM-R) or 2 (CLIP) transformer layers."""
    if kind == "bert":
        return tiny_text_encoder(layers=3, seed=seed)
    if kind == "xlmr":
        return create_text_encoder(saved_tiny_xlmr(folder / "xlmr", layers=3, seed=seed))
    return create_text_encoder(saved_tiny_clip(folder / "clip", seed=seed))  # pooling "clip"


def _model(kind: str, folder: Path, implementation: str) -> ProjectedTextEncoder:
    torch.manual_seed(0)
    model = ProjectedTextEncoder(_tower(kind, folder), 8).eval()
    model.text.model.set_attn_implementation(implementation)  # public transformers API
    return model


class _CountSdpa:
    """Counts calls of torch's scaled_dot_product_attention: which attention implementation really ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        original = torch.nn.functional.scaled_dot_product_attention

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counted)


def _assert_same_output(full: dict, cached: dict, atol: float = 1e-5) -> None:
    """Token states (compared on real tokens: the cache pads to its own length) and sentence embeddings agree."""
    mask, cached_mask = full["attention_mask"].bool(), cached["attention_mask"].bool()
    assert torch.allclose(full["token_embeddings"][mask], cached["token_embeddings"][cached_mask], atol=atol)
    assert torch.allclose(full["sentence_embedding"], cached["sentence_embedding"], atol=atol)
    assert torch.equal(full["input_ids"][mask], cached["input_ids"][cached_mask])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", TOWERS)
@torch.no_grad()
def test_the_cache_gives_the_full_forward_of_every_tower_and_attention(tmp_path, monkeypatch, kind, implementation):
    model = _model(kind, tmp_path, implementation)
    sdpa = _CountSdpa(monkeypatch)
    assert FrozenPrefix.supported(model), FrozenPrefix.missing(model)
    n_layers = len(model.text.core.encoder.layers if kind == "clip" else model.text.model.encoder.layer)
    idx = torch.tensor([1, 0, 4, 2])
    full_features = model.tokenize([TEXTS[i] for i in idx])
    assert not full_features["attention_mask"].all()  # padded
    full = model(full_features)
    for train_layers in range(n_layers):  # 0: heads only, the whole tower cached
        prefix = FrozenPrefix.for_top_layers(model, train_layers, TEXTS)
        assert prefix.n_frozen == n_layers - train_layers
        _assert_same_output(full, prefix.forward(model, idx))
        for layer in range(prefix.n_frozen + 1, n_layers + 1):  # the states after a trainable layer
            _assert_same_output(model(full_features, layer), prefix.forward(model, idx, layer))
    assert (sdpa.calls > 0) == (implementation == "sdpa")  # the implementation asked for is the one that ran


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", TOWERS)
@torch.no_grad()
def test_shared_layers_give_each_models_own_embeddings(tmp_path, kind, implementation):
    """Two models sharing the bottom layers (a teacher and a student whose top layer trained): one pass of the
    shared layers, then each model's own top, equals each model's own full forward."""
    teacher = _model(kind, tmp_path, implementation)
    student = _model(kind, tmp_path / "student", implementation)
    student.text.model.load_state_dict(teacher.text.model.state_dict())
    last = (student.text.core.encoder.layers if kind == "clip" else student.text.model.encoder.layer)[-1]
    for p in last.parameters():
        p.add_(0.1 * torch.randn_like(p))
    models = {"teacher": teacher, "student": student}
    shared = shared_prefix_embeddings(models, TEXTS, n_frozen=1, batch_size=2)
    for name, model in models.items():
        assert torch.allclose(shared[name], model.encode(TEXTS), atol=1e-5), name
    assert not torch.allclose(shared["teacher"], shared["student"], atol=1e-3)  # the check above can fail


@pytest.mark.parametrize("kind", TOWERS)
@torch.no_grad()
def test_the_cache_runs_under_bf16_autocast(tmp_path, kind):
    """``optical eval --precision bf16`` encodes under CPU bf16 autocast through the same path (sdpa, the default)."""
    model = _model(kind, tmp_path, "sdpa")
    reference = model.encode(TEXTS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = shared_prefix_embeddings({"m": model}, TEXTS, n_frozen=1)["m"]
    cosine = torch.nn.functional.cosine_similarity(low, reference, dim=-1)
    assert cosine.min() > 0.98 and not torch.equal(low, reference), cosine
