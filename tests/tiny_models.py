"""Tiny randomly initialised models for fast tests (no weights, no network)."""

from __future__ import annotations

import string
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from optical.encoders import TextEncoder

WORDS = "a an the red green blue apple dog cat house tree car boat bird fish ein der die das rot apfel hund katze".split()


def tiny_tokenizer() -> BertTokenizerFast:
    """A WordPiece tokenizer over lowercase letters, digits and a few words; anything else is [UNK]."""
    pieces = list(string.ascii_lowercase + string.digits + ":")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *pieces, *[f"##{c}" for c in pieces]]
    ids = {piece: i for i, piece in enumerate(dict.fromkeys(vocab))}
    return BertTokenizerFast(vocab=ids, do_lower_case=True)


def tiny_text_encoder(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0, dropout: float = 0.0
                      ) -> TextEncoder:
    """A 2-layer BERT with hidden size 32 and mean pooling, wrapped as a TextEncoder; ``dropout`` (hidden and
    attention) is 0 by default so that 1-process and 2-process runs agree."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        pad_token_id=0,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    return TextEncoder(BertModel(config, add_pooling_layer=False).eval(), tokenizer, name="tiny-bert", max_length=32)


def saved_tiny_text_encoder(folder: Path) -> Path:
    """A tiny TextEncoder saved as a folder that ``create_text_encoder(path)`` loads."""
    tiny_text_encoder(folder / "build").save(folder / "tiny-text")
    return folder / "tiny-text"


def saved_tiny_translator(folder: Path) -> Path:
    """A tiny random Marian MT model with the tiny tokenizer, saved where ``AutoModelForSeq2SeqLM`` loads it."""
    from transformers import MarianConfig, MarianMTModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=len(tokenizer),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        forced_eos_token_id=tokenizer.sep_token_id,
    )
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_xlmr_tokenizer():
    """A sentencepiece-style Unigram tokenizer (XLM-R's special ids: <s> 0, <pad> 1, </s> 2, <unk> 3) over ``WORDS``
    and single characters, built in memory: a vocabulary and tokenization unlike ``tiny_tokenizer``'s."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    chars = string.ascii_letters + string.digits + ":.,"
    pieces = {"<s>": 0.0, "<pad>": 0.0, "</s>": 0.0, "<unk>": 0.0, **{"▁" + w: -1.0 for w in WORDS}}
    for c in chars:
        pieces.setdefault(c, -5.0)
        pieces.setdefault("▁" + c, -6.0)  # "▁a" stays the word's piece
    vocab = [*pieces.items(), ("▁", -8.0)]
    backend = Tokenizer(models.Unigram(vocab, unk_id=3))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return XLMRobertaTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<unk>")


def saved_tiny_xlmr(folder: Path, hidden: int = 24, layers: int = 2, seed: int = 1) -> Path:
    """A tiny random ``XLMRobertaModel`` and its tokenizer, saved where ``AutoModel`` loads them: a
    student encoder unlike the teacher (another architecture, tokenizer and width)."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    tokenizer = tiny_xlmr_tokenizer()
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden, max_position_embeddings=66, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    XLMRobertaModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def saved_tiny_clip(folder: Path, seed: int = 2) -> Path:
    """A tiny random ``CLIPModel`` (text width 32 with ``tiny_tokenizer``, vision width 24 at 32 px, projection 16)
    and its tokenizer, saved where ``CLIPModel.from_pretrained`` loads it (no image processor file)."""
    from transformers import CLIPConfig, CLIPModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id),
        vision_config=dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    CLIPModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
