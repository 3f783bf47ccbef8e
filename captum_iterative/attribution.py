r"""What the loop accepts as an attribution besides Captum's classes, and how each one is called.

:class:`~captum_iterative.IterativeAugmentation` calls its explainer once per iteration as
``explainer.attribute(images, target=..., **kwargs)``. Three kinds of explainers fit that call:

- a :class:`captum.attr.Attribution` (the usual case);
- a Captum attribution whose ``attribute`` takes no ``target`` (``LayerActivation``): the target
  is then used for the scores only (:func:`accepts_target`);
- any callable ``(inputs, target, **kwargs) -> attribution`` returning a tensor or a numpy
  array, wrapped by :class:`CallableAttribution` (also what the pytorch-grad-cam adapter of
  :mod:`captum_iterative.integrations.gradcam` builds on).

What the loop needs to know about its explainer lives here too: whether the model output of its
forward pass is the prediction of the explained images (:func:`reuses_forward`), whether guided
backpropagation would silently equal the plain gradient (:func:`warn_guided_without_relu`),
whether a ``reshape_transform`` can apply (:func:`check_reshape_transform`), and the target of a
call when the explainer has conventions of its own (:func:`loop_target`).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from captum.attr import (
    Attribution,
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    LayerGradCam,
    Saliency,
)
from captum.log import log_usage
from torch import Tensor, nn

from captum_iterative.outputs import ScoreFn, Scorer, is_score_preset

__all__ = [
    "REUSABLE_FORWARD",
    "AttributionFn",
    "CallableAttribution",
]

#: Attribution types whose single forward pass runs on exactly the explained images, so the
#: model output of that pass is the prediction for those images (``reuse_forward="auto"``).
REUSABLE_FORWARD: tuple[type, ...] = (
    Saliency,
    GuidedBackprop,
    Deconvolution,
    InputXGradient,
    LayerGradCam,
    GuidedGradCam,
)
#: Attribution types that override the gradient of ``nn.ReLU`` modules only.
_GUIDED: tuple[type, ...] = (GuidedBackprop, Deconvolution, GuidedGradCam)

#: ``fn(inputs, target, **kwargs) -> attribution``: an explainer that is not a Captum object.
AttributionFn = Callable[..., Any]


class CallableAttribution(Attribution):
    r"""Any callable ``(inputs, target, **kwargs) -> attribution`` as a Captum ``Attribution``.

    The callable receives the ``(k, C, H, W)`` images (a tensor that requires grad, under
    :func:`torch.enable_grad`), the target of those ``k`` images and the inner keywords, and
    returns an input-shaped or layer-shaped attribution: a tensor or a numpy array, which is
    moved to the images' device.

    Args:
        fn (callable): ``fn(inputs, target, **kwargs)``.
        forward_func (callable): the classifier, used by the loop for the scores.

    Examples::

        >>> from captum_iterative import IterativeAugmentation
        >>> model = nn.Sequential(nn.Conv2d(3, 1, 3), nn.AdaptiveMaxPool2d(1), nn.Flatten())
        >>> def gradient(x, target, **kwargs):
        ...     return torch.autograd.grad(model(x)[:, target].sum(), x)[0]
        >>> explainer = IterativeAugmentation(CallableAttribution(gradient, model), threshold=0.5)
        >>> explainer.attribute(torch.rand(2, 3, 16, 16), target=0).shape
        torch.Size([2, 1, 16, 16])
    """

    def __init__(self, fn: AttributionFn, forward_func: Callable[..., Any]) -> None:
        if not callable(fn):
            raise TypeError(f"`fn` must be callable, got {type(fn).__name__}")
        if not callable(forward_func):
            raise TypeError(f"`forward_func` must be callable, got {type(forward_func).__name__}")
        super().__init__(forward_func)
        self.fn = fn

    @log_usage()
    def attribute(self, inputs: Tensor, target: Any = None, **kwargs: Any) -> Tensor:
        """``fn(inputs, target, **kwargs)`` as a tensor on ``inputs``' device."""
        if not inputs.requires_grad:
            inputs = inputs.detach().requires_grad_()
        with torch.enable_grad():
            attribution = self.fn(inputs, target, **kwargs)
        if isinstance(attribution, np.ndarray):
            attribution = torch.from_numpy(np.ascontiguousarray(attribution))
        if not isinstance(attribution, Tensor):
            raise TypeError(
                f"the explainer {_name(self.fn)} returned {type(attribution).__name__}; it must "
                "return a tensor or a numpy array"
            )
        return attribution.to(inputs.device)

    def __repr__(self) -> str:
        return f"CallableAttribution({_name(self.fn)})"


