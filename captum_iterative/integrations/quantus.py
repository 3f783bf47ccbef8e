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
  ``TypeError`` on an unexpected keyword.
- **Images predicted normal.** The loop gives them an all-zero map by default; Quantus raises
  ``AssertionError`` on an all-zero batch and silently scores an all-zero map 0 in a larger
  batch. Here ``explain_normal=True`` is the default (they get their plain first map), and a map
  that is still constant is reported with a warning.

The module does not import Quantus: it only answers Quantus's call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import captum.attr
import numpy as np
import torch
from captum.attr import Attribution
from torch import Tensor, nn

from captum_iterative._checks import to_numpy
from captum_iterative.augmentation import IterativeAugmentation
from captum_iterative.explainers import AttributionFn

__all__ = ["QUANTUS_ONLY_KEYWORDS", "MethodSpec", "explain_func"]

#: Keywords that Quantus adds to ``explain_func_kwargs`` or that its own ``quantus.explain``
#: reads; :func:`explain_func` takes them and passes none of them on (``device`` places the
#: inputs).
QUANTUS_ONLY_KEYWORDS: tuple[str, ...] = (
    "device",
    "softmax",
    "xai_lib",
    "xai_lib_kwargs",
    "channel_first",
    "reduce_axes",
)

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
            ``inpainter``, ``channel_reduction``, ``score``, ``output_fn``, ...). The keywords of
            :data:`QUANTUS_ONLY_KEYWORDS` are taken here and not passed on; ``device`` places the
            inputs (default: the model's device).

    Returns:
        np.ndarray: ``(N, 1, H, W)`` float32 maps.

    Warns:
        UserWarning: naming the images whose map is constant (all zero), which Quantus's
            localisation metrics score 0 without a word (or refuse, for a whole batch).
    """
    if maps not in ("augmented", "initial"):
        raise ValueError(f'`maps` must be "augmented" or "initial", got {maps!r}')
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch nn.Module, got {type(model).__name__}")
    device = kwargs.pop("device", None)
    for name in QUANTUS_ONLY_KEYWORDS:
        kwargs.pop(name, None)
    parameter = next(model.parameters(), None)
    if device is None:
        device = parameter.device if parameter is not None else "cpu"
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else None
    x = torch.as_tensor(inputs).to(device=device, dtype=dtype or torch.float32)
    kwargs.setdefault("forward_func", model)
    if maps == "initial":
        kwargs.setdefault("max_iter", 1)  # M^1 does not depend on the later iterations
    explainer = IterativeAugmentation(
        _build(method, model), threshold, explain_normal=explain_normal, **kwargs
    )
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


def _build(method: MethodSpec, model: nn.Module) -> Attribution | AttributionFn:
    """The explainer of ``method`` for ``model`` (see :data:`MethodSpec`)."""
    if isinstance(method, str):
        found = getattr(captum.attr, method, None)
        if not (isinstance(found, type) and issubclass(found, Attribution)):
            raise ValueError(
                f"`method` {method!r} is not an attribution class of captum.attr; pass its name "
                "(e.g. 'Saliency'), the class, or a factory model -> explainer"
            )
        return found(model)
    if not callable(method):
        raise TypeError(
            f"`method` must be a captum.attr class name, a class or a factory, got "
            f"{type(method).__name__}"
        )
    return method(model)


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
