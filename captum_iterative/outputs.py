r"""From a model output to one score per image: structured outputs and score presets.

The loop compares one score per image with ``th_pred``. Two things stand between a model and that
score:

- **Structured outputs.** HuggingFace models return a ``ModelOutput`` (``out.logits``), others a
  dict or a tuple. Captum needs a tensor from the forward function too, so ``output_fn`` (e.g.
  ``lambda out: out.logits``) is applied to the model's output through a forward hook
  (:func:`output_hook`) while the loop runs: Captum's forward, the loop's scoring and the reuse
  of the attribution's forward pass all see the tensor.
- **Score presets** (:func:`get_score`, :func:`list_scores`): ``"logit"`` (the output as it
  is: the single output, or the target's column), ``"sigmoid"`` (its sigmoid) and ``"softmax"``
  (the target's softmax probability over the ``K >= 2`` outputs). The threshold is in the
  preset's units. Add one with the decorator :func:`register_score`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from captum_iterative._registry import Registry

__all__ = [
    "SCORE_RANGES",
    "OutputFn",
    "ScoreFn",
    "check_threshold",
    "default_score",
    "get_score",
    "list_scores",
    "output_hook",
    "register_score",
    "sigmoid_score",
    "softmax_score",
]

#: ``score_fn(output, target) -> (N,)``: one score per image from the model output.
ScoreFn = Callable[[Tensor, Any], Tensor]
#: ``output_fn(output) -> Tensor``: the tensor of a structured model output (``out.logits``).
OutputFn = Callable[[Any], Tensor]
_S = TypeVar("_S", bound=Callable[..., Tensor])

#: The score presets of ``IterativeAugmentation(score=...)``; the threshold is in the preset's
#: units (a probability for ``"sigmoid"`` and ``"softmax"``).
_SCORES: Registry[ScoreFn] = Registry("score", "score")


def register_score(name: str) -> Callable[[_S], _S]:
    """Decorator adding a score preset ``(output, target) -> (N,)`` under ``name``:
    ``@register_score("mine")``.

    Raises:
        ValueError: ``name`` already holds another score function.
    """
    return _SCORES.register(name)


def list_scores() -> list[str]:
    """Names accepted by :func:`get_score` and ``score=``, sorted:
    ``["logit", "sigmoid", "softmax"]``."""
    return _SCORES.names()


def get_score(name: str | ScoreFn) -> ScoreFn:
    """A score preset by name (:func:`list_scores`), or a callable passed through.

    Args:
        name (str or callable): a preset name, or ``(output, target) -> (N,)``.

    Returns:
        callable: the score function.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: neither a string nor a callable.
    """
    return _SCORES.resolve(name)


_OUTPUT_HINT = (
    "pass `output_fn=` to take the tensor from it, e.g. `output_fn=lambda out: out.logits` "
    "(Captum needs a tensor from the forward pass too, so `score_fn=` alone cannot fix this)"
)


@register_score("logit")
def default_score(output: Tensor, target: Any) -> Tensor:
    r"""One score per image from a model output: the ``"logit"`` preset.

    Args:
        output (Tensor): ``(N,)``, ``(N, 1)`` or ``(N, K)`` model output.
        target (int, Tensor, list or None): Captum-style target. Ignored for single-output models
            (where only 0 and -1 are valid); for ``K > 1`` outputs, selects the column (an int,
            or one index per image). An index outside ``[-K, K)`` raises ``ValueError``.

    Returns:
        Tensor: ``(N,)`` scores.
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"the model returned {type(output).__name__}, not a tensor; {_OUTPUT_HINT}")
    if output.dim() == 1:
        return output
    if output.dim() != 2:
        raise ValueError(
            f"the model output has shape {tuple(output.shape)}; pass `score_fn=` to map it to one "
            "score per image"
        )
    check_target_range(target, output.shape[1], tensors=False)
    if output.shape[1] == 1:
        return output[:, 0]
    if target is None:
        raise ValueError(
            f"the model has {output.shape[1]} outputs: pass `target=` to choose the scored column "
            "(or `score_fn=`)"
        )
    if isinstance(target, int):
        return output[:, target]
    index = torch.as_tensor(target, device=output.device).long().reshape(-1)
    # remainder: negative indices count from the end, as for an int
    index = index.remainder(output.shape[1]).expand(output.shape[0])
    return output.gather(1, index[:, None])[:, 0]


@register_score("sigmoid")
def sigmoid_score(output: Tensor, target: Any) -> Tensor:
    """The ``"sigmoid"`` preset: ``sigmoid`` of :func:`default_score` (multi-label or binary)."""
    return torch.sigmoid(default_score(output, target))


