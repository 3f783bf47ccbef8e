r"""timm classifiers for referable-disease grading: the paper's VGG-16 and Inception-v3.

Every model returned by :func:`create_classifier` is a :class:`FundusClassifier`: a fixed
:class:`kornia.enhance.Normalize` followed by a timm backbone with one regression output. Its
input is the project-wide convention, ``float32`` ``(N, 3, S, S)`` in ``[0, 1]`` (preprocessed
``uint8`` / 255), and its output is ``(N, num_outputs)``, a score monotonic in the grade.

Registered architectures (:func:`list_classifiers`; :func:`register_classifier` adds one). The
four VGGs defined here are timm models too: importing :mod:`captum_iterative.fundus` registers
their entrypoints with :func:`timm.models.register_model`, so ``timm.create_model("vgg_small")``
builds the bare backbone (defaults ``num_classes=1``, ``drop_rate=0.5``, as
:func:`create_classifier`'s; non-inplace ``nn.ReLU`` modules), and :func:`create_classifier`
builds every backbone with :func:`timm.create_model`. ``"inception_v3"`` is timm's own
entrypoint, registered here for its Grad-CAM layer and weights.

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
from typing import Any, TypeVar

import timm
import torch
from kornia.enhance import Normalize
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import get_act_layer
from torch import Tensor, nn

from captum_iterative._registry import Registry
from captum_iterative.fundus._vgg import (
    VGG16_NARROW_CFG,
    VGG_SMALL_CFG,
    VGG_TINY_CFG,
    compact_vgg,
    feature_conv,
    set_stride2_stem,
)
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
    "register_classifier",
    "vgg16_narrow",
    "vgg16_paper",
    "vgg_small",
    "vgg_tiny",
]

#: A timm entrypoint: ``(pretrained=False, **kwargs) -> backbone``, ``kwargs`` as
#: :func:`timm.create_model` passes them (``num_classes``, ``drop_rate``, ``pretrained_cfg``, ...).
_Entrypoint = Callable[..., nn.Module]
_E = TypeVar("_E", bound=_Entrypoint)
#: The keywords :func:`timm.create_model` passes to every entrypoint besides the caller's.
_TIMM_KEYWORDS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


@dataclass(frozen=True)
class _Entry:
    """A registered architecture: its timm entrypoint, where its Grad-CAM layer is, and the timm
    architecture whose pretrained weights it loads (None: none)."""

    entrypoint: _Entrypoint
    gradcam_layer: str
    pretrained_from: str | None


_CLASSIFIERS: Registry[_Entry] = Registry("classifier", "name")


def register_classifier(
    name: str, *, gradcam_layer: str, pretrained_from: str | None = None
) -> Callable[[_E], _E]:
    """Decorator registering a timm entrypoint as a grading classifier, here and with timm.

    The entrypoint ``fn(pretrained=False, **kwargs) -> nn.Module`` must be named ``name`` (timm
    registers a model under its function's name); it is registered with
    :func:`timm.models.register_model` unless it already is timm's entrypoint of that name (as
    timm's own ``inception_v3``), so ``timm.create_model(name)`` and :func:`create_classifier`
    both build it.

    Args:
        name (str): the architecture name.
        gradcam_layer (str): qualified name in the :class:`FundusClassifier` of the module whose
            output Grad-CAM explains, e.g. ``"backbone.features.13"``.
        pretrained_from (str, optional): the timm architecture whose ImageNet weights
            ``pretrained=True`` loads. Default: None (no pretrained weights).

    Raises:
        ValueError: ``name`` is not the function's name, is registered to another entrypoint
            here, or is a timm model name with another entrypoint (a timm built-in).
    """

    def decorator(fn: _E) -> _E:
        if getattr(fn, "__name__", None) != name:
            raise ValueError(
                f"`name` {name!r} must be the entrypoint's function name (timm registers a model "
                f"under it), got {getattr(fn, '__name__', fn)!r}"
            )
        timm_fn = timm.models.model_entrypoint(name) if timm.is_model(name) else None
        if timm_fn is not None and timm_fn is not fn:
            raise ValueError(
                f"classifier name {name!r} is already a timm model ({timm_fn.__module__}); "
                "choose another name"
            )
        _CLASSIFIERS.add(name, _Entry(fn, gradcam_layer, pretrained_from))
        if timm_fn is None:
            timm.models.register_model(fn)
        return fn

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
    """Names registered with :func:`register_classifier` (any other timm name works too).

    Returns:
        list[str]: sorted architecture names.
    """
    return _CLASSIFIERS.names()


def _act_layer_class(kw: dict[str, Any]) -> None:
    """Resolve a string ``act_layer`` in ``kw`` (``"relu"``) to its class, in place; the VGGs
    defined here take an activation class, timm's own builders resolve names."""
    if isinstance(kw.get("act_layer"), str):
        try:
            kw["act_layer"] = get_act_layer(kw["act_layer"])
        except KeyError:
            raise ValueError(f"unknown `act_layer` {kw['act_layer']!r}") from None


def _fundus_defaults(kwargs: dict[str, Any]) -> tuple[int, float]:
    """Pop ``num_classes`` (default 1) and ``drop_rate`` (default 0.5), :func:`create_classifier`'s
    defaults, from an entrypoint's ``kwargs``; resolve a string ``act_layer``."""
    _act_layer_class(kwargs)
    return int(kwargs.pop("num_classes", 1)), float(kwargs.pop("drop_rate", 0.5))


@register_classifier("vgg16_paper", gradcam_layer="backbone.features.15", pretrained_from="vgg16")
def vgg16_paper(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """timm entrypoint of the paper's VGG-16 (module docstring): timm ``vgg16`` with a stride-2
    first convolution and an unpadded first convolution of block 5.

    Args:
        pretrained (bool, optional): load timm's ``vgg16`` weights (``pretrained_cfg_overlay=
            {"file": PATH}`` for a local file). Default: False.
        **kwargs: :func:`timm.create_model` keywords; ``num_classes`` defaults to 1 and
            ``drop_rate`` to 0.5.

    Returns:
        nn.Module: the backbone, input normalised ``(N, 3, 512, 512)``, output
        ``(N, num_classes)``.
    """
    num_classes, drop_rate = _fundus_defaults(kwargs)
    model = timm.create_model(
        "vgg16", pretrained=pretrained, num_classes=num_classes, drop_rate=drop_rate, **kwargs
    )
    set_stride2_stem(model)
    feature_conv(model, 24).padding = (0, 0)
    no_inplace_relu(model)
    return model


#: timm's own entrypoint, registered for its Grad-CAM layer (the paper's "Mixed 8") and weights.
register_classifier(
    "inception_v3", gradcam_layer="backbone.Mixed_7a", pretrained_from="inception_v3"
)(timm.models.model_entrypoint("inception_v3"))


def _compact(
    cfg: Sequence[int | str],
    pretrained: bool,
    kwargs: dict[str, Any],
    *,
    stride2_stem: bool,
    norm_layer: type[nn.Module] | None,
) -> nn.Module:
    """:func:`~captum_iterative.fundus._vgg.compact_vgg` from an entrypoint's ``pretrained`` and
    ``kwargs`` (the compact VGGs have no pretrained weights)."""
    if pretrained:
        raise ValueError(
            "the compact VGGs have no pretrained weights; create them with pretrained=False"
        )
    num_outputs, dropout = _fundus_defaults(kwargs)
    kw = {key: value for key, value in kwargs.items() if key not in _TIMM_KEYWORDS}
    model = compact_vgg(
        cfg, num_outputs, dropout, stride2_stem=stride2_stem, norm_layer=norm_layer, **kw
    )
    no_inplace_relu(model)
    return model


@register_classifier("vgg_tiny", gradcam_layer="backbone.features.7")
def vgg_tiny(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """timm entrypoint of ``vgg_tiny`` (module docstring).

    Args:
        pretrained (bool, optional): must be False (no pretrained weights). Default: False.
        **kwargs: :func:`timm.create_model` keywords; ``num_classes`` defaults to 1,
            ``drop_rate`` to 0.5, others (``act_layer``, ...) go to :class:`timm.models.vgg.VGG`.

    Returns:
        nn.Module: the backbone, input normalised ``(N, 3, H, W)``, output ``(N, num_classes)``.
    """
    return _compact(VGG_TINY_CFG, pretrained, kwargs, stride2_stem=True, norm_layer=None)


@register_classifier("vgg_small", gradcam_layer="backbone.features.13")
def vgg_small(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """timm entrypoint of ``vgg_small`` (module docstring); arguments and result as
    :func:`vgg_tiny`'s."""
    return _compact(
        VGG_SMALL_CFG, pretrained, kwargs, stride2_stem=False, norm_layer=nn.BatchNorm2d
    )


@register_classifier("vgg16_narrow", gradcam_layer="backbone.features.22")
def vgg16_narrow(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """timm entrypoint of ``vgg16_narrow`` (module docstring); arguments and result as
    :func:`vgg_tiny`'s."""
    model = _compact(
        VGG16_NARROW_CFG, pretrained, kwargs, stride2_stem=True, norm_layer=nn.BatchNorm2d
    )
    feature_conv(model, 34).padding = (0, 0)  # block 5's first convolution, as vgg16_paper's
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
    if name in _CLASSIFIERS:
        entry: _Entry | None = _CLASSIFIERS.get(name)
    elif timm.is_model(name):
        entry = None
    else:
        raise ValueError(
            f"`name` must be one of {list_classifiers()} or a timm model name "
            f"(timm.list_models()), got {name!r}"
        )
    weights_from = entry.pretrained_from if entry is not None else name
    if pretrained and weights_from is None:
        raise ValueError(f"'{name}' has no pretrained weights; create it with pretrained=False")
    weights_file = resolve_weights(weights_from, weights) if pretrained and weights_from else None
    by_name = None if by_order else weights_file
    if entry is not None:
        _act_layer_class(kw)
    backbone = timm.create_model(
        name,
        num_classes=num_outputs,
        drop_rate=float(dropout),
        **timm_pretrained_kwargs(by_name),
        **kw,
    )
    if entry is not None:
        layer = entry.gradcam_layer
    else:
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
