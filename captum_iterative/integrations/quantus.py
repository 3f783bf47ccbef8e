r"""Quantus adapter: :func:`explain_func`, the loop as a Quantus ``explain_func``.

Quantus (``pip install captum-iterative[quantus]``) computes explanations itself when a metric is
called without ``a_batch``: ``explain_func(model=model, inputs=x_batch, targets=y_batch,
**explain_func_kwargs)``, with numpy inputs and targets and ``device=`` added to the keywords.
Glue written around a fixed explainer falls into four traps, which :func:`explain_func` avoids:

- **The model Quantus passes.** Randomisation metrics (MPRT and its variants) call
  ``explain_func`` with a copy of the model whose layers they randomise one after the other. The
  explainer is therefore built from the ``model`` argument at every call; glue that closes over
  an explainer built once explains the original model, and MPRT reports a similarity of 1.0.
- **numpy.** Inputs and targets arrive as numpy arrays; the maps go back as a numpy array
  ``(N, 1, H, W)`` float32.
- **Quantus-only keywords.** ``device=`` (and Quantus's own explainer settings such as
  ``softmax=`` or ``xai_lib=``) are taken here and never passed on: Captum would raise
  ``TypeError`` on an unexpected keyword. A setting the loop cannot apply is named in a warning.
  ``xai_lib_kwargs`` means what it means in ``quantus.explain``: the keywords of the Captum
  class's constructor (``{"layer": "layer4"}``, a layer named as in ``model.named_modules()``
  and looked up in the model Quantus passes); keywords of its ``attribute`` go in
  ``attribute_kwargs``, and any other keyword is refused naming the right place.
- **Warnings.** Quantus calls ``explain_func`` once per batch (and per layer, for randomisation
  metrics); each distinct warning of the loop and of Captum (GuidedBackprop's "Setting backward
  hooks on ReLU activations") is shown once per process.
- **Images predicted normal.** The loop gives them an all-zero map by default; Quantus raises
  ``AssertionError`` on an all-zero batch and silently scores an all-zero map 0 in a larger
  batch. Here ``explain_normal=True`` is the default (they get their plain first map), and a map
  that is still constant is reported with a warning.

The module does not import Quantus: it only answers Quantus's call.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable
from typing import Any, Literal

import captum.attr
import numpy as np
import torch
from captum.attr import Attribution
from torch import Tensor, nn

from captum_iterative._checks import to_numpy
from captum_iterative._warnings import each_warning_once
from captum_iterative.attribution import AttributionFn
from captum_iterative.augmentation import IterativeAugmentation

__all__ = ["QUANTUS_ONLY_KEYWORDS", "MethodSpec", "explain_func"]

#: Keywords that Quantus adds to ``explain_func_kwargs`` or that its own ``quantus.explain``
#: reads; :func:`explain_func` takes them and passes none of them on (``device`` places the
#: inputs; ``xai_lib_kwargs`` are the constructor keywords of the Captum class, as in
#: ``quantus.explain``).
QUANTUS_ONLY_KEYWORDS: tuple[str, ...] = (
    "device",
    "softmax",
    "xai_lib",
    "xai_lib_kwargs",
    "channel_first",
    "reduce_axes",
)

#: Quantus settings the loop cannot apply: ``name -> (values that agree with the loop, what the
#: loop does instead)``; another value is named in a warning.
_NOT_APPLIED: dict[str, tuple[tuple[object, ...], str]] = {
    "softmax": (
        (None, False),
        "the attribution explains the model's output as it is (`score='softmax'` sets the "
        "loop's scores)",
    ),
    "xai_lib": ((None, "captum"), "the loop explains with Captum attributions"),
    "channel_first": ((None, True), "the images must be channel first, (N, C, H, W)"),
    "reduce_axes": (
        (None,),
        "the loop reduces the channels with `channel_reduction=` (default 'abs_max')",
    ),
}

#: The keywords of :class:`IterativeAugmentation` that :func:`explain_func` passes on.
_LOOP_KEYWORDS: frozenset[str] = frozenset(
    inspect.signature(IterativeAugmentation.__init__).parameters
) - {"self", "attribution_method", "threshold", "explain_normal"}

#: Distinct warnings (category, text) already shown by :func:`explain_func` in this process.
_SHOWN_WARNINGS: set[tuple[type[Warning], str]] = set()

#: The explainer to build from Quantus's model: the name of a ``captum.attr`` class taking the
#: model alone (``"Saliency"``), such a class, or a factory ``model -> explainer``
#: (``lambda m: LayerGradCam(m, m.features[-1])``: the layer must come from the model Quantus
#: passes, which for randomisation metrics is a randomised copy).
MethodSpec = str | type[Attribution] | Callable[[nn.Module], Attribution | AttributionFn]


def explain_func(
    model: nn.Module,
    inputs: np.ndarray | Tensor,
    targets: np.ndarray | Tensor | int | None = None,
    *,
    method: MethodSpec = "Saliency",
    threshold: float,
    maps: Literal["augmented", "initial"] = "augmented",
    explain_normal: bool = True,
    attribute_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> np.ndarray:
    r"""Augmented (or initial) maps of ``inputs`` for Quantus, from the model Quantus passes.

    Use it as ``metric(model=model, x_batch=x, y_batch=y, s_batch=s, explain_func=explain_func,
    explain_func_kwargs={"method": "GuidedBackprop", "threshold": th_pred}, device="cpu")``.

    Args:
        model (nn.Module): the classifier Quantus passes (for randomisation metrics, its
            randomised copy); the explainer is built from it at every call.
        inputs (np.ndarray or Tensor): ``(N, C, H, W)`` images (channel first, as Quantus passes
            them).
        targets (np.ndarray, Tensor or int, optional): one class index per image (Quantus's
            ``y_batch``). For a model with a single output they are not class indices (a grade,
            a label): the single output is explained and they are ignored. Default: None.
        method (str, type or callable, optional): see :data:`MethodSpec`.
            Default: ``"Saliency"``.
        threshold (float): ``th_pred`` of the loop, in the units of its score (``score=``).
        maps (str, optional): ``"augmented"`` or ``"initial"`` (the plain first map, for a
            comparison under the same metric; the loop then stops after that map, with
            ``max_iter=1`` unless given). Default: ``"augmented"``.
        explain_normal (bool, optional): images predicted normal get their plain first map
            instead of an all-zero one (which Quantus cannot score). Default: True.
        attribute_kwargs (dict, optional): keywords of the inner ``attribute`` call
            (``n_steps``, ``baselines``, ``relu_attributions``, ...). Default: None.
        **kwargs: keywords of :class:`~captum_iterative.IterativeAugmentation` (``max_iter``,
            ``inpainter``, ``channel_reduction``, ``score``, ``output_fn``, ...), and those of
            :data:`QUANTUS_ONLY_KEYWORDS`, which are taken here and not passed on: ``device``
            places the inputs (default: the model's device); ``xai_lib_kwargs`` (dict) are the
            keywords of the constructor of ``method``'s Captum class, as in ``quantus.explain``
            (``LayerGradCam(model, **xai_lib_kwargs)``), where a ``layer`` may be given by its
            name in the model Quantus passes (``"layer4"``, ``"features.28"``,
            ``"model.features[28]"``); ``softmax``, ``xai_lib``, ``channel_first`` and
            ``reduce_axes`` have no counterpart in the loop.

    Returns:
        np.ndarray: ``(N, 1, H, W)`` float32 maps.

    Raises:
        TypeError: a keyword that is none of the above, naming where it belongs
            (``attribute_kwargs`` for keywords of the method's ``attribute``, ``xai_lib_kwargs``
            for those of its constructor).

    Warns:
        UserWarning: naming the images whose map is constant (all zero), which Quantus's
            localisation metrics score 0 without a word (or refuse, for a whole batch); naming a
            Quantus setting the loop does not apply. The warnings of the loop and of the method
            are shown once per process (Quantus calls this function once per batch).
    """
    if maps not in ("augmented", "initial"):
        raise ValueError(f'`maps` must be "augmented" or "initial", got {maps!r}')
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch nn.Module, got {type(model).__name__}")
    device = kwargs.pop("device", None)
    constructor_kwargs = kwargs.pop("xai_lib_kwargs", None)
    quantus_settings = {name: kwargs.pop(name) for name in _NOT_APPLIED if name in kwargs}
    parameter = next(model.parameters(), None)
    if device is None:
        device = parameter.device if parameter is not None else "cpu"
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else None
    x = torch.as_tensor(inputs).to(device=device, dtype=dtype or torch.float32)
    kwargs.setdefault("forward_func", model)
    if maps == "initial":
        kwargs.setdefault("max_iter", 1)  # M^1 does not depend on the later iterations
    with each_warning_once(_SHOWN_WARNINGS):
        _warn_not_applied(quantus_settings)
        built = _build(method, model, constructor_kwargs)
        _check_loop_keywords(kwargs, built, method)
        explainer = IterativeAugmentation(built, threshold, explain_normal=explain_normal, **kwargs)
        target = _target(targets, model, x, explainer)
        result = explainer.explain(x, target=target, **(attribute_kwargs or {}))
    chosen = result.augmented if maps == "augmented" else result.initial
    flat = chosen.flatten(1)
    constant = (flat.amax(dim=1) <= flat.amin(dim=1)).nonzero()[:, 0].tolist()
    if constant:
        reasons = sorted({result.stop_reason[i] for i in constant})
        warnings.warn(
            f"explain_func: the {maps} maps of image(s) {constant} are constant "
            f"(stop reason {', '.join(reasons)}); Quantus scores such a map 0, or refuses a batch "
            "of them",
            UserWarning,
            stacklevel=2,
        )
    return to_numpy(chosen, dtype=np.float32)


def _build(
    method: MethodSpec, model: nn.Module, constructor_kwargs: dict[str, Any] | None
) -> Attribution | AttributionFn:
    """The explainer of ``method`` for ``model`` (see :data:`MethodSpec`).

    ``constructor_kwargs`` (Quantus's ``xai_lib_kwargs``) go to the constructor of a Captum class
    given by name or as a class, as ``quantus.explain`` passes them.
    """
    if isinstance(method, str):
        found = getattr(captum.attr, method, None)
        if not (isinstance(found, type) and issubclass(found, Attribution)):
            raise ValueError(
                f"`method` {method!r} is not an attribution class of captum.attr; pass its name "
                "(e.g. 'Saliency'), the class, or a factory model -> explainer"
            )
        method = found
    if isinstance(method, type) and issubclass(method, Attribution):
        return method(model, **_constructor_kwargs(method, model, constructor_kwargs or {}))
    if not callable(method):
        raise TypeError(
            f"`method` must be a captum.attr class name, a class or a factory, got "
            f"{type(method).__name__}"
        )
    if constructor_kwargs:
        raise ValueError(
            "`xai_lib_kwargs` are the keywords of the constructor of a captum.attr class given "
            "by name or as a class (as quantus.explain passes them); a factory `method` builds "
            "its explainer itself: give them to the constructor in the factory"
        )
    return method(model)


def _constructor_kwargs(
    cls: type[Attribution], model: nn.Module, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``xai_lib_kwargs`` checked against ``cls``'s constructor, layer names looked up in ``model``.

    Raises:
        TypeError: a keyword the constructor does not take (naming ``attribute_kwargs`` when it
            is one of ``cls.attribute``'s).
        ValueError: a layer that is not a module of ``model``.
    """
    if not isinstance(kwargs, dict):
        raise TypeError(f"`xai_lib_kwargs` must be a dict, got {type(kwargs).__name__}")
    parameters = list(inspect.signature(cls.__init__).parameters)[2:]  # after self and the model
    for name in kwargs:
        if name not in parameters:
            raise TypeError(
                f"`xai_lib_kwargs` holds {name!r}, which {cls.__name__}'s constructor does not "
                f"take ({', '.join(parameters) or 'it takes the model only'}); "
                + _where_it_belongs(name, cls)
            )
    resolved = dict(kwargs)
    if "layer" in resolved:
        layer = resolved["layer"]
        many = isinstance(layer, list | tuple)
        layers = [_layer_of(one, model) for one in (layer if many else [layer])]
        resolved["layer"] = layers if many else layers[0]
    return resolved


def _layer_of(layer: object, model: nn.Module) -> nn.Module:
    """A ``layer`` of ``xai_lib_kwargs``: a module of ``model``, or its name there."""
    if isinstance(layer, str):
        path = "" if layer == "model" else layer.removeprefix("model.")
        try:
            return model.get_submodule(re.sub(r"\[(\d+)\]", r".\1", path))
        except AttributeError:
            raise ValueError(
                f"`xai_lib_kwargs['layer']` {layer!r} names no module of the model; give a name "
                "of model.named_modules() ('layer4', 'features.28', 'model.features[28]') or a "
                "factory `method`"
            ) from None
    if not isinstance(layer, nn.Module):
        raise TypeError(
            f"`xai_lib_kwargs['layer']` must be a module or its name, got {type(layer).__name__}"
        )
    if not any(layer is module for module in model.modules()):
        raise ValueError(
            "`xai_lib_kwargs['layer']` is not a module of the model Quantus passed (randomisation "
            "metrics pass a copy, whose layers are other objects): give the layer's name "
            "('layer4'), which is looked up in the model passed, or a factory `method`"
        )
    return layer


def _where_it_belongs(name: str, cls: type[Attribution] | None, by_name: bool = True) -> str:
    """Where the keyword ``name`` goes: ``attribute_kwargs``, ``xai_lib_kwargs``, or nowhere.

    ``by_name``: ``method`` was a class or its name (else a factory, which takes no
    ``xai_lib_kwargs``).
    """
    if cls is not None and name in inspect.signature(cls.attribute).parameters:
        return (
            f"it is a keyword of {cls.__name__}.attribute: pass it in `attribute_kwargs`, e.g. "
            f"explain_func_kwargs={{..., 'attribute_kwargs': {{{name!r}: ...}}}}"
        )
    if cls is not None and name in list(inspect.signature(cls.__init__).parameters)[2:]:
        if not by_name:
            return f"it is a keyword of {cls.__name__}'s constructor: pass it in the factory"
        return (
            f"it is a keyword of {cls.__name__}'s constructor: pass it in `xai_lib_kwargs`, e.g. "
            f"explain_func_kwargs={{..., 'xai_lib_kwargs': {{{name!r}: ...}}}}"
        )
    return (
        "keywords of the method's attribute go in `attribute_kwargs`, of its constructor in "
        "`xai_lib_kwargs`; the others are those of IterativeAugmentation: "
        + ", ".join(sorted(_LOOP_KEYWORDS))
    )


def _check_loop_keywords(
    kwargs: dict[str, Any], built: Attribution | AttributionFn, method: MethodSpec
) -> None:
    """Refuse keywords that are not :class:`IterativeAugmentation`'s, naming where they go."""
    unknown = sorted(set(kwargs) - _LOOP_KEYWORDS)
    if not unknown:
        return
    cls = type(built) if isinstance(built, Attribution) else None
    name = unknown[0]
    raise TypeError(
        f"explain_func got the keyword {name!r}, which is not one of the loop's; "
        + _where_it_belongs(name, cls, by_name=isinstance(method, str | type))
    )


def _warn_not_applied(settings: dict[str, Any]) -> None:
    """Name the Quantus settings of ``settings`` that the loop does not apply."""
    for name, value in settings.items():
        agreeing, instead = _NOT_APPLIED[name]
        if value is None or (isinstance(value, bool | str) and value in agreeing):
            continue
        warnings.warn(
            f"explain_func: Quantus's `{name}={value!r}` is not applied: {instead}",
            UserWarning,
            stacklevel=3,
        )


def _target(
    targets: np.ndarray | Tensor | int | None,
    model: nn.Module,
    x: Tensor,
    explainer: IterativeAugmentation,
) -> Any:
    """Quantus's labels as the loop's target: per-image indices, or None for one output."""
    if targets is None:
        return None
    if isinstance(targets, int | np.integer):
        target: Any = int(targets)
    else:
        target = torch.as_tensor(np.asarray(targets) if isinstance(targets, list) else targets)
        target = target.reshape(-1).long().to(x.device)
    with torch.no_grad():
        probe = model(x[:1])
    if explainer.output_fn is not None:
        probe = explainer.output_fn(probe)
    single = isinstance(probe, Tensor) and (probe.dim() == 1 or probe.shape[1] == 1)
    return None if single else target
