r"""timm classifiers for referable-disease grading: the paper's VGG-16 and Inception-v3.

Every model returned by :func:`create_classifier` is a :class:`FundusClassifier`: a fixed
:class:`kornia.enhance.Normalize` followed by a timm backbone with one regression output. Its
input is the project-wide convention, ``float32`` ``(N, 3, S, S)`` in ``[0, 1]`` (preprocessed
``uint8`` / 255), and its output is ``(N, num_outputs)``, a score monotonic in the grade.

Registered architectures (:func:`list_classifiers`):

- ``"vgg16_paper"``: timm ``vgg16`` adapted to 512 x 512 as in the paper: stride 2 in the first
  convolution, an unpadded ("valid") first convolution of block 5 and dropout ``p`` between the
  fully connected layers. At 512 x 512, ``512 / 2 / 16 = 16``, the valid convolution gives 14 and
  the last pool 7, so the last feature map is 7 x 7 x 512 and ImageNet weights of the fully
  connected layers still fit. timm lays the paper's head out as convolutions: ``pre_logits.fc1``
  (7 x 7 convolution, 512 -> 4096) is the paper's first fully connected layer (it sees the whole
  7 x 7 map, so it equals flatten + linear), ``pre_logits.drop`` the dropout after it,
  ``pre_logits.fc2`` (1 x 1 convolution, 4096 -> 4096) the second fully connected layer,
  ``head.global_pool`` averages a 1 x 1 map (an identity at 512 x 512), ``head.drop`` the
  dropout after it and ``head.fc`` (4096 -> 1) the regression node.
- ``"inception_v3"``: timm ``inception_v3`` with dropout ``p`` between global average pooling
  and the regression node (``head_drop``).
- ``"vgg_tiny"``: a narrow VGG built with :class:`timm.models.vgg.VGG` for CPU work: one 3 x 3
  convolution per stage (16, 32, 64, 128, 128 channels), max-pooling, ``nn.ReLU`` activations
  (so Captum's GuidedBackprop hooks them), the same stride-2 stem as ``vgg16_paper`` and a
  fully convolutional head (1 x 1 convolution to 128 features, global average pooling,
  dropout, one output). About 0.28 M parameters (a 1.1 MB checkpoint).
- ``"vgg16_narrow"``: the paper's VGG-16 layout at a quarter of its widths (16, 32, 64, 128,
  128 channels in its five blocks of 2, 2, 3, 3, 3 convolutions), with ``vgg16_paper``'s
  stride-2 first convolution and unpadded first convolution of block 5, batch normalization
  after every convolution (it is trained from scratch on a CPU, not from ImageNet) and
  ``vgg_tiny``'s head. Its Grad-CAM layer is the paper's, the ReLU after block 3 conv 3
  (``features[22]``). About 1.0 M parameters.
- ``"vgg_small"``: a VGG sized for training on 224 x 224 images on a CPU. Unlike ``vgg_tiny``
  its first convolution keeps stride 1, so the first stage sees every input pixel (at 224 px a
  microaneurysm is one or two pixels); two 3 x 3 convolutions in stages 3 and 4 (16, 32,
  64 x 2, 128 x 2, 128 channels), batch normalization after every convolution (training from
  scratch converges in a few epochs), max-pooling, ``nn.ReLU``, and ``vgg_tiny``'s fully
  convolutional head. About 0.46 M parameters (a 1.9 MB checkpoint).

Any other name known to :func:`timm.list_models` is created with
``timm.create_model(name, num_classes=num_outputs, drop_rate=dropout)``.

All ``nn.ReLU`` modules are made non-inplace, so that hooks of Captum (and of any other code) see
activations that later layers do not overwrite.

Weights are never downloaded: ``pretrained=True`` loads the timm weights from a local file given
as ``weights=PATH`` or found in the local Hugging Face / torch hub cache, and raises
:class:`FileNotFoundError` otherwise. ``weights_by_order=True`` loads a file whose keys have other
names than timm's by parameter order
(:func:`~captum_iterative.fundus.pretrained.load_state_dict_by_order`), e.g. the ImageNet
EfficientNet-Lite0 of :func:`~captum_iterative.fundus.pretrained.efficientnet_lite0_weights`.

Captum's ``GuidedBackprop`` and ``Deconvolution`` only override the gradient of ``nn.ReLU``
modules; networks with other activations (EfficientNet-Lite's ``nn.ReLU6``) are explained by
plain gradients there. timm builders that take ``act_layer`` build them with ``nn.ReLU``
(``create_classifier("efficientnet_lite0", act_layer="relu")``, recorded in a training
checkpoint's ``create_kwargs``); :func:`replace_activations` swaps the modules of an existing
model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import timm
import torch
from kornia.enhance import Normalize
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import ClassifierHead, get_act_layer
from timm.models.vgg import VGG, ConvMlp
from torch import Tensor, nn

from captum_iterative.fundus.activations import no_inplace_relu
from captum_iterative.fundus.pretrained import (
    classifier_prefix,
    load_state_dict_by_order,
    resolve_weights,
    state_dict_keys,
    timm_pretrained_kwargs,
)

__all__ = [
    "FundusClassifier",
    "create_classifier",
    "gradcam_layer",
    "list_classifiers",
]

#: Builder signature: ``(weights_file or None, num_outputs, dropout, **kwargs) -> backbone``.
_Builder = Callable[..., nn.Module]

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


@dataclass(frozen=True)
class _Entry:
    """A registered architecture: how to build it and where its Grad-CAM layer is."""

    build: _Builder
    gradcam_layer: str
    timm_name: str | None


_REGISTRY: dict[str, _Entry] = {}


def _register(name: str, gradcam: str, timm_name: str | None) -> Callable[[_Builder], _Builder]:
    def decorator(build: _Builder) -> _Builder:
        _REGISTRY[name] = _Entry(build=build, gradcam_layer=gradcam, timm_name=timm_name)
        return build

    return decorator


class FundusClassifier(nn.Module):
    """A timm backbone behind a fixed input normalisation.

    Args:
        backbone (nn.Module): the network, expecting normalised input.
        mean (Sequence[float]): per-channel mean subtracted from the ``[0, 1]`` input.
        std (Sequence[float]): per-channel standard deviation dividing it.
        arch (str): the architecture name the model was created with.
        gradcam_layer (str): qualified name (as in :meth:`nn.Module.named_modules`) of the
            module whose output Grad-CAM explains, e.g. ``"backbone.features.15"``.

    Attributes:
        normalize (kornia.enhance.Normalize): ``(x - mean) / std`` (buffers, move with the model).
        backbone (nn.Module): the timm network.
        arch (str): architecture name.
        gradcam_layer_name (str): see ``gradcam_layer``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        arch: str,
        gradcam_layer: str,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(torch.tensor(mean), torch.tensor(std))
        self.backbone = backbone
        self.arch = arch
        self.gradcam_layer_name = gradcam_layer
        self.get_submodule(gradcam_layer)

    def forward(self, x: Tensor) -> Tensor:
        """Score a batch of images.

        Args:
            x (Tensor): ``float32`` ``(N, 3, H, W)`` in ``[0, 1]``.

        Returns:
            Tensor: ``(N, num_outputs)`` scores.
        """
        return self.backbone(self.normalize(x))


