import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from optical.distill._models import DualEncoder, ProjectedTextEncoder, read_model_config
from optical.errors import MissingAssetError
from optical.encoders import create_text_encoder
from tests.fakes import saved_tiny_text_encoder, tiny_text_encoder

import pytest


def test_projected_outputs_have_projected_width():
    model = ProjectedTextEncoder(tiny_text_encoder(), embed_dim=16)
    out = model(model.tokenize(["a red apple", "the dog"]))
    b, length = out["attention_mask"].shape
    assert out["token_embeddings"].shape == (b, length, 16)
    assert out["sentence_embedding"].shape == (2, 16)
    emb = model.encode(["a red apple", "the dog", "cat"], batch_size=2)
    assert emb.shape == (3, 16)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_freeze_keeps_word_embeddings_and_lower_layers_frozen():
    model = ProjectedTextEncoder(tiny_text_encoder(), embed_dim=8)
    model.freeze(1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "proj.weight" in trainable
    assert any(".layer.1." in n for n in trainable)
    assert not any(".layer.0." in n or "embeddings" in n for n in trainable)
    model.freeze(-1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(".layer.0." in n for n in trainable) and any("position_embeddings" in n for n in trainable)
    assert not any("word_embeddings" in n for n in trainable)


def _based_teacher(tmp_path, train_layers: int = 1) -> DualEncoder:
    """A teacher on a saved tiny base (``create_text_encoder(folder)``), as the experiment builds it."""
    teacher = DualEncoder(create_text_encoder(saved_tiny_text_encoder(tmp_path)), embed_dim=8, image_dim=12)
    teacher.freeze(train_layers)
    return teacher


def _stored(folder) -> set[str]:
    with safe_open(str(folder / "weights.safetensors"), framework="pt") as f:
        return set(f.keys())


def test_dual_encoder_round_trip_and_student_copy(tmp_path):
    teacher = _based_teacher(tmp_path)
    with torch.no_grad():
        teacher.logit_scale.fill_(2.5)
        teacher.text.model.encoder.layer[1].output.dense.weight.add_(1.0)  # "training" the top layer
    teacher.save(tmp_path / "teacher")
    assert not (tmp_path / "teacher" / "text").exists()  # only the delta on the base
    stored = _stored(tmp_path / "teacher")
    assert {"proj.weight", "image_proj.weight", "logit_scale"} <= stored
    assert all(".layer.1." in k for k in stored if k.startswith("text."))
    loaded = DualEncoder.load(tmp_path / "teacher")
    x = torch.randn(3, 12)
    assert torch.allclose(loaded.encode_image_features(x), teacher.encode_image_features(x), atol=1e-6)
    assert loaded.logit_scale.item() == pytest.approx(2.5)
    texts = ["a red apple", "ein hund"]
    assert torch.allclose(loaded.encode(texts), teacher.encode(texts), atol=1e-5)
    assert loaded.trained_keys() == teacher.trained_keys()
    loaded.save(tmp_path / "again")  # a loaded model re-saved stores the same subset
    assert _stored(tmp_path / "again") == stored

    student = loaded.text_side()
    assert torch.allclose(student.encode(texts), teacher.encode(texts), atol=1e-5)
    student.freeze(0)  # trains the projection only: the teacher's trained layer 1 is still stored (inherited)
    with torch.no_grad():
        student.proj.weight.add_(torch.randn_like(student.proj.weight))
    student.save(tmp_path / "student")
    assert _stored(tmp_path / "student") == {k for k in stored if k.startswith("text.")} | {"proj.weight"}
    shared = ProjectedTextEncoder.load(tmp_path / "student", shared_text=loaded.text)
    assert shared.text.model.get_input_embeddings() is loaded.text.model.get_input_embeddings()
    assert shared.text.model.encoder.layer[0].attention.self.query.weight is loaded.text.model.encoder.layer[0].attention.self.query.weight
    assert torch.allclose(shared.encode(texts), student.encode(texts), atol=1e-6)
    assert not torch.allclose(shared.encode(texts), teacher.encode(texts), atol=1e-3)
    alone = ProjectedTextEncoder.load(tmp_path / "student")
    assert alone.text.model.get_input_embeddings() is not loaded.text.model.get_input_embeddings()
    assert torch.allclose(alone.encode(texts), student.encode(texts), atol=1e-6)
    with pytest.raises(MissingAssetError, match="expected an optical 'dual' model"):
        read_model_config(tmp_path / "student", "dual")
    with pytest.raises(MissingAssetError, match="not an optical model folder"):
        DualEncoder.load(tmp_path / "nothing")


def test_all_layers_trainable_stores_all_but_the_word_embeddings(tmp_path):
    teacher = _based_teacher(tmp_path, train_layers=-1)
    teacher.save(tmp_path / "teacher")
    stored = _stored(tmp_path / "teacher")
    assert "text.model.embeddings.position_embeddings.weight" in stored
    assert "text.model.embeddings.word_embeddings.weight" not in stored
    texts = ["a red apple"]
    assert torch.allclose(DualEncoder.load(tmp_path / "teacher").encode(texts), teacher.encode(texts), atol=1e-6)


def test_tower_without_base_is_saved_in_full(tmp_path):
    teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=12)  # built in memory: no source
    teacher.freeze(1)
    teacher.save(tmp_path / "teacher")
    assert (tmp_path / "teacher" / "text" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "teacher" / "optical_model.json").read_text())["base"] is None
    texts = ["a red apple", "ein hund"]
    assert torch.allclose(DualEncoder.load(tmp_path / "teacher").encode(texts), teacher.encode(texts), atol=1e-6)


