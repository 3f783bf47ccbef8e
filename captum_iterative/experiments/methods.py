r"""The attribution methods of the paper's Table I, built with Captum, as a small registry.

Each entry says how to build the Captum attribution for a classifier, which keywords its
``attribute`` call takes, and how its channels are reduced to one map:

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
from typing import Any

from captum.attr import (
    Attribution,
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerGradCam,
    Saliency,
)
from torch import nn

from captum_iterative.augmentation import IterativeAugmentation
from captum_iterative.fundus.models import gradcam_layer

__all__ = ["METHODS", "TABLE_I", "MethodSpec", "build_explainer", "build_method"]


@dataclass(frozen=True)
class MethodSpec:
    """How to run one attribution method through the loop.

    Attributes:
        name: registry key, e.g. ``"guided_backprop"``.
        label: short label for tables (the paper's abbreviations).
        build: ``(model, layer) -> Attribution``; ``layer`` is used by layer methods only.
        kwargs: keywords of the inner ``attribute`` call.
        channel_reduction: name passed to ``IterativeAugmentation(channel_reduction=...)``.
        uses_layer: whether the method needs a layer (Grad-CAM and Guided Grad-CAM).
    """

    name: str
    label: str
    build: Callable[[nn.Module, nn.Module | None], Attribution]
    kwargs: dict[str, Any] = field(default_factory=dict)
    channel_reduction: str = "abs_max"
    uses_layer: bool = False


def _need(layer: nn.Module | None) -> nn.Module:
    if layer is None:
        raise ValueError("this method needs a `layer`")
    return layer


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("saliency", "Saliency", lambda m, _: Saliency(m), {"abs": True}),
        MethodSpec("guided_backprop", "GBP", lambda m, _: GuidedBackprop(m)),
        MethodSpec(
            "integrated_gradients",
            "IG",
            lambda m, _: IntegratedGradients(m),
            {"n_steps": 32},
            channel_reduction="sum",
        ),
        MethodSpec(
            "grad_cam",
            "Grad-CAM",
            lambda m, layer: LayerGradCam(m, _need(layer)),
            {"relu_attributions": True},
            uses_layer=True,
        ),
        MethodSpec(
            "guided_grad_cam",
            "Guided Grad-CAM",
            lambda m, layer: GuidedGradCam(m, _need(layer)),
            uses_layer=True,
        ),
    )
}

#: The five methods of the paper's Table I, in its order.
TABLE_I: tuple[str, ...] = tuple(METHODS)


def _spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise ValueError(f"unknown method '{name}'; choose from {sorted(METHODS)}")
    return METHODS[name]


def build_method(
    name: str, model: nn.Module, layer: nn.Module | None = None
) -> tuple[Attribution, dict[str, Any], MethodSpec]:
    """Build the Captum attribution ``name`` for ``model``.

    Args:
        name (str): a key of :data:`METHODS`.
        model (nn.Module): the classifier (input ``(N, 3, H, W)``, output ``(N, 1)``).
        layer (nn.Module, optional): layer for Grad-CAM methods. Default: None, the classifier's
            default Grad-CAM layer (:func:`captum_iterative.fundus.models.gradcam_layer`).

    Returns:
        tuple: the attribution, a copy of its inner keywords, and its :class:`MethodSpec`.
    """
    spec = _spec(name)
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
        name (str): a key of :data:`METHODS`.
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
