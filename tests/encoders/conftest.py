"""Tiny randomly initialised HF models (BERT, CLIP) saved to temporary folders: encoder tests without weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizer, CLIPConfig, CLIPModel

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "query", ":", "a", "red", "green", "apple", "dog", "cat",
         "the", "on", "table", "small", "big", "runs", "sleeps", "##s", "in", "park", "house"]
PAD, SEP = 0, 3


@pytest.fixture
def tiny_tokenizer() -> BertTokenizer:
    """A WordPiece tokenizer over ``WORDS`` ([PAD] 0, [CLS] 2, [SEP] 3)."""
    return BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})


@pytest.fixture
def tiny_bert() -> BertModel:
    """A 2-layer BERT, hidden 32, with pooler, in eval mode."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, pad_token_id=PAD)
    return BertModel(config).eval()


@pytest.fixture
def tiny_bert_dir(tmp_path: Path, tiny_bert, tiny_tokenizer) -> Path:
    """``tiny_bert`` and ``tiny_tokenizer`` as ``save_pretrained`` writes them."""
    folder = tmp_path / "tiny-bert"
    tiny_bert.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_clip_dir(tmp_path: Path, tiny_tokenizer) -> Path:
    """A tiny ``CLIPModel`` folder (text width 32, vision width 24, projection 16, 32 px images), no processor file."""
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=48, max_position_embeddings=40, pad_token_id=PAD, bos_token_id=2,
                         eos_token_id=SEP),
        vision_config=dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    folder = tmp_path / "tiny-clip"
    CLIPModel(config).eval().save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder
