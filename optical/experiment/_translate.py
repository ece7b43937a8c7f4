"""translate-test: translate foreign captions into English with a user-named HF seq2seq model or Apertium, then
use the teacher."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from optical.errors import MissingAssetError
from optical.scoring import Padded
from optical.experiment._apertium import apertium_pair, apertium_translate
from optical.experiment._ranking import text_encoding

if TYPE_CHECKING:
    from optical.distill import DualEncoder
    from optical.config import ExperimentConfig


def translate_test_encoder(
    config: ExperimentConfig, teacher: DualEncoder, device: torch.device, say: Callable[[str], None] = print,
    late: bool = False,
) -> Callable[[list[str], str], np.ndarray | Padded | None]:
    """translate-test's ``Encode``: English captions as they are, the others translated into English (``config.mt``:
    ``mt_model`` per language, or the installed Apertium pair), embedded by ``teacher`` (N, D), or as its token
    states (N, L, D) when ``late``. With Apertium a language without a pair gives None (left out of the method's
    rows) and ``say`` names it."""
    embed = text_encoding(teacher, late)

    def encode(texts: list[str], lang: str) -> np.ndarray | Padded | None:
        if lang == "en":
            return embed(texts)
        if config.mt == "apertium":
            mode = apertium_pair(lang)
            if mode is None:
                say(f"translate-test: no Apertium pair {lang} -> English is installed; {lang} is left out of its rows")
                return None
            return embed(apertium_translate(texts, mode))
        model, tokenizer = load_translator(config.mt_model, lang, device)
        return embed(translate(texts, model, tokenizer))

    return encode


def load_translator(name_or_path: str, language: str, device: torch.device):
    """(model, tokenizer) for ``name_or_path`` with ``{lang}`` replaced by ``language`` (e.g. opus-mt-{lang}-en)."""
    name = name_or_path.replace("{lang}", language)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForSeq2SeqLM.from_pretrained(name).to(device).eval()
    except OSError as err:
        raise MissingAssetError(
            f"translation model {name!r} for {language!r} is not available offline: {err.__class__.__name__}. "
            "Pass a local folder with --mt-model."
        ) from None
    return model, tokenizer


@torch.no_grad()
def translate(texts: list[str], model, tokenizer, batch_size: int = 32, max_new_tokens: int = 64) -> list[str]:
    """Greedy translation of ``texts`` (list of N strings) -> N English strings."""
    device = next(model.parameters()).device
    out: list[str] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True, truncation=True)
        generated = model.generate(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            max_new_tokens=max_new_tokens,
            num_beams=1,
            do_sample=False,
        )
        out += tokenizer.batch_decode(generated, skip_special_tokens=True)
    return out
