"""TextEncoder on a tiny random BERT: tokenization, pooling, padding invariance, save/load."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel

from optical.encoders import TextEncoder
from tests.fakes import tiny_bert, tiny_tokenizer

TEXTS = ["a red apple", "the small dog runs in the park", "cat"]


@pytest.fixture
def encoder() -> TextEncoder:
    return TextEncoder(tiny_bert(), tiny_tokenizer(), name="tiny", prefix="query : ", pooling="mean", max_length=12)


def test_tokenize_prefixes_pads_right_and_truncates(encoder):
    batch = encoder.tokenize(TEXTS + ["the dog " * 20])
    assert set(batch) == {"input_ids", "attention_mask"}
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == (4, 12)  # the long text is cut at max_length
    assert encoder.tokenizer.convert_ids_to_tokens(ids[0, 1:3].tolist()) == ["query", ":"]
    assert (ids[mask == 0] == encoder.tokenizer.pad_token_id).all() and (mask[:, 0] == 1).all()
    assert mask[2].tolist() == [1] * 5 + [0] * 7  # [CLS] query : cat [SEP], then padding


def test_forward_shapes_and_masked_mean(encoder):
    features = encoder.tokenize(TEXTS)
    with torch.no_grad():
        out = encoder(features)
    B, L = features["input_ids"].shape
    assert out["token_embeddings"].shape == (B, L, 32) and out["sentence_embedding"].shape == (B, 32)
    assert torch.equal(out["attention_mask"], features["attention_mask"])
    for i in range(B):
        n = int(features["attention_mask"][i].sum())
        torch.testing.assert_close(out["sentence_embedding"][i], out["token_embeddings"][i, :n].mean(0))


def test_padding_does_not_change_embeddings(encoder):
    batched = encoder.encode(TEXTS, normalize=False)
    alone = torch.cat([encoder.encode([t], normalize=False) for t in TEXTS])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_cls_pooling(encoder):
    cls_encoder = TextEncoder(encoder.model, encoder.tokenizer, name="tiny", pooling="cls")
    features = cls_encoder.tokenize(TEXTS)
    with torch.no_grad():
        out = cls_encoder(features)
    torch.testing.assert_close(out["sentence_embedding"], out["token_embeddings"][:, 0])


def test_encode_normalizes_batches_and_restores_mode(encoder):
    encoder.train()
    emb = encoder.encode(TEXTS, batch_size=2)
    assert encoder.training
    assert emb.shape == (3, 32) and not emb.requires_grad
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(emb, torch.nn.functional.normalize(encoder.encode(TEXTS, normalize=False), dim=1))
    assert encoder.encode([]).shape == (0, 32)


def test_save_load_round_trip(encoder, tmp_path):
    folder = encoder.save(tmp_path / "saved")
    config = json.loads((folder / "optical_text_encoder.json").read_text())
    assert config["prefix"] == "query : " and config["pooling"] == "mean" and config["max_length"] == 12
    assert config["model_class"] == "BertModel" and {"torch", "transformers", "optical"} <= set(config["versions"])
    loaded = TextEncoder.load(folder)
    assert loaded.get_config_dict() == encoder.get_config_dict()
    torch.testing.assert_close(loaded.encode(TEXTS), encoder.encode(TEXTS))
    assert isinstance(AutoModel.from_pretrained(folder), type(encoder.model))  # a plain HF folder too


def test_rejects_unknown_pooling():
    with pytest.raises(ValueError, match="pooling"):
        TextEncoder(tiny_bert(), tiny_tokenizer(), name="tiny", pooling="max")
