"""Run the frozen bottom layers of a student once: training then only runs the trainable top layers.

The students (and the teacher's text side) train only the top ``k`` transformer layers and the projection; the
word embeddings and the bottom layers are frozen and identical across methods. Their output for a sentence never
changes, so it is computed once (eval mode, no gradient) and each step starts from it. For e5-small with the top
4 of 12 layers trainable this removes two thirds of every forward pass (``bench/step.py`` measures it).

Dropout: the frozen part is a fixed feature extractor and runs without dropout (e5's 0.1) on both paths: here in
eval mode, and in the uncached forward because ``optical.distill.train.fit`` keeps frozen modules in eval mode
(``train_mode``); the trainable top layers use dropout on both paths. So a run trains the same model with or
without the cache (``tests/distill/test_training.py`` checks one step with dropout 0.1).

The layers run through their public forwards with the attention mask the tower builds itself
(``TextEncoder.embed``, ``attention_bias``, ``pool``): BERT (e5), XLM-R and CLIP text towers under eager and sdpa
attention, no private transformers API. A tower whose embeddings or layers cannot be found makes ``for_top_layers``
warn naming what is missing, and training falls back to the full forward (about 3x slower for e5-small).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from optical.distill._models import ProjectedTextEncoder, transformer_layers
from optical.encoders import TextEncoder
from optical.scoring import Padded


class FrozenPrefix:
    """Hidden states after the first ``n_frozen`` layers for N sentences, stored without padding.

    ``states[i]`` : (L_i, H) for sentence i (its non-padding tokens, special tokens and prefix included);
    ``input_ids[i]`` : (L_i,) their token ids.
    """

    def __init__(self, model: ProjectedTextEncoder, n_frozen: int, texts: list[str], batch_size: int = 64):
        self.n_frozen = n_frozen
        self.states: list[torch.Tensor] = []
        self.input_ids: list[torch.Tensor] = []
        tower = model.text
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                feats = {k: v.to(device) for k, v in model.tokenize(texts[start : start + batch_size]).items()}
                hidden = tower.embed(feats["input_ids"])  # (b, L, H)
                hidden = _run_layers(tower, transformer_layers(tower.model)[:n_frozen], hidden, feats["attention_mask"])
                for h, ids, m in zip(hidden.cpu(), feats["input_ids"].cpu(), feats["attention_mask"].cpu()):
                    self.states.append(h[m.bool()].clone())
                    self.input_ids.append(ids[m.bool()].clone())
        model.train(was_training)

    @classmethod
    def for_top_layers(cls, model: ProjectedTextEncoder, train_layers: int, texts: list[str]) -> FrozenPrefix | None:
        """The cache for a model whose top ``train_layers`` layers train (0 <= train_layers < layer count; 0: only
        the heads train, every layer runs once); None otherwise (-1 trains every layer) or when the tower is not
        supported."""
        n_layers = len(transformer_layers(model.text.model))
        if not 0 <= train_layers < n_layers:
            return None
        missing = cls.missing(model)
        if missing:
            warnings.warn(f"the frozen-layer cache needs {missing}; training falls back to the full forward through "
                          f"all {n_layers} layers (slower: about 3x for e5-small)", RuntimeWarning, stacklevel=2)
            return None
        return cls(model, n_layers - train_layers, texts)

    @staticmethod
    def missing(model: ProjectedTextEncoder) -> str:
        """What the cache needs and ``model``'s tower lacks (its input ``embeddings``, a stack of transformer
        layers; CLIP pooling: ``final_layer_norm``), as words; empty when supported."""
        tower = model.text
        needs = [f"{type(tower.core).__name__}.{name}" for name in ("embeddings",) if not hasattr(tower.core, name)]
        if tower.pooling == "clip" and not hasattr(tower.core, "final_layer_norm"):
            needs.append(f"{type(tower.core).__name__}.final_layer_norm")
        try:
            transformer_layers(tower.model)
        except ValueError:
            needs.append(f"a stack of transformer layers in {type(tower.model).__name__}")
        return ", ".join(needs)

    @classmethod
    def supported(cls, model: ProjectedTextEncoder) -> bool:
        return not cls.missing(model)

    def forward(self, model: ProjectedTextEncoder, idx: torch.Tensor, layer: int = -1) -> dict[str, torch.Tensor]:
        """``model``'s output dict for sentences ``idx`` (B,), running only layers ``n_frozen`` and up; ``layer``
        as in ``ProjectedTextEncoder.forward`` (k: the states after layer k, which must be a trainable one)."""
        device = next(model.parameters()).device
        states = [self.states[i] for i in idx.tolist()]
        hidden = nn.utils.rnn.pad_sequence(states, batch_first=True).to(device)  # (B, L, H)
        mask = nn.utils.rnn.pad_sequence([torch.ones(len(s), dtype=torch.long) for s in states], batch_first=True)
        mask = mask.to(device)  # (B, L)
        tower = model.text
        layers = transformer_layers(tower.model)
        if layer != -1 and not self.n_frozen < layer <= len(layers):
            raise ValueError(f"layer {layer}: the states this cache computes are those after layers "
                             f"{self.n_frozen + 1}..{len(layers)} (the trainable ones)")
        split = len(layers) if layer == -1 else layer
        last = middle = _run_layers(tower, layers[self.n_frozen : split], hidden, mask)  # (B, L, H) after layer split
        if split < len(layers):
            last = _run_layers(tower, layers[split:], middle, mask)  # (B, L, H), the last layer's
        tokens, sentence = tower.pool(last, mask)
        return {
            "token_embeddings": model.proj(tokens) if layer == -1 else middle,
            "attention_mask": mask,
            "input_ids": nn.utils.rnn.pad_sequence([self.input_ids[i] for i in idx.tolist()], batch_first=True).to(device),
            "sentence_embedding": model.proj(sentence),
        }


@torch.no_grad()
def shared_prefix_embeddings(
    models: Mapping[str, ProjectedTextEncoder], texts: list[str], n_frozen: int, batch_size: int = 256,
    progress: bool = False, tokens: bool = False,
) -> dict[str, torch.Tensor | Padded]:
    """L2-normalised sentence embeddings (N, D) on the CPU of ``texts`` for every model of ``models``, whose word
    embeddings and first ``n_frozen`` layers must be identical (``FrozenPrefix.supported`` towers): per batch those
    run once, then each model's own top layers, pooling and projection, in eval mode. Batches hold texts of equal
    or next token counts (little padding); rows come back in the order of ``texts``. Nothing is kept between
    batches but the outputs, so memory does not grow with ``len(texts)`` beyond (N, D) per model. ``progress``:
    a tqdm bar of the texts encoded (stderr). ``tokens``: each model's projected token states instead, padding out
    (``Padded`` (N, L, D), not normalised: ``ProjectedTextEncoder.encode_tokens``'s)."""
    first = next(iter(models.values()))
    device = next(first.parameters()).device
    modes = {name: model.training for name, model in models.items()}
    out = {name: torch.empty(len(texts), model.embed_dim) for name, model in models.items()}
    token_sets: dict[str, list] = {name: [None] * len(texts) for name in models}
    for model in models.values():
        model.eval()
    order = _by_token_count(first, texts)
    bar = tqdm(total=len(texts), unit="caption", desc="encoding captions", disable=not progress)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        feats = {k: v.to(device) for k, v in first.tokenize([texts[i] for i in rows]).items()}
        mask = feats["attention_mask"]  # (b, L)
        hidden = first.text.embed(feats["input_ids"])  # (b, L, H)
        hidden = _run_layers(first.text, transformer_layers(first.text.model)[:n_frozen], hidden, mask)
        for name, model in models.items():
            last = _run_layers(model.text, transformer_layers(model.text.model)[n_frozen:], hidden, mask)  # (b, L, H)
            if tokens:
                states = model.proj(model.text.pool(last, mask)[0]).float().cpu()  # (b, L, D)
                for i, state, real in zip(rows.tolist(), states, mask.bool().cpu()):
                    token_sets[name][i] = state[real]
                continue
            emb = model.proj(model.text.pool(last, mask)[1]).float()  # (b, D)
            out[name][rows] = nn.functional.normalize(emb, dim=-1).cpu()
        bar.update(len(rows))
    bar.close()
    for name, model in models.items():
        model.train(modes[name])
    if tokens:
        return {name: Padded.stack(sets, dim=models[name].embed_dim) for name, sets in token_sets.items()}
    return out


def _by_token_count(model: ProjectedTextEncoder, texts: list[str], batch_size: int = 1024) -> torch.Tensor:
    """Indices (N,) of ``texts`` by ascending token count under ``model``'s tokenizer (stable)."""
    counts = [model.tokenize(texts[i : i + batch_size])["attention_mask"].sum(1)
              for i in range(0, len(texts), batch_size)]
    return torch.argsort(torch.cat([torch.zeros(0, dtype=torch.long), *counts]), stable=True)


def _run_layers(tower: TextEncoder, layers: list[nn.Module], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply ``layers`` of ``tower`` to ``hidden`` (B, L, H) with padding ``mask`` (B, L), as its encoder would:
    each layer's public forward with the tower's additive attention mask (a layer returning a tuple gives its
    first element, as older transformers releases do)."""
    bias = tower.attention_bias(mask, hidden.dtype)  # (B, 1, L, L)
    for layer in layers:
        out = layer(hidden, bias)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def forward_texts(
    model: ProjectedTextEncoder, texts: list[str], idx: torch.Tensor, prefix: FrozenPrefix | None, device: torch.device,
    layer: int = -1,
) -> dict[str, torch.Tensor]:
    """``model``'s output dict for ``texts[idx]``, from the frozen-layer cache when there is one; ``layer``: which
    token states it holds (``ProjectedTextEncoder.forward``)."""
    if prefix is not None:
        return prefix.forward(model, idx, layer)
    return model({k: v.to(device) for k, v in model.tokenize([texts[i] for i in idx]).items()}, layer)
