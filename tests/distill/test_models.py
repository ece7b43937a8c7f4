import torch

from optical.distill._models import DualEncoder, ProjectedTextEncoder, read_model_config
from optical.errors import MissingAssetError
from tests.tiny_models import tiny_text_encoder

import pytest


def test_projected_outputs_have_projected_width(tmp_path):
    model = ProjectedTextEncoder(tiny_text_encoder(tmp_path), embed_dim=16)
    out = model(model.tokenize(["a red apple", "the dog"]))
    b, length = out["attention_mask"].shape
    assert out["token_embeddings"].shape == (b, length, 16)
    assert out["sentence_embedding"].shape == (2, 16)
    emb = model.encode(["a red apple", "the dog", "cat"], batch_size=2)
    assert emb.shape == (3, 16)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_freeze_keeps_word_embeddings_and_lower_layers_frozen(tmp_path):
    model = ProjectedTextEncoder(tiny_text_encoder(tmp_path), embed_dim=8)
    model.freeze(1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "proj.weight" in trainable
    assert any(".layer.1." in n for n in trainable)
    assert not any(".layer.0." in n or "embeddings" in n for n in trainable)
    model.freeze(-1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(".layer.0." in n for n in trainable) and any("position_embeddings" in n for n in trainable)
    assert not any("word_embeddings" in n for n in trainable)


def test_dual_encoder_round_trip_and_student_copy(tmp_path):
    teacher = DualEncoder(tiny_text_encoder(tmp_path), embed_dim=8, image_dim=12)
    with torch.no_grad():
        teacher.logit_scale.fill_(2.5)
    teacher.save(tmp_path / "teacher")
    loaded = DualEncoder.load(tmp_path / "teacher")
    x = torch.randn(3, 12)
    assert torch.allclose(loaded.encode_image_features(x), teacher.encode_image_features(x), atol=1e-6)
    assert loaded.logit_scale.item() == pytest.approx(2.5)
    texts = ["a red apple", "ein hund"]
    assert torch.allclose(loaded.encode(texts), teacher.encode(texts), atol=1e-5)

    student = teacher.text_side()
    assert torch.allclose(student.encode(texts), teacher.encode(texts), atol=1e-6)
    student.save(tmp_path / "unfrozen")  # trained word embeddings: never shared
    alone = ProjectedTextEncoder.load(tmp_path / "unfrozen", shared_text=teacher.text)
    assert alone.text.model.get_input_embeddings() is not teacher.text.model.get_input_embeddings()
    student.freeze(1)
    with torch.no_grad():
        student.text.model.encoder.layer[1].output.dense.weight.add_(torch.randn(32, 64))  # "training" a top layer
        student.proj.weight.mul_(2)
    student.save(tmp_path / "student")
    shared = ProjectedTextEncoder.load(tmp_path / "student", shared_text=teacher.text)
    assert shared.text.model.get_input_embeddings() is teacher.text.model.get_input_embeddings()
    assert torch.allclose(shared.encode(texts), student.encode(texts), atol=1e-6)
    assert not torch.allclose(shared.encode(texts), teacher.encode(texts), atol=1e-3)
    with pytest.raises(MissingAssetError, match="expected an optical 'dual' model"):
        read_model_config(tmp_path / "student", "dual")
    with pytest.raises(MissingAssetError, match="not an optical model folder"):
        DualEncoder.load(tmp_path / "nothing")
