r"""Explainers the loop accepts besides Captum attributions, and how each one is called.

:class:`~captum_iterative.IterativeAugmentation` calls its explainer once per iteration as
``explainer.attribute(images, target=..., **kwargs)``. Three kinds of explainers fit that call:

- a :class:`captum.attr.Attribution` (the usual case);
- a Captum attribution whose ``attribute`` takes no ``target`` (``LayerActivation``): the target
  is then used for the scores only (:func:`accepts_target`);
- any callable ``(inputs, target, **kwargs) -> attribution`` returning a tensor or a numpy
  array, wrapped by :class:`CallableAttribution` (also what the pytorch-grad-cam adapter of
  :mod:`captum_iterative.integrations.gradcam` builds on).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from captum.attr import Attribution
from captum.log import log_usage
from torch import Tensor

__all__ = ["AttributionFn", "CallableAttribution", "accepts_target", "as_attribution"]

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

        >>> def gradient(x, target, **kwargs):
        ...     return torch.autograd.grad(model(x)[:, target].sum(), x)[0]
        >>> explainer = IterativeAugmentation(CallableAttribution(gradient, model), threshold=0.5)
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


def accepts_target(method: Attribution) -> bool:
    """Whether ``method.attribute`` takes a ``target`` keyword (``LayerActivation`` does not)."""
    try:
        parameters = inspect.signature(method.attribute).parameters
    except (TypeError, ValueError):
        return True
    return "target" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