def _name(fn: object) -> str:
    return getattr(fn, "__qualname__", type(fn).__name__)


def as_attribution(
    explainer: Attribution | AttributionFn, forward_func: Callable[..., Any] | None
) -> Attribution:
    """The loop's explainer as an ``Attribution``: Captum objects as they are, callables wrapped.

    Args:
        explainer (Attribution or callable): a Captum attribution, or ``fn(inputs, target,
            **kwargs)``.
        forward_func (callable, optional): the classifier; needed for a plain callable.

    Returns:
        Attribution: ``explainer`` itself, or a :class:`CallableAttribution` around it.
    """
    if isinstance(explainer, Attribution):
        return explainer
    if _is_grad_cam(explainer):
        raise TypeError(
            f"`attribution_method` {type(explainer).__name__} is a pytorch-grad-cam CAM object, "
            "which has its own calling convention (input_tensor=, targets=[...]): wrap it as "
            "CAMAttribution(cam), from captum_iterative.integrations import CAMAttribution"
        )
    if isinstance(explainer, type) and issubclass(explainer, Attribution):
        raise TypeError(
            f"`attribution_method` must be an instance such as {explainer.__name__}(model), "
            "not the class"
        )
    if not callable(explainer):
        raise TypeError(
            "`attribution_method` must be a captum.attr.Attribution instance such as "
            "GuidedBackprop(model), or a callable (inputs, target, **kwargs) -> attribution; got "
            f"{type(explainer).__name__}"
        )
    if forward_func is None:
        raise TypeError(
            f"`attribution_method` {_name(explainer)} is a plain callable: pass the classifier as "
            "`forward_func=` so that the loop can score the images"
        )
    return CallableAttribution(explainer, forward_func)


def _is_grad_cam(explainer: object) -> bool:
    """Whether ``explainer`` is a pytorch-grad-cam object (without importing pytorch-grad-cam)."""
    return any(kind.__module__.startswith("pytorch_grad_cam.") for kind in type(explainer).__mro__)


def loop_target(
    method: Attribution, target: Any, inputs: Tensor, additional_forward_args: Any
) -> Any:
    """The target of one call of the loop: ``target``, or the explainer's reading of it.

    An explainer with conventions of its own may define ``loop_target(target, inputs,
    additional_forward_args)``; the loop calls it once per call, before the first step, so that
    every step explains and scores the same target. The pytorch-grad-cam adapter
    (:class:`~captum_iterative.integrations.CAMAttribution`) reads ``ClassifierOutputTarget``
    objects as class indices and gives ``target=None`` the predicted class.

    Args:
        method (Attribution): the explainer.
        target (Any): the ``target`` of the call.
        inputs (Tensor): ``(N, C, H, W)`` images (``(N, C, D, H, W)`` volumes).
        additional_forward_args (Any): of the call.

    Returns:
        Any: the target the loop checks, slices and scores with.
    """
    resolve = getattr(method, "loop_target", None)
    return target if resolve is None else resolve(target, inputs, additional_forward_args)


def accepts_target(method: Attribution) -> bool:
    """Whether ``method.attribute`` takes a ``target`` keyword (``LayerActivation`` does not)."""
    try:
        parameters = inspect.signature(method.attribute).parameters
    except (TypeError, ValueError):
        return True
    return "target" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def reuses_forward(method: Attribution) -> bool:
    """Whether the model output of ``method``'s forward pass scores the explained images.

    True for the types of :data:`REUSABLE_FORWARD` (exact type: a subclass may change the
    forward pass).
    """
    return type(method) in REUSABLE_FORWARD