@register_score("softmax")
def softmax_score(output: Tensor, target: Any) -> Tensor:
    """The ``"softmax"`` preset: the target's probability under a softmax over ``K >= 2`` outputs.

    Raises:
        ValueError: for a model with a single output (its softmax is always 1).
    """
    if isinstance(output, Tensor) and (output.dim() == 1 or output.shape[-1] == 1):
        raise ValueError(
            'score="softmax" needs a model with K >= 2 outputs (the softmax of one output is '
            'always 1); use score="sigmoid" for a single logit'
        )
    if isinstance(output, Tensor) and output.dim() == 2:
        output = torch.softmax(output, dim=1)
    return default_score(output, target)


#: The values the bounded score presets take; a threshold outside them is met by no image (or by
#: every image).
SCORE_RANGES: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
}


def check_threshold(threshold: float, score: str | None) -> float:
    """Refuse a ``threshold`` outside the range of the ``score`` preset (:data:`SCORE_RANGES`):
    a probability threshold of 1.5 would leave every image unexplained, with all-zero maps.

    Raises:
        ValueError: naming ``threshold``, the preset and its range.
    """
    if isinstance(score, str) and score in SCORE_RANGES:
        low, high = SCORE_RANGES[score]
        if not low <= threshold <= high:
            raise ValueError(
                f"`threshold` {threshold!r} is outside [{low:g}, {high:g}], the range of "
                f"score={score!r}: no image would ever be abnormal (or every image always); "
                "the threshold is in the preset's units (a probability here)"
            )
    return threshold


def resolve_score_fn(score: str | None, score_fn: ScoreFn | None) -> ScoreFn:
    """Resolve the loop's ``score=`` (a name of :func:`list_scores`) and ``score_fn=`` (a
    callable) to one scorer.

    Args:
        score (str, optional): a preset name. Default: None.
        score_fn (callable, optional): ``(output, target) -> (N,)``. Default: None.

    Returns:
        callable: the scorer; :func:`default_score` when neither is given.
    """
    if score is not None and score_fn is not None:
        raise ValueError("pass either `score=` (a preset name) or `score_fn=` (a callable)")
    if score_fn is not None:
        if not callable(score_fn):
            raise TypeError(f"`score_fn` must be callable, got {type(score_fn).__name__}")
        return score_fn
    if score is None:
        return default_score
    return _SCORES.get(score)


def is_score_preset(score_fn: object) -> bool:
    """Whether ``score_fn`` is a registered preset (not the caller's own function)."""
    return any(score_fn is preset for preset in _SCORES.values())


def check_target_range(target: Any, columns: int, tensors: bool = True) -> None:
    """Refuse column indices outside ``[-columns, columns)`` (Captum would raise IndexError).

    Checking a tensor target reads it on the host (a device sync), so the loop does it once, on
    its first forward pass, and :func:`default_score` (called every iteration) only checks ints.
    """
    if isinstance(target, tuple) and len(target) == 1:
        target = target[0]
    if isinstance(target, int):
        bad = not -columns <= target < columns
    elif isinstance(target, Tensor) and tensors:
        bad = bool(((target < -columns) | (target >= columns)).any())
    else:
        return
    if bad:
        shown = target.tolist() if isinstance(target, Tensor) else target
        raise ValueError(f"`target` {shown} is out of range for a model with {columns} output(s)")


@contextmanager
def output_hook(modules: Sequence[object], output_fn: OutputFn | None) -> Iterator[None]:
    """Apply ``output_fn`` to the output of each of ``modules`` while the block runs.

    A forward hook that returns a value replaces the module's output, so every caller of the
    model inside the block (Captum's forward, the loop's scoring, other hooks registered later)
    sees ``output_fn(output)``. The hooks are removed on exit, also when the block raises.

    Args:
        modules (sequence): the classifier's forward functions (the loop's and the
            attribution's); each ``nn.Module`` among them is hooked once, other callables are
            left alone.
        output_fn (callable, optional): ``output -> Tensor``; None hooks nothing. Default: None.
    """
    if output_fn is None:
        yield
        return

    def hook(_module: nn.Module, _args: Any, output: Any) -> Tensor:
        tensor = output_fn(output)
        if not isinstance(tensor, Tensor):
            raise TypeError(
                f"`output_fn` must return a tensor, got {type(tensor).__name__} from a model "
                f"output of type {type(output).__name__}"
            )
        return tensor

    handles = []
    try:
        for module in {id(m): m for m in modules if isinstance(m, nn.Module)}.values():
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


