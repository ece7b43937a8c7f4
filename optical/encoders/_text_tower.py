"""The text tower: an HF model, its fast tokenizer, an input prefix and a pooling, saved as one folder.

A saved ``TextEncoder`` is ``save_pretrained`` output (model + tokenizer) plus ``optical_text_encoder.json``::

    {"format": 1, "name": ..., "prefix": "query: ", "pooling": "mean", "max_length": 64,
     "model_class": "BertModel", "model_kwargs": {"add_pooling_layer": false},
     "versions": {"optical": ..., "torch": ..., "transformers": ..., "tokenizers": ...}}
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import tokenizers
import torch
import transformers
from safetensors import SafetensorError
from torch import Tensor, nn
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from optical import __version__
from optical.store import atomic_dir, atomic_write_json
from optical.encoders._weights import WEIGHTS_FILE, verify_weights
from optical.errors import MissingAssetError

CONFIG_NAME = "optical_text_encoder.json"
FORMAT = 1
POOLINGS = ("mean", "cls", "clip")


class TextEncoder(nn.Module):
    """A text tower that returns per-token states and a pooled sentence embedding.

    Args:
        model: an HF model whose output has ``last_hidden_state`` (a ``CLIPTextModelWithProjection`` for
            ``pooling="clip"``).
        tokenizer: its fast tokenizer (set to pad on the right).
        name: a label (built-in name, HF name or path).
        prefix: prepended to every text (e5: ``"query: "``).
        pooling: ``"mean"`` over non-padding tokens (special tokens included; e5, sentence-transformers),
            ``"cls"`` (first token), or ``"clip"``: CLIP's ``text_projection`` applied to every token state,
            the sentence embedding being CLIP's ``text_embeds`` (the projected end-of-text token).
        max_length: longer inputs are truncated (special tokens included).
        source: the name or folder ``create_text_encoder`` rebuilds this tower from (None: built in memory); a
            model saved on top of it stores only what training changed (``optical.distill``).

    ``forward`` takes ``tokenize``'s output and returns::

        {"token_embeddings": (B, L, H), "attention_mask": (B, L), "sentence_embedding": (B, H)}

    with ``H = hidden_size`` (CLIP: the projection width) and the sentence embedding not normalised;
    ``forward(features, layer=k)`` adds ``"layer_states"`` (B, L, H_model): the hidden states after transformer
    layer k (1-based, unprojected; ``hidden_states[k]`` of the HF model).

    Example
    -------
    >>> enc = TextEncoder.load("cache/models/multilingual-e5-small")
    >>> enc.encode(["ein roter Apfel", "a red apple"]).shape  # L2-normalised
    torch.Size([2, 384])
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        prefix: str = "",
        pooling: str = "mean",
        max_length: int = 64,
        source: str | None = None,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
        if pooling == "clip" and not hasattr(model, "text_projection"):
            raise ValueError(f"pooling 'clip' needs a model with a text_projection, got {type(model).__name__}")
        if not tokenizer.is_fast:
            raise ValueError(f"{name}: a fast tokenizer is required, got {type(tokenizer).__name__}")
        self.model = model
        self.train(model.training)
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "right"
        self.name = name
        self.prefix = prefix
        self.pooling = pooling
        self.max_length = max_length
        self.source = source
        self.changed: set[str] = set()  # model parameters no longer holding the source's values (optical.distill)

    @property
    def hidden_size(self) -> int:
        """Width of the token states and of the sentence embedding."""
        config = self.model.config
        return config.projection_dim if self.pooling == "clip" else config.hidden_size

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        """Prefix, tokenize, pad (right) and truncate to ``max_length``: ``input_ids``, ``attention_mask`` (B, L)."""
        batch = self.tokenizer(
            [self.prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
            return_token_type_ids=False,
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, features: dict[str, Tensor], layer: int | None = None) -> dict[str, Tensor]:
        mask = features["attention_mask"]  # (B, L)
        out = self.model(input_ids=features["input_ids"], attention_mask=mask, output_hidden_states=layer is not None)
        tokens = out.last_hidden_state  # (B, L, H)
        if self.pooling == "mean":
            sentence = mean_pool(tokens, mask)  # (B, H)
        elif self.pooling == "cls":
            sentence = tokens[:, 0]  # (B, H)
        else:  # clip
            tokens = self.model.text_projection(tokens)  # (B, L, P)
            sentence = out.text_embeds  # (B, P), the projected end-of-text token
        result = {"token_embeddings": tokens, "attention_mask": mask, "sentence_embedding": sentence}
        if layer is not None:
            if not 1 <= layer < len(out.hidden_states):
                raise ValueError(f"layer {layer}: {self.name} has transformer layers 1..{len(out.hidden_states) - 1}")
            result["layer_states"] = out.hidden_states[layer]  # (B, L, H_model), after layer ``layer``
        return result

    # Layer by layer, through public forwards only: what the frozen-layer cache (optical.distill) runs instead of
    # ``forward`` when the bottom layers' output is computed once. ``embed``, each of ``layers`` with
    # ``attention_bias``, then ``pool`` give what ``forward`` gives.

    @property
    def core(self) -> nn.Module:
        """The HF text model holding ``embeddings`` and ``encoder`` (a CLIP tower's ``text_model``)."""
        return getattr(self.model, "text_model", self.model)

    @property
    def causal(self) -> bool:
        """Whether a token attends only to those before it (CLIP's text tower; BERT and XLM-R attend both ways)."""
        config = self.model.config
        return config.model_type == "clip_text_model" or bool(getattr(config, "is_decoder", False))

    def embed(self, input_ids: Tensor) -> Tensor:
        """Token + position embeddings of ``input_ids`` (B, L): (B, L, H_model), what the first layer reads."""
        return self.core.embeddings(input_ids=input_ids)

    def attention_bias(self, mask: Tensor, dtype: torch.dtype) -> Tensor:
        """The additive attention mask (B, 1, L, L) the layers take for padding ``mask`` (B, L): 0 where query i
        may attend key j, the dtype's minimum where j is padding (or, ``causal``, after i). Eager attention adds it to
        the scores and sdpa passes it as ``attn_mask``; no row is all masked (padding is on the right)."""
        length = mask.shape[1]
        allowed = mask.bool()[:, None, None, :].expand(-1, 1, length, -1)  # (B, 1, L, L)
        if self.causal:
            allowed = allowed & torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
        bias = torch.zeros(allowed.shape, dtype=dtype, device=mask.device)
        return bias.masked_fill(~allowed, torch.finfo(dtype).min)

    def pool(self, hidden: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``forward``'s ``token_embeddings`` (B, L, H) and ``sentence_embedding`` (B, H) from the last layer's
        output ``hidden`` (B, L, H_model) and padding ``mask`` (B, L). CLIP: final layer norm, ``text_projection``
        of every token, the sentence being the end-of-text token's (the last non-padding one)."""
        if self.pooling == "mean":
            return hidden, mean_pool(hidden, mask)
        if self.pooling == "cls":
            return hidden, hidden[:, 0]
        tokens = self.model.text_projection(self.core.final_layer_norm(hidden))  # (B, L, P)
        last = mask.sum(1).long() - 1  # (B,) right padding: the end-of-text token is the last real one
        return tokens, tokens[torch.arange(len(tokens), device=tokens.device), last]

    def encode(self, texts: list[str], batch_size: int = 64, normalize: bool = True) -> Tensor:
        """Sentence embeddings ``(N, H)`` on the CPU (L2-normalised by default), computed in eval mode."""
        return encode_sentences(self, texts, self.hidden_size, batch_size, normalize)

    def get_config_dict(self) -> dict:
        return {"name": self.name, "prefix": self.prefix, "pooling": self.pooling, "max_length": self.max_length}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config_dict().items())

    def save(self, path: str | Path) -> Path:
        """Write model, tokenizer and ``optical_text_encoder.json`` into the folder ``path`` (atomically)."""
        with atomic_dir(path) as tmp:
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            atomic_write_json(
                tmp / CONFIG_NAME,
                {"format": FORMAT, **self.get_config_dict(), "model_class": type(self.model).__name__,
                 "model_kwargs": self._model_kwargs(), "versions": _versions()},
            )
        return Path(path)

    def _model_kwargs(self) -> dict:
        """``from_pretrained`` arguments that rebuild this architecture: BERT without pooler (e5 has none)."""
        without_pooler = hasattr(self.model, "pooler") and self.model.pooler is None
        return {"add_pooling_layer": False} if without_pooler else {}

    @classmethod
    def load(cls, path: str | Path, install: str = "python -m optical prepare") -> TextEncoder:
        """Load a folder written by ``save`` (in eval mode; ``source`` is the folder).

        Weights recorded in the folder's manifest are checked first (``optical.encoders._weights``); damaged or
        unreadable weights raise MissingAssetError naming the file and the command ``install`` that rebuilds it.
        """
        file = Path(path) / CONFIG_NAME
        if not file.is_file():
            raise MissingAssetError(f"{path}: not a saved TextEncoder (no {CONFIG_NAME})")
        config = json.loads(file.read_text(encoding="utf-8"))
        if config.get("format") != FORMAT:
            raise MissingAssetError(f"{file}: unsupported format {config.get('format')!r} (expected {FORMAT})")
        verify_weights(Path(path), install)
        model_class = getattr(transformers, config["model_class"])
        try:
            model = model_class.from_pretrained(path, **config["model_kwargs"]).eval()
        except (OSError, SafetensorError, RuntimeError, ValueError) as err:
            raise MissingAssetError(
                f"{Path(path) / WEIGHTS_FILE}: cannot read the weights ({type(err).__name__}: {err}): run `{install}`"
            ) from None
        return cls(
            model,
            AutoTokenizer.from_pretrained(path),
            name=config["name"],
            prefix=config["prefix"],
            pooling=config["pooling"],
            max_length=config["max_length"],
            source=str(Path(path).resolve()),
        )


def mean_pool(tokens: Tensor, mask: Tensor) -> Tensor:
    """Mean of the non-padding token states: (B, L, H) states, (B, L) mask -> (B, H)."""
    weights = mask.unsqueeze(-1).to(tokens.dtype)  # (B, L, 1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


@torch.no_grad()
def encode_sentences(module: nn.Module, texts: list[str], width: int, batch_size: int = 64, normalize: bool = True) -> Tensor:
    """Batched ``module(module.tokenize(texts))["sentence_embedding"]`` in eval mode -> ``(N, width)`` on the CPU.

    ``module`` is any tower with the TextEncoder interface (``tokenize`` and a forward returning the dict).
    """
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    chunks = [torch.zeros(0, width)]
    for start in range(0, len(texts), batch_size):
        features = {k: v.to(device) for k, v in module.tokenize(texts[start : start + batch_size]).items()}
        emb = module(features)["sentence_embedding"].float()  # (b, width)
        chunks.append((nn.functional.normalize(emb, dim=-1) if normalize else emb).cpu())
    module.train(was_training)
    return torch.cat(chunks)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars, e.g. for the unused tower of a CLIP checkpoint."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _versions() -> dict[str, str]:
    return {
        "optical": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