def resolve_reuse_forward(
    reuse: object, method: Attribution, forward_func: object, explicit_forward: bool
) -> bool:
    """Whether the loop takes its scores from the attribution's forward pass.

    Args:
        reuse (bool or str): ``True``, ``False`` or ``"auto"`` (:func:`reuses_forward` for the
            attribution's own classifier).
        method (Attribution): the explainer.
        forward_func (callable): the classifier the loop scores with.
        explicit_forward (bool): ``forward_func`` was given rather than taken from ``method``.

    Raises:
        ValueError: ``reuse`` is not one of the three, or ``True`` without an ``nn.Module``
            classifier.
    """
    if reuse not in (True, False, "auto"):
        raise ValueError(f"`reuse_forward` must be True, False or 'auto', got {reuse!r}")
    if not isinstance(forward_func, nn.Module):
        if reuse is True:
            raise ValueError("`reuse_forward=True` needs an nn.Module classifier")
        return False
    if reuse == "auto":
        same_model = not explicit_forward or forward_func is getattr(method, "forward_func", None)
        return same_model and reuses_forward(method)
    return bool(reuse)


def _model_of(method: Attribution) -> nn.Module | None:
    for owner in (method, getattr(method, "guided_backprop", None)):
        model = getattr(owner, "model", None)
        if isinstance(model, nn.Module):
            return model
    forward = getattr(method, "forward_func", None)
    return forward if isinstance(forward, nn.Module) else None


def warn_guided_without_relu(method: Attribution, stacklevel: int = 3) -> None:
    """Warn when a guided method explains a model without ``nn.ReLU`` modules.

    Captum's guided backpropagation hooks ``nn.ReLU`` only, so on such a model it equals the
    plain gradient.

    Args:
        method (Attribution): the explainer.
        stacklevel (int, optional): of the ``UserWarning``, counted from this function.
            Default: 3 (the caller's caller).
    """
    if not isinstance(method, _GUIDED):
        return
    model = _model_of(method)
    if model is not None and not any(isinstance(m, nn.ReLU) for m in model.modules()):
        warnings.warn(
            f"{type(method).__name__}: the model has no nn.ReLU module, so "
            "guided backpropagation equals the plain gradient here (Captum only hooks "
            "nn.ReLU; SiLU, GELU, ReLU6 and functional ReLUs are left unchanged)",
            UserWarning,
            stacklevel=stacklevel,
        )


def check_reshape_transform(method: Attribution, reshape_transform: Any) -> Any:
    """Check a ``reshape_transform`` for ``method``: a callable, or None.

    Raises:
        TypeError: not callable.
        ValueError: with ``LayerGradCam`` or ``GuidedGradCam``, which average the layer's
            gradients before any transform could apply.
    """
    if reshape_transform is None:
        return None
    if not callable(reshape_transform):
        raise TypeError(
            f"`reshape_transform` must be callable, got {type(reshape_transform).__name__}"
        )
    if isinstance(method, LayerGradCam | GuidedGradCam):
        name = type(method).__name__
        raise ValueError(
            f"`reshape_transform` cannot be used with {name}: it averages the layer's "
            "gradients over every dimension after the first before returning, which on a "
            "token layer (N, T, D) is the embedding, not space. Use LayerGradientXActivation "
            "or LayerActivation on the token layer, or pytorch-grad-cam's GradCAM with its own "
            "reshape_transform through captum_iterative.integrations.gradcam.CAMAttribution"
        )
    return reshape_transform


def loop_scorer(
    method: Attribution, forward_func: Callable[..., Any], score_fn: ScoreFn, autocast: Any
) -> Scorer:
    """The loop's :class:`~captum_iterative.outputs.Scorer` for ``method``; warns once when the
    classifier is in training mode. A plain callable's ``forward_func`` may return any output
    when ``score_fn`` is the caller's own (not a registered preset)."""
    any_output = isinstance(method, CallableAttribution) and not is_score_preset(score_fn)
    scorer = Scorer(forward_func, score_fn, autocast, any_output)
    scorer.warn_if_training()
    return scorer