def _write_format_1(model: ProjectedTextEncoder, folder, heads: dict, kind: str, **extra) -> None:
    """A folder as the previous version of optical wrote it: the full tower in text/, heads.safetensors."""
    model.text.save(folder / "text")
    save_file({k: v.detach().contiguous() for k, v in heads.items()}, str(folder / "heads.safetensors"))
    (folder / "optical_model.json").write_text(json.dumps({"format": 1, "kind": kind, "embed_dim": 8, **extra}))


def test_format_1_folders_still_load_and_share(tmp_path):
    teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=12)
    _write_format_1(teacher, tmp_path / "teacher", teacher.heads(), "dual", image_dim=12)
    student = teacher.text_side()
    student.freeze(1)
    with torch.no_grad():
        student.text.model.encoder.layer[1].output.dense.weight.add_(1.0)
    _write_format_1(student, tmp_path / "student", student.heads(), "projected_text", frozen_words=True)
    old_teacher = DualEncoder.load(tmp_path / "teacher")
    old_student = ProjectedTextEncoder.load(tmp_path / "student", shared_text=old_teacher.text)
    assert old_student.text.model.get_input_embeddings() is old_teacher.text.model.get_input_embeddings()
    texts = ["a red apple", "ein hund"]
    assert torch.allclose(old_student.encode(texts), student.encode(texts), atol=1e-6)
    assert torch.allclose(old_teacher.encode(texts), teacher.encode(texts), atol=1e-6)


def test_heads_load_strictly_naming_missing_keys(tmp_path):
    teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=12)
    heads = {k: v for k, v in teacher.heads().items() if k != "proj.weight"}
    _write_format_1(teacher, tmp_path / "old", heads, "dual", image_dim=12)
    with pytest.raises(MissingAssetError, match=r"missing \['proj.weight'\]"):
        DualEncoder.load(tmp_path / "old")
    based = _based_teacher(tmp_path / "b")
    based.save(tmp_path / "new")
    state = load_file(str(tmp_path / "new" / "weights.safetensors"))
    save_file({k: v for k, v in state.items() if k != "proj.weight"}, str(tmp_path / "new" / "weights.safetensors"))
    with pytest.raises(MissingAssetError, match=r"missing \['proj.weight'\]"):
        DualEncoder.load(tmp_path / "new")
    save_file({**state, "text.model.nonsense": torch.zeros(1)}, str(tmp_path / "new" / "weights.safetensors"))
    with pytest.raises(MissingAssetError, match="nonsense"):
        DualEncoder.load(tmp_path / "new")


def test_a_changed_base_is_refused(tmp_path):
    teacher = _based_teacher(tmp_path)
    teacher.save(tmp_path / "teacher")
    base = tmp_path / "tiny-text" / "model.safetensors"
    state = load_file(str(base))
    save_file({k: v + 1 for k, v in state.items()}, str(base))
    with pytest.raises(MissingAssetError, match="base model changed"):
        DualEncoder.load(tmp_path / "teacher")
