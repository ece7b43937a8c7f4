"""Run the frozen bottom layers of a student once: training then only runs the trainable top layers.

The students (and the teacher's text side) train only the top ``k`` transformer layers and the projection; the
word embeddings and the bottom layers are frozen and identical across methods. Their output for a sentence never
changes, so it is computed once (eval mode, no gradient) and each step starts from it. For e5-small with the top
4 of 12 layers trainable this removes two thirds of every forward pass (``bench/step.py`` measures it).

Dropout: the frozen part is a fixed feature extractor and runs without dropout (e5's 0.1) on both paths: here in
eval mode, and in the uncached forward because ``optical.distill.train.fit`` keeps frozen modules in eval mode
(``train_mode``); the trainable top layers use dropout on both paths. So a run trains the same model with or
without the cache (``tests/distill/test_training.py`` checks one step with dropout 0.1).

Supported for BERT-style towers with mean pooling (the built-in e5) through the private transformers API
``_create_attention_masks``; when something is missing, ``for_top_layers`` warns naming it and training falls back
to the full forward (about 3x slower for e5-small).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import torch
import transformers
from torch import nn

from optical.distill._models import ProjectedTextEncoder, transformer_layers
from optical.encoders import mean_pool


class FrozenPrefix:
    """Hidden states after the first ``n_frozen`` layers for N sentences, stored without padding.

    ``states[i]`` : (L_i, H) for sentence i (its non-padding tokens, special tokens and prefix included);
    ``input_ids[i]`` : (L_i,) their token ids.
    """

    def __init__(self, model: ProjectedTextEncoder, n_frozen: int, texts: list[str], batch_size: int = 64):
        self.n_frozen = n_frozen
        self.states: list[torch.Tensor] = []
        self.input_ids: list[torch.Tensor] = []
        hf = model.text.model
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                feats = {k: v.to(device) for k, v in model.tokenize(texts[start : start + batch_size]).items()}
                hidden = hf.embeddings(input_ids=feats["input_ids"])  # (b, L, H)
                hidden = _run_layers(hf, transformer_layers(hf)[:n_frozen], hidden, feats["attention_mask"])
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
            warnings.warn(f"the frozen-layer cache needs {missing} (transformers {transformers.__version__}); training falls back to the full forward through "
                          f"all {n_layers} layers (slower: about 3x for e5-small)", RuntimeWarning, stacklevel=2)
            return None
        return cls(model, n_layers - train_layers, texts)

    @staticmethod
    def missing(model: ProjectedTextEncoder) -> str:
        """What the cache needs and ``model`` lacks (mean pooling, the HF model's ``embeddings``, ``encoder`` and
        private ``_create_attention_masks``), as words; empty when supported."""
        hf = model.text.model
        needs = [f"{type(hf).__name__}.{name}" + (" (private transformers API)" if name.startswith("_") else "")
                 for name in ("embeddings", "encoder", "_create_attention_masks") if not hasattr(hf, name)]
        if model.text.pooling != "mean":
            needs.insert(0, f"mean pooling (this tower pools by {model.text.pooling!r})")
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
        hf = model.text.model
        layers = transformer_layers(hf)
        if layer != -1 and not self.n_frozen < layer <= len(layers):
            raise ValueError(f"layer {layer}: the states this cache computes are those after layers "
                             f"{self.n_frozen + 1}..{len(layers)} (the trainable ones)")
        split = len(layers) if layer == -1 else layer
        tokens = middle = _run_layers(hf, layers[self.n_frozen : split], hidden, mask)  # (B, L, H) after layer split
        if split < len(layers):
            tokens = _run_layers(hf, layers[split:], middle, mask)  # (B, L, H), the last layer's
        return {
            "token_embeddings": model.proj(tokens) if layer == -1 else middle,
            "attention_mask": mask,
            "input_ids": nn.utils.rnn.pad_sequence([self.input_ids[i] for i in idx.tolist()], batch_first=True).to(device),
            "sentence_embedding": model.proj(mean_pool(tokens, mask)),
        }


@torch.no_grad()
def shared_prefix_embeddings(
    models: Mapping[str, ProjectedTextEncoder], texts: list[str], n_frozen: int, batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """L2-normalised sentence embeddings (N, D) on the CPU of ``texts`` for every model of ``models``, whose word
    embeddings and first ``n_frozen`` layers must be identical (``FrozenPrefix.supported`` towers): per batch those
    run once, then each model's own top layers, pooling and projection, in eval mode. Batches hold texts of equal
    or next token counts (little padding); rows come back in the order of ``texts``. Nothing is kept between
    batches but the outputs, so memory does not grow with ``len(texts)`` beyond (N, D) per model."""
    first = next(iter(models.values()))
    hf = first.text.model
    device = next(first.parameters()).device
    modes = {name: model.training for name, model in models.items()}
    out = {name: torch.empty(len(texts), model.embed_dim) for name, model in models.items()}
    for model in models.values():
        model.eval()
    order = _by_token_count(first, texts)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        feats = {k: v.to(device) for k, v in first.tokenize([texts[i] for i in rows]).items()}
        mask = feats["attention_mask"]  # (b, L)
        hidden = _run_layers(hf, transformer_layers(hf)[:n_frozen], hf.embeddings(input_ids=feats["input_ids"]), mask)
        for name, model in models.items():
            tower = model.text.model
            tokens = _run_layers(tower, transformer_layers(tower)[n_frozen:], hidden, mask)  # (b, L, H)
            emb = model.proj(mean_pool(tokens, mask)).float()  # (b, D)
            out[name][rows] = nn.functional.normalize(emb, dim=-1).cpu()
    for name, model in models.items():
        model.train(modes[name])
    return out


def _by_token_count(model: ProjectedTextEncoder, texts: list[str], batch_size: int = 1024) -> torch.Tensor:
    """Indices (N,) of ``texts`` by ascending token count under ``model``'s tokenizer (stable)."""
    counts = [model.tokenize(texts[i : i + batch_size])["attention_mask"].sum(1)
              for i in range(0, len(texts), batch_size)]
    return torch.argsort(torch.cat([torch.zeros(0, dtype=torch.long), *counts]), stable=True)


def _run_layers(hf: nn.Module, layers: list[nn.Module], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply ``layers`` to ``hidden`` (B, L, H) with padding ``mask`` (B, L), as the HF encoder would."""
    attention, _ = hf._create_attention_masks(
        attention_mask=mask, encoder_attention_mask=None, embedding_output=hidden, encoder_hidden_states=None, cache=None
    )
    for layer in layers:
        hidden = layer(hidden, attention)
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
