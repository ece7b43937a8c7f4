"""The two models of the experiment: a projected text tower (teacher text side, student) and the teacher.

A saved model (format 2) stores only what training changed, on top of the text encoder it was built from::

    <dir>/optical_model.json    {"format": 2, "kind": ..., "embed_dim": ..., "image_dim": ...,
                                 "base": {"source": <built-in name or folder>, "sha256": <its weights' hash>},
                                 "trained": [state keys whose parameters train (set by ``freeze``)]}
    <dir>/weights.safetensors   the heads and every text-tower tensor that differs from the base: the trained
                                ones and those inherited from a trained teacher (``text_side``)

Loading rebuilds the base (``create_text_encoder(source)``, its hash checked) and puts the stored tensors on
top, strictly. A tower without a usable base (built in memory, or an HF hub name) is written in full to
``<dir>/text/`` (``TextEncoder.save``) with ``"base": null``. Format 1 folders (``text/`` in full plus
``heads.safetensors``) are still read.
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

from optical.store import atomic_dir, atomic_write_json, atomic_write_text
from optical.encoders import TextEncoder, base_reference, create_text_encoder, encode_sentences
from optical.errors import MissingAssetError, OpticalError
from optical.scoring import Padded

MODEL_FORMAT = 2
_READABLE_FORMATS = (1, 2)
_CONFIG = "optical_model.json"
_WEIGHTS = "weights.safetensors"
_HEADS_V1 = "heads.safetensors"
_TEXT = "text"
_TEXT_PREFIX = "text.model."


class ProjectedTextEncoder(nn.Module):
    """A text tower followed by a linear projection into the shared image-text space.

    ``forward`` returns the TextEncoder dict with ``token_embeddings`` [B, L, D] and ``sentence_embedding``
    [B, D] projected (D = ``embed_dim``), ``attention_mask`` and ``input_ids`` [B, L] unchanged: what the losses
    consume. ``forward(features, layer=k)`` (k >= 1; ``LossConfig.layer``) gives as ``token_embeddings`` the hidden
    states after transformer layer k instead, unprojected [B, L, H]; -1 (default) is the last layer projected.
    """

    KIND = "projected_text"

    def __init__(self, text: TextEncoder, embed_dim: int):
        super().__init__()
        self.text = text
        self.embed_dim = embed_dim
        self.proj = nn.Linear(text.hidden_size, embed_dim, bias=False)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return self.text.tokenize(texts)

    def forward(self, features: dict[str, torch.Tensor], layer: int = -1) -> dict[str, torch.Tensor]:
        out = self.text(features, layer=None if layer == -1 else layer)
        return {
            # (B, L, D) projected, or (B, L, H) after transformer layer ``layer``
            "token_embeddings": self.proj(out["token_embeddings"]) if layer == -1 else out["layer_states"],
            "attention_mask": out["attention_mask"],  # (B, L)
            "input_ids": features["input_ids"],  # (B, L), for the losses' token roles and weights
            "sentence_embedding": self.proj(out["sentence_embedding"]),  # (B, D)
        }

    def encode(self, texts: list[str], batch_size: int = 64, normalize: bool = True) -> torch.Tensor:
        """Sentence embeddings [N, D] on the CPU (L2-normalised by default), computed in eval mode."""
        return encode_sentences(self, texts, self.embed_dim, batch_size, normalize)

    @torch.no_grad()
    def encode_tokens(self, texts: list[str], batch_size: int = 64) -> Padded:
        """Projected token states of ``texts``, padding out: (N, L, D) fp32 on the CPU, L the longest caption's
        tokens (special and prefix tokens included: what the late scorer and OPTICAL read), in eval mode. Texts of
        similar length share a batch (less padding to encode); the rows keep ``texts``' order."""
        was_training = self.training
        self.eval()
        device = self.proj.weight.device
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        sets: list[torch.Tensor | None] = [None] * len(texts)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            features = {k: v.to(device) for k, v in self.tokenize([texts[i] for i in rows]).items()}
            out = self(features)
            states, mask = out["token_embeddings"].float().cpu(), out["attention_mask"].bool().cpu()
            for i, s, m in zip(rows, states, mask):
                sets[i] = s[m]
        self.train(was_training)
        return Padded.stack(sets, dim=self.embed_dim)

    def freeze(self, train_layers: int) -> None:
        """Freeze the word embeddings and all but the top ``train_layers`` transformer layers (-1: train all layers).

        The projection always stays trainable. What trains is what a saved folder stores (``trained``); the
        frozen rest (e5-small: 96M of 118M parameters in the word embeddings) is the base's, shared in the app.
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

    def trained_keys(self) -> list[str]:
        """State keys of the parameters that train (``requires_grad``)."""
        return sorted(name for name, p in self.named_parameters() if p.requires_grad)

    def text_delta(self) -> set[str]:
        """Names in ``text.model`` of the parameters that may differ from the base: trainable or changed before."""
        return self.text.changed | {name for name, p in self.text.model.named_parameters() if p.requires_grad}

    def save(self, path: str | Path) -> None:
        """Write the folder described in the module docstring (the caller makes it atomic)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        base = base_reference(self.text.source)
        tensors = dict(self.heads())
        if base is None:
            self.text.save(path / _TEXT)
        else:
            state = self.text.model.state_dict()
            tensors.update({_TEXT_PREFIX + k: state[k] for k in sorted(self.text_delta())})
        save_file({k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}, str(path / _WEIGHTS))
        atomic_write_json(path / _CONFIG, {**self._config(), "base": base, "trained": self.trained_keys()})

    def _config(self) -> dict:
        return {"format": MODEL_FORMAT, "kind": self.KIND, "embed_dim": self.embed_dim}

    def export(self, path: str | Path, readme: str) -> Path:
        """Write a standalone sentence-transformers folder (atomically) that needs neither optical nor a base.

        The folder root is ``save_pretrained`` output (full weights and tokenizer: ``AutoModel`` loads it), plus
        ``modules.json``, ``1_Pooling/`` (the tower's pooling), ``2_Dense/`` (the projection, ``linear.weight``
        (D, H), no bias), ``3_Normalize/``, the prefix as the default prompt, and ``readme`` as README.md.
        """
        text = self.text
        if text.pooling not in ("mean", "cls"):
            raise OpticalError(f"{text.name}: pooling {text.pooling!r} has no sentence-transformers equivalent to export")
        modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Dense", "Dense"), ("3_Normalize", "Normalize")]
        with atomic_dir(path) as tmp:
            text.model.save_pretrained(tmp)
            text.tokenizer.save_pretrained(tmp)
            atomic_write_json(tmp / "modules.json", [
                {"idx": i, "name": str(i), "path": sub, "type": f"sentence_transformers.models.{kind}"}
                for i, (sub, kind) in enumerate(modules)
            ])
            atomic_write_json(tmp / "sentence_bert_config.json", {"max_seq_length": text.max_length, "do_lower_case": False})
            prompts = {"prompts": {"query": text.prefix}, "default_prompt_name": "query"} if text.prefix else {}
            atomic_write_json(tmp / "config_sentence_transformers.json", {**prompts, "similarity_fn_name": "cosine"})
            atomic_write_json(tmp / "1_Pooling" / "config.json", {
                "word_embedding_dimension": text.hidden_size,
                "pooling_mode_cls_token": text.pooling == "cls",
                "pooling_mode_mean_tokens": text.pooling == "mean",
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            })
            atomic_write_json(tmp / "2_Dense" / "config.json", {
                "in_features": text.hidden_size, "out_features": self.embed_dim, "bias": False,
                "activation_function": "torch.nn.modules.linear.Identity",
            })
            save_file({"linear.weight": self.proj.weight.detach().cpu().contiguous()}, str(tmp / "2_Dense" / "model.safetensors"))
            (tmp / "3_Normalize").mkdir()
            atomic_write_text(tmp / "README.md", readme)
        return Path(path)

    @classmethod
    def _build(cls, text: TextEncoder, config: dict) -> ProjectedTextEncoder:
        return cls(text, config["embed_dim"])

    @classmethod
    def load(cls, path: str | Path, shared_text: TextEncoder | None = None) -> ProjectedTextEncoder:
        """Load a folder written by ``save`` (or by format 1).

        ``shared_text``: the teacher's text tower, built on the same base. Every parameter this model did not
        store and the teacher did not change is then the teacher's own tensor, not a copy: e5-small's frozen word
        embeddings are 96M of its 118M parameters, so the app holds the teacher and three students in about the
        memory of two.
        """
        path = Path(path)
        config = read_model_config(path, cls.KIND)
        if config["format"] == 1 or config["base"] is None:
            text = _load_text_folder(path / _TEXT, config, shared_text)
            state = _read_heads(path, config)
            stored_text: set[str] = set()
        else:
            state = _read_weights(path)
            stored_text = {k[len(_TEXT_PREFIX) :] for k in state if k.startswith(_TEXT_PREFIX)}
            text = _text_on_base(path, config["base"], stored_text, shared_text)
        model = cls._build(text, config)
        model._apply_state(path, state, config)
        if "trained" in config:  # format 2: re-saved, the model stores the same subset
            shared = {id(p) for p in shared_text.parameters()} if shared_text is not None else set()
            for name, p in model.named_parameters():
                if id(p) not in shared:  # the teacher's tensors keep the teacher's flags
                    p.requires_grad_(name in config["trained"])
        text.changed = stored_text
        return model

    def load_weights(self, path: str | Path) -> None:
        """Overwrite this model's weights in place with a folder saved from it (resume, the best epoch)."""
        path = Path(path)
        config = read_model_config(path, self.KIND)
        if config["format"] == 2 and config["base"] is not None:
            state = _read_weights(path)
            if base_reference(self.text.source) != config["base"]:
                raise MissingAssetError(f"{path}: saved on base {config['base']}, this model's base is {self.text.source!r}")
            self.text.changed |= {k[len(_TEXT_PREFIX) :] for k in state if k.startswith(_TEXT_PREFIX)}
        else:
            text_state = _read_tensors(path / _TEXT / "model.safetensors")
            state = {**_read_heads(path, config), **{_TEXT_PREFIX + k: v for k, v in text_state.items()}}
        self._apply_state(path, state, config)

    def _apply_state(self, path: Path, state: dict[str, torch.Tensor], config: dict) -> None:
        """Load ``state`` strictly: every key must be one of the model's, every trained key must be there."""
        own = self.state_dict()
        unknown = sorted(set(state) - set(own))
        if unknown:
            raise MissingAssetError(f"{path}: stored weights {unknown[:5]} are not in the model built from its base")
        from_text_folder = config["format"] == 1 or config["base"] is None
        required = set(self.heads()) | set(config.get("trained", []))
        missing = sorted(k for k in required - set(state) if not (from_text_folder and k.startswith(_TEXT_PREFIX)))
        if missing:
            raise MissingAssetError(f"{path}: weights missing {missing[:5]} (the folder is damaged: re-run the experiment)")
        with torch.no_grad():
            for key, value in state.items():
                if own[key].shape != value.shape:
                    raise MissingAssetError(f"{path}: {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}")
                own[key].copy_(value)