def list_classifiers() -> list[str]:
    """Names registered by this module (any other timm name works too).

    Returns:
        list[str]: sorted architecture names.
    """
    return sorted(_REGISTRY)


def _feature_conv(model: nn.Module, index: int) -> nn.Conv2d:
    conv = model.get_submodule(f"features.{index}")
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"features.{index} of {type(model).__name__} is not a convolution")
    return conv


def _stride2_stem(model: nn.Module) -> None:
    """Give a timm VGG's first convolution stride 2 and update its ``feature_info`` strides."""
    _feature_conv(model, 0).stride = (2, 2)
    stages = cast(list[dict[str, Any]], model.feature_info)
    for stage in stages:
        stage["reduction"] = int(stage["reduction"]) * 2


@_register("vgg16_paper", gradcam="backbone.features.15", timm_name="vgg16")
def _vgg16_paper(
    weights_file: str | None, num_outputs: int, dropout: float, **kw: Any
) -> nn.Module:
    model = timm.create_model(
        "vgg16",
        num_classes=num_outputs,
        drop_rate=dropout,
        **timm_pretrained_kwargs(weights_file),
        **kw,
    )
    _stride2_stem(model)
    _feature_conv(model, 24).padding = (0, 0)
    return model


@_register("inception_v3", gradcam="backbone.Mixed_7a", timm_name="inception_v3")
def _inception_v3(
    weights_file: str | None, num_outputs: int, dropout: float, **kw: Any
) -> nn.Module:
    return timm.create_model(
        "inception_v3",
        num_classes=num_outputs,
        drop_rate=dropout,
        **timm_pretrained_kwargs(weights_file),
        **kw,
    )


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