def check_output_fn(output_fn: object, forward_func: object) -> OutputFn | None:
    """Check ``output_fn``: None, or a callable for an ``nn.Module`` classifier.

    Raises:
        TypeError: not callable, or ``forward_func`` is not an ``nn.Module`` (the function is
            applied through a forward hook).
    """
    if output_fn is None:
        return None
    if not callable(output_fn):
        raise TypeError(f"`output_fn` must be callable, got {type(output_fn).__name__}")
    if not isinstance(forward_func, nn.Module):
        raise TypeError(
            "`output_fn` is applied through a forward hook and needs an nn.Module classifier; "
            "a plain forward function can return the tensor itself"
        )
    return output_fn


@contextmanager
def capture_output(model: nn.Module, batch_size: int) -> Iterator[list[Tensor]]:
    """Keep the first tensor output of ``model`` with ``batch_size`` rows while the block runs.

    The loop reads the prediction of the inpainted images from the attribution's own forward
    pass this way (``reuse_forward``). The hook is removed on exit, also when the block raises.

    Yields:
        list[Tensor]: empty, or holding the detached output once the model has run.
    """
    captured: list[Tensor] = []

    def hook(_module: nn.Module, _args: Any, output: Any) -> None:
        if not captured and isinstance(output, Tensor) and output.shape[:1] == (batch_size,):
            captured.append(output.detach())

    handle = model.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


@contextmanager
def maybe_autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast(device.type, dtype)`` inside the block; nothing when ``dtype`` is None.

    Not ``torch.autocast(device.type, dtype, enabled=dtype is not None)``: with ``enabled=False``
    that switches off an autocast the caller runs the loop under, and it refuses some devices
    (``meta``); None leaves the caller's numerics alone.
    """
    if dtype is None:
        yield
    else:
        with torch.autocast(device_type=device.type, dtype=dtype):
            yield


class Scorer:
    """The loop's scores: the classifier's output on images, through ``score_fn``.

    Args:
        forward_func (callable): the classifier, ``forward_func(images, *extra_args)``.
        score_fn (callable): ``(output, target) -> (k,)`` (:func:`resolve_score_fn`).
        autocast (torch.dtype, optional): run the classifier under :func:`maybe_autocast`.
        any_output (bool): ``score_fn`` may take a non-tensor output (a plain-callable
            explainer with a custom ``score_fn``); else such an output is refused on the first
            call with a hint at ``output_fn``.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        score_fn: ScoreFn,
        autocast: torch.dtype | None,
        any_output: bool,
    ) -> None:
        self.forward_func = forward_func
        self.score_fn = score_fn
        self.autocast = autocast
        self.any_output = any_output

    def __call__(self, x: Tensor, target: Any, extra_args: Any, first: bool = False) -> Tensor:
        """``(k,)`` float64 scores of the ``k`` images ``x`` (no grad); ``first`` checks the
        output's type and the target's range once."""
        args = () if extra_args is None else extra_args
        with torch.no_grad(), maybe_autocast(x.device, self.autocast):
            output = self.forward_func(x, *args)
        if first and not isinstance(output, Tensor) and not self.any_output:
            raise TypeError(
                f"the model returned {type(output).__name__}, not a tensor, and Captum needs a "
                "tensor from the forward pass: pass `output_fn=` to take it from the output, e.g. "
                "`output_fn=lambda out: out.logits` (`score_fn=` alone only changes the scores)"
            )
        if first and isinstance(output, Tensor) and output.dim() == 2:
            check_target_range(target, output.shape[1])
        return self.of_output(output, target, x.shape[0])

    def of_output(self, output: Any, target: Any, k: int) -> Tensor:
        """``(k,)`` float64 scores of a model output through ``score_fn`` (shape checked)."""
        scores = self.score_fn(output.float() if isinstance(output, Tensor) else output, target)
        if not isinstance(scores, Tensor) or scores.shape != (k,):
            raise ValueError(
                f"`score_fn` must return one score per image, shape ({k},), got "
                f"{getattr(scores, 'shape', type(scores))}"
            )
        return scores.double()

    def warn_if_training(self) -> None:
        """Warn when the classifier is in training mode (its scores would vary)."""
        model = self.forward_func
        if isinstance(model, nn.Module) and model.training:
            warnings.warn(
                "the classifier is in training mode: dropout and batch norm make its scores vary "
                "between iterations; call model.eval() first (Captum and this wrapper never do)",
                UserWarning,
                stacklevel=4,
            )

    @staticmethod
    def check_finite(scores: Tensor, index: Tensor) -> None:
        """Refuse non-finite scores, naming the images (``index``: their batch positions)."""
        bad = ~torch.isfinite(scores)
        if bool(bad.any()):
            raise ValueError(
                f"the classifier returned non-finite scores for image(s) {index[bad].tolist()}"
            )
