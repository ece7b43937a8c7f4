"""The image-tower interface: a PIL image in, one pooled feature vector out.

Every image tower turns an RGB image into a ``[3, S, S]`` tensor with the same recipe (pad to a square,
resize, normalise); towers differ in ``S``, the normalisation constants and the network.
"""

from __future__ import annotations

import abc

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

WHITE = (255, 255, 255)


def pad_to_square(img: Image.Image, fill: tuple[int, int, int] = WHITE) -> Image.Image:
    """Centre ``img`` on a square canvas of side ``max(width, height)`` filled with ``fill``.

    Stamps are cut-outs on a transparent (now white) background, so padding keeps the whole object,
    where a centre crop would cut its ends off.
    """
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


def image_to_tensor(
    img: Image.Image,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> Tensor:
    """Pad ``img`` (RGB) to a white square, resize it to ``size`` (bicubic) and normalise it.

    Returns a float32 tensor of shape ``(3, size, size)`` holding ``(pixel / 255 - mean) / std``.
    """
    if img.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {img.mode!r} (open files with optical.data.open_rgb)")
    img = pad_to_square(img).resize((size, size), Image.Resampling.BICUBIC)
    # numpy, not torch: per-image tensor ops would contend for the threads the batched forward uses.
    pixels = np.asarray(img, dtype=np.float32) / 255.0  # (S, S, 3)
    pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))  # (3, S, S)


class ImageEncoder(nn.Module, abc.ABC):
    """Base class of image towers.

    Subclasses set ``name`` (the cache key of its features), ``feature_dim``, ``image_size``, ``mean`` and
    ``std``, and implement ``forward``.
    """

    name: str
    feature_dim: int
    image_size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def preprocess(self, img: Image.Image) -> Tensor:
        """One RGB image -> the network's input, shape ``(3, image_size, image_size)``."""
        return image_to_tensor(img, self.image_size, self.mean, self.std)

    @property
    def device(self) -> torch.device:
        """Where the parameters live (inputs must be moved there)."""
        return next(self.parameters()).device

    @abc.abstractmethod
    def forward(self, pixels: Tensor) -> Tensor:
        """``pixels`` of shape ``(B, 3, H, W)`` -> pooled features of shape ``(B, feature_dim)``."""
