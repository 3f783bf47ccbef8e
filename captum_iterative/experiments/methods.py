r"""The attribution methods of the paper's Table I, built with Captum, as a small registry.

:func:`get_method` gives a method's :class:`MethodSpec` by name, :func:`list_methods` the names
and the decorator :func:`register_method` adds one. Each entry says how to build the Captum
attribution for a classifier, which keywords its ``attribute`` call takes, and how its channels
are reduced to one map:

- ``saliency``: ``Saliency``, ``abs=True``, reduction ``abs_max``;
- ``guided_backprop``: ``GuidedBackprop``, reduction ``abs_max``;
- ``integrated_gradients``: ``IntegratedGradients``, ``n_steps=32`` from a zero baseline,
  reduction ``sum``;
- ``grad_cam``: ``LayerGradCam`` at the classifier's Grad-CAM layer,
  ``relu_attributions=True``, reduction ``abs_max`` (an identity on its non-negative map);
- ``guided_grad_cam``: ``GuidedGradCam`` at the same layer, reduction ``abs_max``.

Integrated gradients are summed over channels (signed: evidence for the prediction is positive),
the gradient maps take the largest absolute value over channels (the usual saliency map);
Grad-CAM maps are non-negative with ``relu_attributions=True`` (as in the paper).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from captum.attr import (
    Attribution,
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerGradCam,
    Saliency,
)
from torch import nn

from captum_iterative._registry import Registry
from captum_iterative.augmentation import IterativeAugmentation
from captum_iterative.fundus.models import gradcam_layer

__all__ = [
    "TABLE_I",
    "MethodSpec",
    "build_explainer",
    "build_method",
    "get_method",
    "list_methods",
    "register_method",
]

#: ``build(model, layer) -> Attribution``; ``layer`` is used by layer methods only.
MethodBuilder = Callable[[nn.Module, nn.Module | None], Attribution]
_M = TypeVar("_M", bound=MethodBuilder)


@dataclass(frozen=True)
class MethodSpec:
    """How to run one attribution method through the loop.

    Attributes:
        name: registry name, e.g. ``"guided_backprop"``.
        label: short label for tables (the paper's abbreviations).
        build: ``(model, layer) -> Attribution`` (:data:`MethodBuilder`).
        kwargs: keywords of the inner ``attribute`` call.
        channel_reduction: name passed to ``IterativeAugmentation(channel_reduction=...)``.
        uses_layer: whether the method needs a layer (Grad-CAM and Guided Grad-CAM).
    """

    name: str
    label: str
    build: MethodBuilder
    kwargs: dict[str, Any] = field(default_factory=dict)
    channel_reduction: str = "abs_max"
    uses_layer: bool = False


def _need(layer: nn.Module | None) -> nn.Module:
    if layer is None:
        raise ValueError("this method needs a `layer`")
    return layer


_METHODS: Registry[MethodSpec] = Registry("method", "method")


def register_method(
    name: str,
    *,
    label: str,
    kwargs: dict[str, Any] | None = None,
    channel_reduction: str = "abs_max",
    uses_layer: bool = False,
) -> Callable[[_M], _M]:
    """Decorator adding the builder ``(model, layer) -> Attribution`` of method ``name``.

    Args:
        name (str): the method's name (``--methods``, ``ExperimentConfig(methods=...)``).
        label (str): short label for tables.
        kwargs (dict, optional): keywords of the inner ``attribute`` call. Default: None (none).
        channel_reduction (str, optional): the method's channel reduction. Default: ``"abs_max"``.
        uses_layer (bool, optional): the builder needs a layer (Grad-CAM). Default: False.

    Raises:
        ValueError: ``name`` already holds another method.

    Examples::

        >>> from captum.attr import InputXGradient
        >>> @register_method("input_x_gradient", label="IxG", channel_reduction="sum")
        ... def input_x_gradient(model, layer):
        ...     return InputXGradient(model)
    """

    def decorator(build: _M) -> _M:
        spec = MethodSpec(name, label, build, dict(kwargs or {}), channel_reduction, uses_layer)
        _METHODS.add(name, spec)
        return build

    return decorator


def list_methods() -> list[str]:
    """Names accepted by :func:`get_method`, sorted (the Table I order is :data:`TABLE_I`)."""
    return _METHODS.names()


def get_method(name: str | MethodSpec) -> MethodSpec:
    """The :class:`MethodSpec` of method ``name`` (:func:`list_methods`), or a spec passed
    through.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if isinstance(name, MethodSpec):
        return name
    return _METHODS.get(name)


@register_method("saliency", label="Saliency", kwargs={"abs": True})
def _saliency(model: nn.Module, layer: nn.Module | None) -> Attribution:
    return Saliency(model)


@register_method("guided_backprop", label="GBP")
def _guided_backprop(model: nn.Module, layer: nn.Module | None) -> Attribution:
    return GuidedBackprop(model)


@register_method(
    "integrated_gradients", label="IG", kwargs={"n_steps": 32}, channel_reduction="sum"
)
def _integrated_gradients(model: nn.Module, layer: nn.Module | None) -> Attribution:
    return IntegratedGradients(model)


@register_method("grad_cam", label="Grad-CAM", kwargs={"relu_attributions": True}, uses_layer=True)
def _grad_cam(model: nn.Module, layer: nn.Module | None) -> Attribution:
    return LayerGradCam(model, _need(layer))


@register_method("guided_grad_cam", label="Guided Grad-CAM", uses_layer=True)
def _guided_grad_cam(model: nn.Module, layer: nn.Module | None) -> Attribution:
    return GuidedGradCam(model, _need(layer))


#: The five methods of the paper's Table I, in its order.
TABLE_I: tuple[str, ...] = (
    "saliency",
    "guided_backprop",
    "integrated_gradients",
    "grad_cam",
    "guided_grad_cam",
)


def build_method(
    name: str, model: nn.Module, layer: nn.Module | None = None
) -> tuple[Attribution, dict[str, Any], MethodSpec]:
    """Build the Captum attribution ``name`` for ``model``.

    Args:
        name (str): a name of :func:`list_methods`.
        model (nn.Module): the classifier (input ``(N, 3, H, W)``, output ``(N, 1)``).
        layer (nn.Module, optional): layer for Grad-CAM methods. Default: None, the classifier's
            default Grad-CAM layer (:func:`captum_iterative.fundus.models.gradcam_layer`).

    Returns:
        tuple: the attribution, a copy of its inner keywords, and its :class:`MethodSpec`.
    """
    spec = get_method(name)
    if spec.uses_layer and layer is None:
        layer = gradcam_layer(model)
    return spec.build(model, layer), dict(spec.kwargs), spec


def build_explainer(
    name: str,
    model: nn.Module,
    threshold: float,
    *,
    layer: nn.Module | None = None,
    **loop_kwargs: Any,
) -> tuple[IterativeAugmentation, dict[str, Any]]:
    """An :class:`IterativeAugmentation` around method ``name``, and the inner keywords to pass.

    Args:
        name (str): a name of :func:`list_methods`.
        model (nn.Module): the classifier.
        threshold (float): ``th_pred``.
        layer (nn.Module, optional): see :func:`build_method`.
        **loop_kwargs: keywords of :class:`IterativeAugmentation` (``max_iter``, ``alpha``,
            ``inpainter``, ...); ``channel_reduction`` defaults to the method's.

    Returns:
        tuple: ``(explainer, inner_kwargs)``; call ``explainer.explain(x, **inner_kwargs)``.

    Examples::

        >>> import torch
        >>> from captum_iterative.fundus import create_classifier
        >>> model = create_classifier("vgg_tiny").eval()
        >>> explainer, kw = build_explainer("integrated_gradients", model, 0.0, max_iter=2)
        >>> kw
        {'n_steps': 32}
        >>> result = explainer.explain(torch.rand(1, 3, 64, 64), **kw)
        >>> result.augmented.shape
        torch.Size([1, 1, 64, 64])
    """
    method, kwargs, spec = build_method(name, model, layer)
    loop_kwargs.setdefault("channel_reduction", spec.channel_reduction)
    return IterativeAugmentation(method, threshold, **loop_kwargs), kwargs
