"""translate-test: translate foreign captions into English with a user-named HF seq2seq model, then use the teacher."""

from __future__ import annotations

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from optical.errors import MissingAssetError


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