def _compact_vgg(
    cfg: Sequence[int | str],
    num_outputs: int,
    dropout: float,
    *,
    stride2_stem: bool,
    norm_layer: type[nn.Module] | None,
    **kw: Any,
) -> nn.Module:
    """A timm ``VGG`` with ``cfg`` stages and a narrow fully convolutional head."""
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
        _stride2_stem(model)
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


@_register("vgg_tiny", gradcam="backbone.features.7", timm_name=None)
def _vgg_tiny(weights_file: str | None, num_outputs: int, dropout: float, **kw: Any) -> nn.Module:
    return _compact_vgg(
        VGG_TINY_CFG, num_outputs, dropout, stride2_stem=True, norm_layer=None, **kw
    )


@_register("vgg_small", gradcam="backbone.features.13", timm_name=None)
def _vgg_small(weights_file: str | None, num_outputs: int, dropout: float, **kw: Any) -> nn.Module:
    return _compact_vgg(
        VGG_SMALL_CFG, num_outputs, dropout, stride2_stem=False, norm_layer=nn.BatchNorm2d, **kw
    )


@_register("vgg16_narrow", gradcam="backbone.features.22", timm_name=None)
def _vgg16_narrow(
    weights_file: str | None, num_outputs: int, dropout: float, **kw: Any
) -> nn.Module:
    model = _compact_vgg(
        VGG16_NARROW_CFG, num_outputs, dropout, stride2_stem=True, norm_layer=nn.BatchNorm2d, **kw
    )
    _feature_conv(model, 34).padding = (0, 0)  # block 5's first convolution, as vgg16_paper's
    return model