class DualEncoder(ProjectedTextEncoder):
    """The teacher: a projected text tower plus a linear projection of frozen image-tower features.

    ``encode_image_features(x [B, image_dim]) -> [B, D]``, or per region ``[B, R, image_dim] -> [B, R, D]``;
    ``logit_scale`` is the learnable inverse temperature (log-parametrised, CLIP style, initialised at 1/0.07).
    ``scoring`` (saved with it): ``"pooled"``, the cosine of the sentence embedding and the image embedding, or
    ``"late"``, FILIP's score of the token states (``encode_tokens``) against the projected regions
    (``embed_regions``; ``optical.scoring.late_scores``).
    """

    KIND = "dual"

    def __init__(self, text: TextEncoder, embed_dim: int, image_dim: int, scoring: str = "pooled"):
        super().__init__(text, embed_dim)
        if scoring not in ("pooled", "late"):
            raise ValueError(f"scoring must be 'pooled' or 'late', got {scoring!r}")
        self.scoring = scoring
        self.image_dim = image_dim
        self.image_proj = nn.Linear(image_dim, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @classmethod
    def from_clip(cls, name_or_path: str | Path) -> DualEncoder:
        """A ``CLIPModel`` checkpoint (HF name or folder) as a frozen teacher, used as is (the M-CLIP setting).

        The text tower is CLIP's with its ``text_projection`` (pooling ``"clip"``): the sentence embedding is the
        projected end-of-text state (B, P), the token states are ``text_projection`` of the last hidden states
        (B, L, P). The image features it expects are ``CLIPImageEncoder``'s, ``visual_projection`` of the pooled
        state (B, P). Both heads are the identity (P, P), so every embedding is CLIP's own; no parameter trains
        (a saved teacher lists none as ``trained``), and ``logit_scale``, which only teacher training reads, keeps
        its initial value.
        """
        text = create_text_encoder(name_or_path)
        if text.pooling != "clip":
            raise MissingAssetError(f"{name_or_path}: not a CLIPModel checkpoint (its text tower pools by {text.pooling!r})")
        width = text.hidden_size
        teacher = cls(text, width, width)
        with torch.no_grad():
            teacher.proj.weight.copy_(torch.eye(width))
            teacher.image_proj.weight.copy_(torch.eye(width))
        teacher.requires_grad_(False)
        return teacher.eval()

    def encode_image_features(self, features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        emb = self.image_proj(features.to(self.image_proj.weight.dtype))
        return nn.functional.normalize(emb, dim=-1) if normalize else emb

    @torch.no_grad()
    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        """Image-tower features (N, image_dim) -> L2-normalised embeddings (N, D), fp32 on the CPU (like ``encode``)."""
        device = self.image_proj.weight.device
        return self.encode_image_features(features.to(device)).float().cpu()

    @torch.no_grad()
    def embed_regions(self, regions: Padded, batch_size: int = 256) -> Padded:
        """Region features (N, R, image_dim) -> L2-normalised region embeddings (N, R, D), fp32 on the CPU; padded
        regions stay masked (their values are zero)."""
        device = self.image_proj.weight.device
        parts = []
        for start in range(0, len(regions), batch_size):
            x = regions.values[start : start + batch_size].to(device)
            parts.append(self.encode_image_features(x).float().cpu())
        values = torch.cat(parts) if parts else torch.zeros(0, regions.values.shape[1], self.embed_dim)
        return Padded(values.masked_fill(~regions.mask[..., None], 0), regions.mask)

    def text_side(self) -> ProjectedTextEncoder:
        """A copy of the text tower + projection, the starting point of every student.

        The copy remembers which of its parameters differ from the base (the teacher's trained ones), so a
        student stores them even where it does not train them itself.
        """
        student = ProjectedTextEncoder(copy.deepcopy(self.text), self.embed_dim)
        student.text.changed = self.text_delta()
        student.proj.load_state_dict(self.proj.state_dict())
        return student

    def heads(self) -> dict[str, torch.Tensor]:
        return {
            "proj.weight": self.proj.weight,
            "image_proj.weight": self.image_proj.weight,
            "logit_scale": self.logit_scale,
        }

    def _config(self) -> dict:
        return {**super()._config(), "image_dim": self.image_dim, "scoring": self.scoring}

    @classmethod
    def _build(cls, text: TextEncoder, config: dict) -> DualEncoder:
        return cls(text, config["embed_dim"], config["image_dim"], config.get("scoring", "pooled"))


def read_model_config(path: str | Path, kind: str) -> dict:
    """Read and check ``optical_model.json``; a missing or foreign folder raises MissingAssetError."""
    file = Path(path) / _CONFIG
    if not file.is_file():
        raise MissingAssetError(f"{path}: not an optical model folder (no {_CONFIG})")
    config = json.loads(file.read_text(encoding="utf-8"))
    if config.get("format") not in _READABLE_FORMATS or config.get("kind") != kind:
        raise MissingAssetError(
            f"{file}: expected an optical {kind!r} model of format {MODEL_FORMAT}, found "
            f"kind={config.get('kind')!r} format={config.get('format')!r} (re-run the experiment)"
        )
    return config


def _read_tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise MissingAssetError(f"{file}: missing (the model folder is incomplete: re-run the experiment)")
    try:
        return load_file(str(file))
    except Exception as err:  # safetensors raises its own error type for truncated or foreign files
        raise MissingAssetError(f"{file}: cannot read ({type(err).__name__}: {err}); re-run the experiment") from None


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    return _read_tensors(path / _WEIGHTS)


def _read_heads(path: Path, config: dict) -> dict[str, torch.Tensor]:
    """The non-text tensors of a folder whose tower is in ``text/``: format 1's heads file or format 2's weights."""
    return _read_tensors(path / (_HEADS_V1 if config["format"] == 1 else _WEIGHTS))


def _load_text_folder(folder: Path, config: dict, shared_text: TextEncoder | None) -> TextEncoder:
    """A tower saved in full; a format 1 student with frozen word embeddings shares the teacher's matrix."""
    if shared_text is not None and config.get("frozen_words") and (folder / "model.safetensors").is_file():
        text = _text_sharing_word_embeddings(shared_text, folder)
    else:
        text = TextEncoder.load(folder)
    text.source = None  # saved again, it is written in full: it has no base to store a delta against
    return text


def _text_on_base(path: Path, base: dict, stored: set[str], shared_text: TextEncoder | None) -> TextEncoder:
    """The base tower of a format 2 folder, its hash checked; built on ``shared_text`` when that is possible.

    Sharing needs the same base and a teacher whose changed parameters this folder all overrides (else the
    base's values of those would be missing): a student made by ``text_side`` always qualifies.
    """
    current = base_reference(base["source"])
    if current != base:
        found = current["sha256"] if current else "no weights file"
        raise MissingAssetError(
            f"{path}: built on {base['source']!r} with weights sha256 {base['sha256'][:12]}..., found {found[:12]}...: "
            "the base model changed or is missing (run `python -m optical prepare`, or re-run the experiment)"
        )
    if shared_text is not None and base_reference(shared_text.source) == base:
        teacher_delta = shared_text.changed | {n for n, p in shared_text.model.named_parameters() if p.requires_grad}
        if teacher_delta <= stored:
            memo: dict[int, object] = {id(p): p for n, p in shared_text.model.named_parameters() if n not in stored}
            for module in shared_text.model.modules():  # leaf modules holding only shared tensors: one object
                own = list(module.parameters(recurse=False))
                if own and not list(module.children()) and all(id(p) in memo for p in own):
                    memo[id(module)] = module
            memo[id(shared_text.tokenizer)] = shared_text.tokenizer
            return copy.deepcopy(shared_text, memo=memo)
    return create_text_encoder(base["source"])


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
