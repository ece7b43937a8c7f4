"""Run the frozen bottom layers of a student once: training then only runs the trainable top layers.

The students (and the teacher's text side) train only the top ``k`` transformer layers and the projection; the
word embeddings and the bottom layers are frozen and identical across methods. Their output for a sentence never
changes, so it is computed once (eval mode, no gradient) and each step starts from it. For e5-small with the top
4 of 12 layers trainable this removes two thirds of every forward pass (``bench/step.py`` measures it).
Supported for BERT-style towers with mean pooling (the built-in e5); others fall back to the full forward.
"""

from __future__ import annotations

import torch
from torch import nn

from optical.distill._models import ProjectedTextEncoder, transformer_layers


class FrozenPrefix:
    """Hidden states after the first ``n_frozen`` layers for N sentences, stored without padding.

    ``states[i]`` : (L_i, H) for sentence i (its non-padding tokens, special tokens and prefix included).
    """

    def __init__(self, model: ProjectedTextEncoder, n_frozen: int, texts: list[str], batch_size: int = 64):
        self.n_frozen = n_frozen
        self.states: list[torch.Tensor] = []
        hf = model.text.model
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                feats = {k: v.to(device) for k, v in model.tokenize(texts[start : start + batch_size]).items()}
                hidden = hf.embeddings(input_ids=feats["input_ids"])  # (b, L, H)
                hidden = _run_layers(hf, transformer_layers(hf)[:n_frozen], hidden, feats["attention_mask"])
                for h, m in zip(hidden.cpu(), feats["attention_mask"].cpu()):
                    self.states.append(h[m.bool()].clone())
        model.train(was_training)

    @classmethod
    def for_top_layers(cls, model: ProjectedTextEncoder, train_layers: int, texts: list[str]) -> FrozenPrefix | None:
        """The cache for a model whose top ``train_layers`` layers train (0 <= train_layers < layer count; 0: only
        the heads train, every layer runs once); None otherwise (-1 trains every layer) or when the tower is not
        supported."""
        n_layers = len(transformer_layers(model.text.model))
        if not 0 <= train_layers < n_layers or not cls.supported(model):
            return None
        return cls(model, n_layers - train_layers, texts)

    @staticmethod
    def supported(model: ProjectedTextEncoder) -> bool:
        hf = model.text.model
        return model.text.pooling == "mean" and all(
            hasattr(hf, name) for name in ("embeddings", "encoder", "_create_attention_masks")
        )

    def forward(self, model: ProjectedTextEncoder, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """``model``'s output dict for sentences ``idx`` (B,), running only layers ``n_frozen`` and up."""
        device = next(model.parameters()).device
        states = [self.states[i] for i in idx.tolist()]
        hidden = nn.utils.rnn.pad_sequence(states, batch_first=True).to(device)  # (B, L, H)
        mask = nn.utils.rnn.pad_sequence([torch.ones(len(s), dtype=torch.long) for s in states], batch_first=True)
        mask = mask.to(device)  # (B, L)
        hf = model.text.model
        tokens = _run_layers(hf, transformer_layers(hf)[self.n_frozen :], hidden, mask)  # (B, L, H)
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        sentence = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, H), TextEncoder's mean pooling
        return {
            "token_embeddings": model.proj(tokens),
            "attention_mask": mask,
            "sentence_embedding": model.proj(sentence),
        }


def _run_layers(hf: nn.Module, layers: list[nn.Module], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply ``layers`` to ``hidden`` (B, L, H) with padding ``mask`` (B, L), as the HF encoder would."""
    attention, _ = hf._create_attention_masks(
        attention_mask=mask, encoder_attention_mask=None, embedding_output=hidden, encoder_hidden_states=None, cache=None
    )
    for layer in layers:
        hidden = layer(hidden, attention)
    return hidden


def forward_texts(
    model: ProjectedTextEncoder, texts: list[str], idx: torch.Tensor, prefix: FrozenPrefix | None, device: torch.device
) -> dict[str, torch.Tensor]:
    """``model``'s output dict for ``texts[idx]``, from the frozen-layer cache when there is one."""
    if prefix is not None:
        return prefix.forward(model, idx)
    return model({k: v.to(device) for k, v in model.tokenize([texts[i] for i in idx]).items()})