def _middle_stage(backbone: nn.Module, prefix: str = "") -> str:
    """Qualified name of the middle entry of a timm model's ``feature_info``."""
    info = getattr(backbone, "feature_info", None)
    if info is None:
        raise ValueError(
            f"cannot choose a Grad-CAM layer for {type(backbone).__name__}: it has no timm "
            "`feature_info`; pick a layer yourself"
        )
    stages = info.get_dicts() if hasattr(info, "get_dicts") else list(info)
    return prefix + str(stages[len(stages) // 2]["module"])


def create_classifier(
    name: str,
    pretrained: bool = False,
    num_outputs: int = 1,
    dropout: float = 0.5,
    **kw: Any,
) -> FundusClassifier:
    r"""Create a grading classifier taking ``[0, 1]`` images (timm style factory).

    Args:
        name (str): a registered architecture (:func:`list_classifiers`: ``"vgg16_paper"``,
            ``"inception_v3"``, ``"vgg_tiny"``, ``"vgg_small"``, ``"vgg16_narrow"``) or any
            :func:`timm.list_models` name.
        pretrained (bool, optional): load ImageNet weights from a local file (``weights=PATH``
            or the timm cache); never downloads. Default: ``False``
        num_outputs (int, optional): output nodes; 1 for grade regression. Default: 1
        dropout (float, optional): dropout probability before the output (and between the
            fully connected layers of the VGGs). Default: 0.5
        **kw: ``weights`` (path of a timm-compatible state dict, implies ``pretrained``);
            ``weights_by_order`` (bool: load ``weights`` by parameter order, not by name, with
            :func:`~captum_iterative.fundus.pretrained.load_state_dict_by_order`; the
            classifier head is left new when its shape differs); everything else is passed to
            the timm constructor (e.g. ``act_layer="relu"``).

    Returns:
        FundusClassifier: the model in training mode; input ``float32`` ``(N, 3, H, W)`` in
        ``[0, 1]``, output ``(N, num_outputs)``.

    Raises:
        ValueError: unknown ``name``, ``num_outputs < 1``, ``dropout`` outside ``[0, 1)``,
            ``weights_by_order`` without ``weights``, or weights that do not fit by order.
        FileNotFoundError: ``pretrained=True`` without local weights.

    Examples::

        >>> model = create_classifier("vgg_tiny")
        >>> model(torch.rand(2, 3, 512, 512)).shape
        torch.Size([2, 1])
        >>> gradcam_layer(create_classifier("vgg16_paper"))
        ReLU()
    """
    if not isinstance(num_outputs, int) or num_outputs < 1:
        raise ValueError(f"`num_outputs` must be a positive int, got {num_outputs!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}")
    weights = kw.pop("weights", None)
    by_order = bool(kw.pop("weights_by_order", False))
    if by_order and weights is None:
        raise ValueError("`weights_by_order=True` needs a weight file: pass `weights=PATH`")
    pretrained = pretrained or weights is not None
    entry = _REGISTRY.get(name)
    if entry is None and not timm.is_model(name):
        raise ValueError(
            f"unknown classifier `name` '{name}'; choose one of {list_classifiers()} "
            "or a timm model name (timm.list_models())"
        )
    timm_name = entry.timm_name if entry is not None else name
    if pretrained and timm_name is None:
        raise ValueError(f"'{name}' has no pretrained weights; create it with pretrained=False")
    weights_file = resolve_weights(timm_name, weights) if pretrained and timm_name else None
    by_name = None if by_order else weights_file
    if entry is not None and isinstance(kw.get("act_layer"), str):
        # The registered VGGs take an activation class; timm's own builders resolve names.
        try:
            kw["act_layer"] = get_act_layer(kw["act_layer"])
        except KeyError:
            raise ValueError(f"unknown `act_layer` {kw['act_layer']!r}") from None
    if entry is not None:
        backbone = entry.build(by_name, num_outputs, float(dropout), **kw)
        layer = entry.gradcam_layer
    else:
        backbone = timm.create_model(
            name,
            num_classes=num_outputs,
            drop_rate=float(dropout),
            **timm_pretrained_kwargs(by_name),
            **kw,
        )
        layer = _middle_stage(backbone, prefix="backbone.")
    if by_order and weights_file is not None:
        load_state_dict_by_order(
            backbone, weights_file, new_if_mismatched=[classifier_prefix(backbone)]
        )
    elif weights is not None and weights_file is not None:
        # timm loads a file whose classifier does not fit non-strictly, so a file with other key
        # names would load nothing without a word.
        if not set(state_dict_keys(weights_file)) & set(backbone.state_dict()):
            raise ValueError(
                f"no tensor name of `weights` {weights_file} is one of '{name}''s; for a file "
                "with other names but the same layout pass `weights_by_order=True`"
            )
    cfg = getattr(backbone, "pretrained_cfg", None) or {}
    mean = cfg.get("mean", IMAGENET_DEFAULT_MEAN)
    std = cfg.get("std", IMAGENET_DEFAULT_STD)
    no_inplace_relu(backbone)
    return FundusClassifier(backbone, mean, std, arch=name, gradcam_layer=layer)


def gradcam_layer(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM explains by default for ``model``.

    For ``vgg16_paper`` this is the ReLU after block 3 conv 3 (timm ``features[15]``, which
    follows the convolution ``features[14]``): the paper's Keras layer ``block3_conv3`` includes
    its ReLU, so its feature maps are non-negative as Grad-CAM assumes. For ``inception_v3`` it is
    ``Mixed_7a`` (the paper's "Mixed 8", output of the second reduction module); for
    ``vgg_tiny`` the ReLU of its third stage (``features[7]``, the same stride as VGG-16's block
    3); for ``vgg_small`` the ReLU of the second convolution of its third stage
    (``features[13]``, stride 4: 56 x 56 at 224 px); for other timm models the middle entry of
    ``feature_info``. Use it with Captum's
    ``LayerGradCam(model, gradcam_layer(model))`` and ``relu_attributions=True``.

    Args:
        model (nn.Module): a :class:`FundusClassifier`, or a bare timm model.

    Returns:
        nn.Module: a submodule of ``model``.

    Raises:
        ValueError: ``model`` is neither of the above.
    """
    if isinstance(model, FundusClassifier):
        return model.get_submodule(model.gradcam_layer_name)
    return model.get_submodule(_middle_stage(model))
