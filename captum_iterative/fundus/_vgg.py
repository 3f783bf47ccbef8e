"""How the compact VGGs of :mod:`captum_iterative.fundus.models` are built on timm's ``VGG``.

Their timm entrypoints (``vgg_tiny``, ``vgg_small``, ``vgg16_narrow``) and the paper's VGG-16
surgery live in :mod:`~captum_iterative.fundus.models`; this module holds the layouts and the
construction they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from timm.layers import ClassifierHead
from timm.models.vgg import VGG, ConvMlp
from torch import nn

__all__ = [
    "VGG16_NARROW_CFG",
    "VGG_SMALL_CFG",
    "VGG_TINY_CFG",
    "compact_vgg",
    "feature_conv",
    "set_stride2_stem",
]

#: Channels of ``vgg_tiny``'s five stages (one convolution each, a max-pool after each).
VGG_TINY_CFG: tuple[int | str, ...] = (16, "M", 32, "M", 64, "M", 128, "M", 128, "M")
#: Width of ``vgg_tiny``'s 1 x 1 convolutional head.
VGG_TINY_HIDDEN = 128
#: Channels of ``vgg_small``'s five stages (a max-pool after each); ``vgg_tiny``'s head.
VGG_SMALL_CFG: tuple[int | str, ...] = (16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, "M")
#: VGG-16's thirteen convolutions at a quarter of its widths (64 ... 512 -> 16 ... 128).
VGG16_NARROW_CFG: tuple[int | str, ...] = (
    *(16, 16, "M", 32, 32, "M"),
    *(64, 64, 64, "M", 128, 128, 128, "M", 128, 128, 128, "M"),
)


def feature_conv(model: nn.Module, index: int) -> nn.Conv2d:
    """The convolution ``features[index]`` of a timm VGG (``TypeError`` if it is not one)."""
    conv = model.get_submodule(f"features.{index}")
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"features.{index} of {type(model).__name__} is not a convolution")
    return conv


def set_stride2_stem(model: nn.Module) -> None:
    """Give a timm VGG's first convolution stride 2 and update its ``feature_info`` strides."""
    feature_conv(model, 0).stride = (2, 2)
    stages = cast(list[dict[str, Any]], model.feature_info)
    for stage in stages:
        stage["reduction"] = int(stage["reduction"]) * 2


def _init_vgg(model: nn.Module) -> None:
    """timm's VGG initialisation (Kaiming for convolutions, N(0, 0.01) for linear layers,
    batch norm as identity with fresh running statistics)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()


def compact_vgg(
    cfg: Sequence[int | str],
    num_outputs: int,
    dropout: float,
    *,
    stride2_stem: bool,
    norm_layer: type[nn.Module] | None,
    **kw: Any,
) -> nn.Module:
    """A timm ``VGG`` with ``cfg`` stages and a narrow fully convolutional head (``VGG_TINY_HIDDEN``
    features, global average pooling, dropout, ``num_outputs`` outputs), freshly initialised."""
    # Built on the meta device so timm's 4096-wide head is never allocated, then replaced.
    model = VGG(
        list(cfg),
        num_classes=num_outputs,
        drop_rate=dropout,
        norm_layer=norm_layer,
        device="meta",
        **kw,
    )
    if stride2_stem:
        set_stride2_stem(model)
    channels = model.num_features
    model.pre_logits = ConvMlp(
        channels,
        VGG_TINY_HIDDEN,
        1,
        drop_rate=dropout,
        act_layer=kw.get("act_layer", nn.ReLU),
        device="meta",
    )
    model.head = ClassifierHead(VGG_TINY_HIDDEN, num_outputs, drop_rate=dropout, device="meta")
    model.head_hidden_size = VGG_TINY_HIDDEN
    model.to_empty(device="cpu")
    _init_vgg(model)
    return model
