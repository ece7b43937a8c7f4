"""Encode image files once: features cached on disk, keyed by the encoder and the file's content.

Layout: ``features_dir()/<encoder name>/<kk>/<key>.npy``, one float32 vector of shape ``(feature_dim,)``
per distinct image, where ``key = sha256(encoder name, NUL, file bytes)`` and ``kk`` its first two hex
digits. Keying by content, not path, means a renamed or copied image is a hit and an edited one a miss;
a second call over the same files reads only ``.npy`` files and runs no forward pass.

Region features (``encode_image_regions``: the feature map before pooling, ``(R, C)`` float16 per image) use
the same keys under ``features_dir()/<encoder name>/regions/<kk>/<key>.npy``; ``regions`` is not a two-digit
hex folder, so they never collide with the pooled vectors.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from optical.store import atomic_write_bytes, features_dir
from optical.data import open_rgb
from optical.encoders._image_tower import ImageEncoder
from optical.errors import InputError


def image_key(encoder_name: str, data: bytes) -> str:
    """The cache key of one image's features: sha256 hex of ``encoder_name``, a NUL byte, ``data``."""
    digest = hashlib.sha256(encoder_name.encode("utf-8"))
    digest.update(b"\0")
    digest.update(data)
    return digest.hexdigest()


def feature_cache_dir(encoder: ImageEncoder) -> Path:
    """Where ``encoder``'s cached features live (``/`` in HF-style names becomes ``--``)."""
    return features_dir() / encoder.name.replace("/", "--")


REGIONS_SUBDIR = "regions"


def region_cache_dir(encoder: ImageEncoder) -> Path:
    """Where ``encoder``'s cached region features live: ``feature_cache_dir(encoder) / "regions"``."""
    return feature_cache_dir(encoder) / REGIONS_SUBDIR


def _file_key(encoder_name: str, path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read image: {err.strerror or err}", path) from err
    return image_key(encoder_name, data)


def _cache_path(cache: Path, key: str) -> Path:
    return cache / key[:2] / f"{key}.npy"


def _save(path: Path, vector: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, vector, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def encode_image_files(
    paths: Sequence[str | Path],
    encoder: ImageEncoder,
    batch_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """Features of image files, shape ``(N, encoder.feature_dim)`` float32, in the order of ``paths``.

    Images not in the cache are opened with ``optical.data.open_rgb`` (alpha composited onto white),
    preprocessed by ``encoder.preprocess`` and encoded in batches of ``batch_size`` in eval mode, without
    gradients, on the encoder's device; each vector is then written atomically to the cache. Files with
    identical bytes are encoded once. A missing or unreadable file raises ``InputError`` naming it.
    """
    paths = [Path(p) for p in paths]
    keys, found = _cached_features(paths, encoder, feature_cache_dir(encoder), encoder, batch_size, progress)
    features = np.empty((len(paths), encoder.feature_dim), dtype=np.float32)
    for i, key in enumerate(keys):
        features[i] = found[key]
    return features


def encode_image_regions(
    paths: Sequence[str | Path],
    encoder: ImageEncoder,
    batch_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """Region features of image files, shape ``(N, R, C)`` float16, in the order of ``paths``.

    ``encoder.regions(pixels) -> (B, R, C)`` gives them (for EfficientNet-Lite, the head feature map before
    global pooling, R = 49 regions of 1280 at 224 px). Cached as ``encode_image_files`` caches pooled
    features (same content-hash keys, atomic writes, identical bytes encoded once), but float16 and in
    ``region_cache_dir(encoder)``. An encoder without ``regions`` raises ``TypeError``.
    """
    regions = getattr(encoder, "regions", None)
    if not callable(regions):
        raise TypeError(f"{encoder.name}: the image encoder has no region features (no `regions` method)")
    paths = [Path(p) for p in paths]
    keys, found = _cached_features(
        paths, encoder, region_cache_dir(encoder), regions, batch_size, progress, dtype=np.float16
    )
    if not keys:
        return np.empty((0, 0, encoder.feature_dim), dtype=np.float16)
    return np.stack([found[key] for key in keys])  # float16: stored and encoded so


def _cached_features(
    paths: list[Path],
    encoder: ImageEncoder,
    cache: Path,
    encode: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    progress: bool,
    dtype: type = np.float32,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """The content keys of ``paths`` and key -> features, read from ``cache`` or encoded by ``encode`` and stored."""
    keys = [_file_key(encoder.name, p) for p in paths]
    found: dict[str, np.ndarray] = {}
    todo: dict[str, Path] = {}  # key -> first path holding those bytes
    for key, path in zip(keys, paths):
        if key in found or key in todo:
            continue
        cached = _cache_path(cache, key)
        if cached.is_file():
            found[key] = np.load(cached, allow_pickle=False)
        else:
            todo[key] = path
    if todo:
        found.update(_encode_and_store(todo, encoder, cache, encode, batch_size, progress, dtype))
    return keys, found


def _encode_and_store(
    todo: dict[str, Path],
    encoder: ImageEncoder,
    cache: Path,
    encode: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    progress: bool,
    dtype: type = np.float32,
) -> dict[str, np.ndarray]:
    items = list(todo.items())
    out: dict[str, np.ndarray] = {}
    was_training = encoder.training
    encoder.eval()
    try:
        with tqdm(total=len(items), desc=f"encoding images ({encoder.name})", unit="img", disable=not progress) as bar:
            for start in range(0, len(items), batch_size):
                batch = items[start : start + batch_size]
                pixels = torch.stack([encoder.preprocess(open_rgb(path)) for _, path in batch])  # (b, 3, S, S)
                with torch.inference_mode():
                    vectors = encode(pixels.to(encoder.device)).float().cpu().numpy().astype(dtype, copy=False)
                for (key, _), vector in zip(batch, vectors):
                    _save(_cache_path(cache, key), vector)
                    out[key] = vector
                bar.update(len(batch))
    finally:
        encoder.train(was_training)
    return out
