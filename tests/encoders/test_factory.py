"""The encoder factory: built-in names, saved folders, HF folders (tiny random BERT / CLIP), clear errors."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import BertModel, CLIPModel, CLIPTextModelWithProjection

from optical.encoders import (
    CLIPImageEncoder,
    EfficientNetLite0,
    EfficientNetLite2,
    TextEncoder,
    create_image_encoder,
    create_text_encoder,
    list_encoders,
)
from optical.errors import MissingAssetError
from tests.fakes import saved_bert, saved_tiny_clip, tiny_bert

TEXTS = ["a red apple on the table", "the small cat sleeps", "dog"]


def test_list_encoders():
    assert set(list_encoders()) == {"multilingual-e5-small", "all-minilm-l6-v2", "efficientnet-lite0",
                                    "efficientnet-lite2"}
    assert list_encoders("image") == ["efficientnet-lite0", "efficientnet-lite2"]
    assert "multilingual-e5-small" in list_encoders("text")


def test_hf_text_folder(tmp_path):
    folder = saved_bert(tmp_path / "tiny-bert")
    encoder = create_text_encoder(folder)
    assert isinstance(encoder.model, BertModel)
    assert (encoder.prefix, encoder.pooling, encoder.hidden_size, encoder.name) == ("", "mean", 32, str(folder))
    assert not encoder.training
    features = encoder.tokenize(TEXTS)
    with torch.no_grad():
        expected = tiny_bert()(**features).last_hidden_state
    mask = features["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(encoder.encode(TEXTS, normalize=False), (expected * mask).sum(1) / mask.sum(1))


def test_saved_text_encoder_folder_keeps_its_config(tmp_path):
    encoder = create_text_encoder(saved_bert(tmp_path / "tiny-bert"))
    encoder.prefix, encoder.max_length = "query : ", 9
    folder = encoder.save(tmp_path / "student")
    loaded = create_text_encoder(folder)
    assert (loaded.prefix, loaded.max_length) == ("query : ", 9)
    torch.testing.assert_close(loaded.encode(TEXTS), encoder.encode(TEXTS))


def test_clip_text_tower(tmp_path):
    folder = saved_tiny_clip(tmp_path / "tiny-clip")
    encoder = create_text_encoder(folder)
    assert isinstance(encoder.model, CLIPTextModelWithProjection) and encoder.pooling == "clip"
    assert encoder.hidden_size == 16  # the projection width, for tokens and sentences alike
    clip = CLIPModel.from_pretrained(folder).eval()
    features = encoder.tokenize(TEXTS)
    with torch.no_grad():
        out = encoder(features)
        reference = clip.get_text_features(**features)
    reference = getattr(reference, "pooler_output", reference)  # a tensor, or an output object in newer versions
    torch.testing.assert_close(out["sentence_embedding"], reference)
    assert out["token_embeddings"].shape == (*features["input_ids"].shape, 16)
    # The sentence embedding is the projected end-of-text ([SEP]) token state.
    eos = (features["input_ids"] == encoder.tokenizer.sep_token_id).int().argmax(1)
    torch.testing.assert_close(out["token_embeddings"][torch.arange(len(TEXTS)), eos], out["sentence_embedding"])
    loaded = TextEncoder.load(encoder.save(tmp_path / "clip-text"))
    torch.testing.assert_close(loaded.encode(TEXTS), encoder.encode(TEXTS))


def test_clip_image_tower(tmp_path):
    folder = saved_tiny_clip(tmp_path / "tiny-clip")
    encoder = create_image_encoder(folder)
    assert isinstance(encoder, CLIPImageEncoder) and encoder.feature_dim == 16
    images = [Image.new("RGB", (50, 40), (200, 30, 30)), Image.new("RGB", (32, 64), (20, 90, 200))]
    pixels = torch.stack([encoder.preprocess(img) for img in images])
    assert pixels.shape == (2, 3, 32, 32)
    clip = CLIPModel.from_pretrained(folder).eval()
    with torch.no_grad():
        features = encoder(pixels)
        reference = clip.get_image_features(pixel_values=pixels)
    torch.testing.assert_close(features, getattr(reference, "pooler_output", reference))
    # regions: the patch tokens (no class token) through the final layer norm and visual_projection, row-major
    with torch.no_grad():
        regions = encoder.regions(pixels)
        hidden = clip.vision_model(pixel_values=pixels, output_hidden_states=True).last_hidden_state
        expected = clip.visual_projection(clip.vision_model.post_layernorm(hidden[:, 1:]))
    assert regions.shape == (2, 16, 16)  # 32 px / 8 px patches: a 4 x 4 grid of projection_dim 16
    torch.testing.assert_close(regions, expected)


@pytest.mark.parametrize(("name", "cls", "size"), [("efficientnet-lite0", EfficientNetLite0, 224),
                                                  ("efficientnet-lite2", EfficientNetLite2, 260)])
def test_builtin_image_encoder(name, cls, size):
    encoder = create_image_encoder(name)
    assert type(encoder) is cls and not encoder.training
    assert (encoder.name, encoder.image_size, encoder.feature_dim) == (name, size, 1280)


@pytest.mark.slow
def test_builtin_minilm():
    encoder = create_text_encoder("all-minilm-l6-v2")
    assert (encoder.prefix, encoder.pooling, encoder.hidden_size) == ("", "mean", 384)
    emb = encoder.encode(["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."])
    sim = emb @ emb.T
    assert sim[0, 1] > 0.7 and sim[0, 2] < 0.2


def test_missing_converted_model_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path))
    with pytest.raises(MissingAssetError, match="python -m optical prepare"):
        create_text_encoder("multilingual-e5-small")


def test_unknown_names_and_wrong_kinds(tmp_path):
    with pytest.raises(MissingAssetError, match="unknown encoder"):
        create_text_encoder("no-such-org/no-such-model")  # HF_HUB_OFFLINE=1: never hits the network
    with pytest.raises(MissingAssetError, match="not a model folder"):
        create_text_encoder(tmp_path)
    with pytest.raises(ValueError, match="image encoder"):
        create_text_encoder("efficientnet-lite0")
    with pytest.raises(ValueError, match="text encoder"):
        create_image_encoder("multilingual-e5-small")
    with pytest.raises(ValueError, match="CLIPModel"):
        create_image_encoder(saved_bert(tmp_path / "tiny-bert"))
