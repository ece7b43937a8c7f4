"""The two models of the experiment: a projected text tower (teacher text side, student) and the teacher.

A saved model is one self-describing folder::

    <dir>/text/                 TextEncoder.save (HF save_pretrained + tokenizer)
    <dir>/heads.safetensors     projection weights (and the teacher's image projection, logit scale)
    <dir>/optical_model.json    {"kind": ..., "embed_dim": ..., "image_dim": ..., "format": 1}
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from optical.atomic import atomic_write_json
from optical.encoders import TextEncoder
from optical.encoders._text_tower import encode_sentences
from optical.errors import MissingAssetError

MODEL_FORMAT = 1
_CONFIG = "optical_model.json"
_HEADS = "heads.safetensors"


class ProjectedTextEncoder(nn.Module):
    """A text tower followed by a linear projection into the shared image-text space.

    ``forward`` returns the TextEncoder dict with ``token_embeddings`` [B, L, D] and ``sentence_embedding``
    [B, D] projected (D = ``embed_dim``), ``attention_mask`` and ``input_ids`` [B, L] unchanged: what the losses
    consume.
    """

    def __init__(self, text: TextEncoder, embed_dim: int):
        super().__init__()
        self.text = text
        self.embed_dim = embed_dim
        self.proj = nn.Linear(text.hidden_size, embed_dim, bias=False)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return self.text.tokenize(texts)

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.text(features)
        return {
            "token_embeddings": self.proj(out["token_embeddings"]),  # (B, L, D)
            "attention_mask": out["attention_mask"],  # (B, L)
            "input_ids": features["input_ids"],  # (B, L), for the losses' token roles and weights
            "sentence_embedding": self.proj(out["sentence_embedding"]),  # (B, D)
        }

    def encode(self, texts: list[str], batch_size: int = 64, normalize: bool = True) -> torch.Tensor:
        """Sentence embeddings [N, D] on the CPU (L2-normalised by default), computed in eval mode."""
        return encode_sentences(self, texts, self.embed_dim, batch_size, normalize)

    def freeze(self, train_layers: int) -> None:
        """Freeze the word embeddings and all but the top ``train_layers`` transformer layers (-1: train all layers).

        The projection always stays trainable. Frozen word embeddings are 96M of e5-small's 118M parameters and
        let students share them with the teacher in the app.
        """
        model = self.text.model
        for name, p in model.named_parameters():
            p.requires_grad_(train_layers < 0 and "word_embeddings" not in name and "token_embedding" not in name)
        if train_layers > 0:
            for layer in transformer_layers(model)[-train_layers:]:
                layer.requires_grad_(True)
        for p in self.proj.parameters():
            p.requires_grad_(True)

    def heads(self) -> dict[str, torch.Tensor]:
        return {"proj.weight": self.proj.weight}

    def save(self, path: str | Path) -> None:
        """Write the folder described in the module docstring (the caller makes it atomic)."""
        path = Path(path)
        self.text.save(path / "text")
        save_file({k: v.detach().cpu().contiguous() for k, v in self.heads().items()}, str(path / _HEADS))
        atomic_write_json(path / _CONFIG, self._config())

    def _config(self) -> dict:
        frozen = not self.text.model.get_input_embeddings().weight.requires_grad
        return {"format": MODEL_FORMAT, "kind": "projected_text", "embed_dim": self.embed_dim, "frozen_words": frozen}

    @classmethod
    def load(cls, path: str | Path, shared_text: TextEncoder | None = None) -> ProjectedTextEncoder:
        """Load a folder written by ``save``.

        ``shared_text``: the teacher's text tower. A student that trained with frozen word embeddings (they are
        the teacher's) then reuses the teacher's matrix instead of reading its own copy: e5-small's embeddings are
        96M of its 118M parameters, so the app holds the teacher and three students in about the memory of two.
        """
        config = read_model_config(path, "projected_text")
        text_dir = Path(path) / "text"
        if shared_text is not None and config.get("frozen_words") and (text_dir / "model.safetensors").is_file():
            text = _text_sharing_word_embeddings(shared_text, text_dir)
        else:
            text = TextEncoder.load(text_dir)
        model = cls(text, config["embed_dim"])
        model._load_heads(path)
        return model

    def _load_heads(self, path: str | Path) -> None:
        self.load_state_dict(load_file(str(Path(path) / _HEADS)), strict=False)


class DualEncoder(ProjectedTextEncoder):
    """The teacher: a projected text tower plus a linear projection of frozen image-tower features.

    ``encode_image_features(x [B, image_dim]) -> [B, D]``; ``logit_scale`` is the learnable inverse temperature
    (log-parametrised, CLIP style, initialised at 1/0.07).
    """

    def __init__(self, text: TextEncoder, embed_dim: int, image_dim: int):
        super().__init__(text, embed_dim)
        self.image_dim = image_dim
        self.image_proj = nn.Linear(image_dim, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image_features(self, features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        emb = self.image_proj(features.to(self.image_proj.weight.dtype))
        return nn.functional.normalize(emb, dim=-1) if normalize else emb

    @torch.no_grad()
    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        """Image-tower features (N, image_dim) -> L2-normalised embeddings (N, D), fp32 on the CPU (like ``encode``)."""
        device = self.image_proj.weight.device
        return self.encode_image_features(features.to(device)).float().cpu()

    def text_side(self) -> ProjectedTextEncoder:
        """A copy of the text tower + projection, the starting point of every student."""
        student = ProjectedTextEncoder(copy.deepcopy(self.text), self.embed_dim)
        student.proj.load_state_dict(self.proj.state_dict())
        return student

    def heads(self) -> dict[str, torch.Tensor]:
        return {
            "proj.weight": self.proj.weight,
            "image_proj.weight": self.image_proj.weight,
            "logit_scale": self.logit_scale,
        }

    def _config(self) -> dict:
        return {"format": MODEL_FORMAT, "kind": "dual", "embed_dim": self.embed_dim, "image_dim": self.image_dim}

    @classmethod
    def load(cls, path: str | Path) -> DualEncoder:  # type: ignore[override]
        config = read_model_config(path, "dual")
        model = cls(TextEncoder.load(Path(path) / "text"), config["embed_dim"], config["image_dim"])
        model._load_heads(path)
        return model


def read_model_config(path: str | Path, kind: str) -> dict:
    """Read and check ``optical_model.json``; a missing or foreign folder raises MissingAssetError."""
    file = Path(path) / _CONFIG
    if not file.is_file():
        raise MissingAssetError(f"{path}: not an optical model folder (no {_CONFIG})")
    config = json.loads(file.read_text(encoding="utf-8"))
    if config.get("format") != MODEL_FORMAT or config.get("kind") != kind:
        raise MissingAssetError(
            f"{file}: expected an optical {kind!r} model of format {MODEL_FORMAT}, found "
            f"kind={config.get('kind')!r} format={config.get('format')!r} (re-run the experiment)"
        )
    return config


def _text_sharing_word_embeddings(source: TextEncoder, folder: Path) -> TextEncoder:
    """A copy of ``source`` holding ``folder``'s weights except the input word embeddings, which stay shared
    (with the tokenizer: a student keeps its teacher's vocabulary).

    Only the other tensors of ``folder/model.safetensors`` are read, so the student's own copy of the matrix is
    never loaded.
    """
    embeddings = source.model.get_input_embeddings()
    text = copy.deepcopy(source, memo={id(embeddings): embeddings, id(source.tokenizer): source.tokenizer})
    shared = {name for name, p in text.model.named_parameters() if p is embeddings.weight}
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        state = {key: f.get_tensor(key) for key in f.keys() if key not in shared}  # noqa: SIM118
    missing, unexpected = text.model.load_state_dict(state, strict=False)
    if set(missing) - shared or unexpected:
        raise MissingAssetError(f"{folder}: weights do not fit the teacher's tower (missing {missing}, extra {unexpected})")
    return text


def transformer_layers(model: nn.Module) -> list[nn.Module]:
    """The stack of transformer blocks of an HF text model (BERT/XLM-R ``encoder.layer``, CLIP ``encoder.layers``)."""
    for name in ("encoder.layer", "encoder.layers", "text_model.encoder.layers", "layers", "transformer.layer"):
        module: nn.Module | None = model
        for part in name.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList):
            return list(module)
    raise ValueError(f"cannot find the transformer layers of {type(model).__name__} to freeze")
