r"""Iterative augmentation of visual evidence (González-Gonzalo et al., IEEE TMI 2020).

:class:`IterativeAugmentation` wraps any Captum attribution, the way
:class:`captum.attr.NoiseTunnel` does: it explains the images, binarizes each map at its Otsu
threshold, inpaints the binarized evidence, re-predicts, and repeats while the classifier still
calls an image abnormal, then returns :math:`\sum_t e^{-\alpha t} M^t`. Weaker lesions that a
single map misses show up in the later maps.

The loop is batched and stays on the images' device: each image stops on its own, the batch is
compacted to the images still abnormal, and the only device-to-host copy per iteration is the
"still iterating" flag vector.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from captum.attr import (
    Attribution,
    Deconvolution,
    GradientAttribution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    LayerGradCam,
    Saliency,
)
from captum.log import log_usage
from torch import Tensor, nn
from tqdm.auto import tqdm

from captum_iterative._checks import (
    check_finite_number,
    check_images,
    check_mask_like,
    check_positive_int,
)
from captum_iterative._warnings import deduplicated_warnings as _deduplicated_warnings
from captum_iterative.binarize import get_binarizer, map_range
from captum_iterative.explainers import (
    AttributionFn,
    CallableAttribution,
    accepts_target,
    as_attribution,
)
from captum_iterative.inpaint import Inpainter, NavierStokesInpainter
from captum_iterative.outputs import (
    SCORES,
    OutputFn,
    ScoreFn,
    check_target_range,
    default_score,
    get_score_fn,
    output_hook,
)
from captum_iterative.reduce import (
    ChannelReduction,
    ReshapeTransform,
    get_channel_reduction,
    reduce_attribution,
)

__all__ = [
    "STOP_REASONS",
    "AugmentationResult",
    "IterativeAugmentation",
    "ScoreFn",
    "default_score",
]

#: Why an image left the loop, indexed by the integer codes used on the device.
STOP_REASONS: tuple[str, ...] = ("running", "normal", "max_iter", "degenerate_map", "not_abnormal")
_RUNNING, _NORMAL, _MAX_ITER, _DEGENERATE, _NOT_ABNORMAL = range(5)

#: Attribution types whose single forward pass runs on exactly the explained images, so the
#: model output of that pass is the prediction for those images (``reuse_forward="auto"``).
_REUSABLE_FORWARD: tuple[type, ...] = (
    Saliency,
    GuidedBackprop,
    Deconvolution,
    InputXGradient,
    LayerGradCam,
    GuidedGradCam,
)
_GUIDED: tuple[type, ...] = (GuidedBackprop, Deconvolution, GuidedGradCam)


@dataclass
class AugmentationResult:
    r"""Everything the loop saw, for ``N`` images of shape ``(C, H, W)``.

    Attributes:
        augmented (Tensor): ``(N, 1, H, W)`` augmented maps :math:`\sum_t e^{-\alpha t} M^t`
            (all zero for images predicted normal at the start, unless ``explain_normal``).
        initial (Tensor): ``(N, 1, H, W)`` the first map :math:`M^1` (zero where the image was
            predicted normal at the start, unless ``explain_normal``).
        iterations (Tensor): ``(N,)`` int64, maps that entered the augmented sum (= inpainting
            steps); never more than ``max_iter``.
        scores (list[Tensor]): per image, a 1-D float64 tensor: the score of the input, then the
            score after each inpainting step (length ``iterations + 1``).
        stop_reason (list[str]): per image, ``"normal"`` (score fell below the threshold),
            ``"max_iter"``, ``"degenerate_map"`` (a constant or non-finite map, or an empty mask,
            ended the loop before inpainting) or ``"not_abnormal"`` (predicted normal at the start).
        inpainted (Tensor): ``(N, C, H, W)`` the images after the last inpainting step.
        threshold (float): the prediction threshold used.
        alpha (float): the decay used.
        maps (list[Tensor] or None): with ``keep_history=True``, per image the ``(t, 1, H, W)``
            maps that entered the sum.
        masks (list[Tensor] or None): with ``keep_history=True``, per image the ``(t, 1, H, W)``
            bool masks that were inpainted.
    """

    augmented: Tensor
    initial: Tensor
    iterations: Tensor
    scores: list[Tensor]
    stop_reason: list[str]
    inpainted: Tensor
    threshold: float
    alpha: float
    maps: list[Tensor] | None = None
    masks: list[Tensor] | None = None

    @property
    def initial_score(self) -> Tensor:
        """``(N,)`` float64 score of each input image."""
        return torch.stack([s[0] for s in self.scores])

    @property
    def final_score(self) -> Tensor:
        """``(N,)`` float64 score of each image after its last inpainting step."""
        return torch.stack([s[-1] for s in self.scores])

    def __len__(self) -> int:
        return self.augmented.shape[0]


class _Batch:
    """Per-call arguments of ``attribute`` that are sliced along the batch with the images."""

    def __init__(
        self,
        n: int,
        target: Any,
        additional_forward_args: Any,
        kwargs: dict[str, Any],
        images: Tensor,
    ) -> None:
        self.n = n
        self.image_dim = images.dim()
        self.target = _check_target(target, n, images.device)
        self.additional_forward_args = _check_additional_forward_args(additional_forward_args, n)
        self.kwargs = kwargs

    def _slice(self, obj: Any, index: Tensor, per_image: Callable[[Tensor], bool]) -> Any:
        if isinstance(obj, Tensor) and per_image(obj):
            return obj[index.to(obj.device)]
        if isinstance(obj, tuple):
            return tuple(self._slice(o, index, per_image) for o in obj)
        return obj

    def select(self, index: Tensor) -> tuple[Any, Any, dict[str, Any]]:
        """``target``, ``additional_forward_args`` and inner kwargs for the images ``index``."""
        target = self.target
        if isinstance(target, list):
            target = [target[i] for i in index.tolist()]
        elif isinstance(target, Tensor):  # one index per image, on the images' device
            target = target[index]

        def any_batched(t: Tensor) -> bool:
            return t.dim() >= 1 and t.shape[0] == self.n

        def image_shaped(t: Tensor) -> bool:
            return t.dim() == self.image_dim and t.shape[0] == self.n

        afa = self._slice(self.additional_forward_args, index, any_batched)
        kwargs = {k: self._slice(v, index, image_shaped) for k, v in self.kwargs.items()}
        return target, afa, kwargs


def _check_target(target: Any, n: int, device: torch.device) -> Any:
    """The checked ``target``, in the form the loop slices without further host transfers.

    A one-element tensor becomes an int (read once here, not at every iteration), and per-image
    indices (a tensor or a list of ints) become a ``(n,)`` long tensor on the images' ``device``,
    where Captum gathers the model output with them.
    """
    if target is None or _is_index(target):
        return target
    if isinstance(target, Tensor):
        if target.dim() == 0 or target.numel() == 1 or (target.dim() == 1 and target.numel() == n):
            if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
                raise TypeError(f"`target` must hold integer indices, got a {target.dtype} tensor")
            if target.numel() == 1:
                return int(target)
            return target.to(device=device, dtype=torch.long)
        raise ValueError(
            f"`target` must be an int, a scalar tensor or one index per image ({n}), "
            f"got a tensor of shape {tuple(target.shape)}"
        )
    if isinstance(target, tuple):
        if not all(_is_index(i) for i in target):
            raise TypeError(f"`target` tuple entries must be ints, got {target!r}")
        return target
    if isinstance(target, list):
        if len(target) != n:
            raise ValueError(f"`target` has {len(target)} entries for {n} images")
        if all(_is_index(t) for t in target):
            return torch.tensor(target, dtype=torch.long, device=device)
        if not all(isinstance(t, tuple) and all(_is_index(i) for i in t) for t in target):
            raise TypeError(
                "`target` list entries must be ints, or tuples of ints for outputs with more "
                f"than two dimensions, got {[type(t).__name__ for t in target]}"
            )
        return target
    raise TypeError(f"`target` must be an int, tuple, tensor or list, got {type(target).__name__}")


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_additional_forward_args(args: Any, n: int) -> Any:
    if args is None:
        return None
    args = args if isinstance(args, tuple) else (args,)
    for i, arg in enumerate(args):
        if isinstance(arg, Tensor) and arg.dim() >= 1 and arg.shape[0] not in (n,):
            raise ValueError(
                f"`additional_forward_args[{i}]` has batch size {arg.shape[0]} for {n} images; "
                "tensors in additional_forward_args are treated as per-image (as in Captum)"
            )
    return args


def _single_input(inputs: object) -> object:
    """The image tensor of ``inputs``: a tensor, or a one-element tuple holding one (Captum's)."""
    if isinstance(inputs, tuple):
        if len(inputs) != 1:
            raise ValueError(
                f"`inputs` is a tuple of {len(inputs)} tensors; the loop explains one image "
                "tensor: pass the other model inputs as `additional_forward_args`"
            )
        return inputs[0]
    return inputs


def _model_of(method: Attribution) -> nn.Module | None:
    for owner in (method, getattr(method, "guided_backprop", None)):
        model = getattr(owner, "model", None)
        if isinstance(model, nn.Module):
            return model
    forward = getattr(method, "forward_func", None)
    return forward if isinstance(forward, nn.Module) else None


class IterativeAugmentation(Attribution):
    r"""Iterative augmentation of visual evidence around any Captum attribution.

    For images :math:`I`, a classifier :math:`F` and a threshold :math:`th`, with :math:`I^1 = I`
    and :math:`t = 1, 2, \dots` (González-Gonzalo et al., "Iterative augmentation of visual
    evidence for weakly-supervised lesion localization in deep interpretability frameworks",
    IEEE TMI 2020, Algorithm 1)::

        while F(I^t) >= th and t <= max_iter:
            M^t = reduce(A(I^t, F))               # one channel, input resolution
            B^t = M^t >= otsu(M^t)                # per image
            I^{t+1} = inpaint(I^t, B^t)           # only masked pixels change
        augmented = sum_t exp(-alpha * t) * M^t

    ``max_iter`` bounds the number of maps per image (the paper's ``T = 20``). Each image stops on
    its own; the result for an image does not depend on the other images of the batch. Only
    images predicted abnormal are explained; the others get an all-zero map and the stop reason
    ``"not_abnormal"`` (``explain_normal=True`` gives them their plain first map instead).

    Like :class:`captum.attr.NoiseTunnel`, the wrapper takes an attribution *instance* and passes
    ``target``, ``additional_forward_args`` and every inner keyword (``baselines``, ``n_steps``,
    ``relu_attributions``, ...) through, sliced to the images still iterating: per-image tensors
    (first dimension ``N``) and per-image ``target`` lists are sliced, everything else is passed
    as is. Captum never calls ``model.eval()`` and neither does this class; a model in training
    mode triggers a warning because dropout or batch norm would change its scores.

    The loop also runs on volumes ``(N, C, D, H, W)`` (maps ``(N, 1, D, H, W)``, Otsu over each
    volume, layer maps upsampled trilinearly) with an inpainter that fills volumes
    (:class:`~captum_iterative.inpaint.PyramidInpainter`; the OpenCV inpainters are 2-D).

    Args:
        attribution_method (Attribution or callable): any :class:`captum.attr.Attribution`
            instance returning input-shaped ``(N, C, H, W)`` or layer-shaped ``(N, C', h, w)``
            attributions, e.g. ``GuidedBackprop(model)`` or ``LayerGradCam(model, layer)`` (layer
            maps are upsampled bilinearly to ``(H, W)``); one whose ``attribute`` takes no
            ``target`` (``LayerActivation``) is called without it. Or any callable
            ``(inputs, target, **kwargs) -> attribution`` (tensor or numpy array), which then
            needs ``forward_func``.
        threshold (float): prediction threshold ``th_pred``; an image is abnormal while its score
            is ``>= threshold``.
        inpainter (Inpainter or callable, optional): ``(images, masks, valid) -> images``.
            Default: ``NavierStokesInpainter(radius=3)``.
        max_iter (int, optional): the most maps computed per image (``T``). Default: 20.
        alpha (float, optional): decay of the map weights ``exp(-alpha * t)``, ``t = 1, 2, ...``.
            Default: 0.6.
        binarizer (str or callable, optional): ``"otsu"`` or a callable ``(maps, valid) -> masks``
            on ``(k, 1, H, W)`` maps returning bool masks. Default: ``"otsu"``.
        channel_reduction (str or callable, optional): ``"abs_max"``, ``"abs_sum"``, ``"sum"``,
            ``"max"``, ``"mean"`` or a callable ``(k, C, H, W) -> (k, 1, H, W)``.
            Default: ``"abs_max"``.
        forward_func (callable, optional): the classifier used for the scores. Default: None,
            the attribution's own ``forward_func``.
        score_fn (callable, optional): ``(output, target) -> (k,)`` scores from the model output;
            ``target`` is that of the ``k`` images scored: an int (also for a one-element target
            tensor), a ``(k,)`` long tensor on the images' device (per-image indices, given as a
            tensor or a list of ints), a tuple, a list of tuples, or None.
            Default: None, the ``score`` preset.
        score (str, optional): a score preset of :data:`~captum_iterative.outputs.SCORES`:
            ``"logit"`` (the single output, or the target's column, as it is), ``"sigmoid"`` (its
            sigmoid) or ``"softmax"`` (the target's softmax probability over ``K >= 2``
            outputs); ``threshold`` is in these units. Not with ``score_fn``. Default: None
            (``"logit"``).
        output_fn (callable, optional): ``output -> Tensor`` for models returning a structured
            output (a HuggingFace ``ModelOutput``, a dict, a tuple), e.g.
            ``lambda out: out.logits``. It is applied through a forward hook on the classifier
            (an ``nn.Module``) while the loop runs, so Captum's forward pass, the scores and
            ``reuse_forward`` all see the tensor. Default: None.
        reshape_transform (callable, optional): ``attribution -> (k, C', h, w)`` applied to the
            inner attribution before the channel reduction, for layer methods on token-shaped
            layers: e.g. a ViT block's ``(k, 1 + h * w, D)`` without its class token, reshaped
            to ``(k, D, h, w)``, as pytorch-grad-cam's ``reshape_transform``. Not with
            ``LayerGradCam`` or ``GuidedGradCam``, which average the gradients over the layer's
            dimensions before any transform could apply. Default: None.
        explain_normal (bool, optional): give images predicted normal at the start their plain
            first map instead of zeros. Default: False.
        keep_history (bool, optional): keep every map and mask in the result. Default: False.
        internal_batch_size (int, optional): run the loop on chunks of at most this many images
            to bound memory. Default: None (the whole batch at once).
        reuse_forward (bool or "auto", optional): take the score of :math:`I^t` from the model
            output of the attribution's own forward pass instead of a separate forward. ``"auto"``
            does so for Saliency, GuidedBackprop, Deconvolution, InputXGradient, LayerGradCam and
            GuidedGradCam on an ``nn.Module`` classifier. Default: ``"auto"``.
        autocast (torch.dtype, optional): run the attribution and the scoring under
            ``torch.autocast(device_type, dtype)`` (e.g. ``torch.bfloat16`` on a GPU). Maps are
            accumulated in float32. Default: None.

    Examples::

        >>> from captum.attr import GuidedBackprop
        >>> explainer = IterativeAugmentation(GuidedBackprop(model), threshold=0.5)
        >>> maps = explainer.attribute(images, target=0)      # (N, 1, H, W)
        >>> result = explainer.explain(images, target=0)      # AugmentationResult
        >>> result.iterations, result.stop_reason
    """

    def __init__(
        self,
        attribution_method: Attribution | AttributionFn,
        threshold: float,
        *,
        inpainter: Inpainter | Callable[..., Tensor] | None = None,
        max_iter: int = 20,
        alpha: float = 0.6,
        binarizer: str | Callable[..., Tensor] = "otsu",
        channel_reduction: str | ChannelReduction = "abs_max",
        forward_func: Callable[..., Any] | None = None,
        score_fn: ScoreFn | None = None,
        explain_normal: bool = False,
        keep_history: bool = False,
        internal_batch_size: int | None = None,
        reuse_forward: bool | Literal["auto"] = "auto",
        autocast: torch.dtype | None = None,
        score: str | None = None,
        output_fn: OutputFn | None = None,
        reshape_transform: ReshapeTransform | None = None,
    ) -> None:
        if forward_func is not None and not callable(forward_func):
            raise TypeError("`forward_func` must be callable")
        attribution_method = as_attribution(attribution_method, forward_func)
        if isinstance(attribution_method, IterativeAugmentation):
            raise TypeError("`attribution_method` must not itself be an IterativeAugmentation")
        forward = forward_func if forward_func is not None else attribution_method.forward_func
        if not callable(forward):
            raise TypeError("`forward_func` must be callable")
        Attribution.__init__(self, forward)
        self.attribution_method = attribution_method
        self._passes_target = accepts_target(attribution_method)
        self.threshold = check_finite_number(threshold, "threshold")
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.alpha = check_finite_number(alpha, "alpha")
        if self.alpha <= 0:
            raise ValueError(f"`alpha` must be > 0, got {alpha!r}")
        if inpainter is None:
            inpainter = NavierStokesInpainter(radius=3)
        if not callable(inpainter):
            raise TypeError(f"`inpainter` must be callable, got {type(inpainter).__name__}")
        self.inpainter = inpainter
        self.binarizer = get_binarizer(binarizer)
        self.channel_reduction = get_channel_reduction(channel_reduction)
        self.score_fn: ScoreFn = get_score_fn(score, score_fn)
        self.output_fn = self._check_output_fn(output_fn)
        self.reshape_transform = self._check_reshape_transform(reshape_transform)
        self.explain_normal = bool(explain_normal)
        self.keep_history = bool(keep_history)
        self.internal_batch_size = (
            None
            if internal_batch_size is None
            else check_positive_int(internal_batch_size, "internal_batch_size")
        )
        if reuse_forward not in (True, False, "auto"):
            raise ValueError(
                f"`reuse_forward` must be True, False or 'auto', got {reuse_forward!r}"
            )
        self.reuse_forward = self._resolve_reuse(reuse_forward, forward_func is not None)
        if autocast is not None and autocast not in (torch.bfloat16, torch.float16):
            raise ValueError(
                f"`autocast` must be torch.bfloat16, torch.float16 or None, got {autocast}"
            )
        self.autocast = autocast
        self._warn_guided_without_relu()

    # -- Captum's Attribution interface -------------------------------------------------------

    @property
    def multiplies_by_inputs(self) -> bool:
        return bool(self.attribution_method.multiplies_by_inputs)

    def has_convergence_delta(self) -> bool:
        return False

    @log_usage()
    def attribute(
        self,
        inputs: Tensor | tuple[Tensor],
        target: Any = None,
        additional_forward_args: Any = None,
        valid: Tensor | None = None,
        **kwargs: Any,
    ) -> Tensor | tuple[Tensor]:
        r"""Augmented maps of ``inputs``.

        The first three parameters are those of Captum's ``attribute`` (``inputs, target,
        additional_forward_args``, as in ``Saliency``, ``GuidedBackprop`` or ``LayerGradCam``), so
        that positional calls carry over; everything else is best passed by keyword.

        Args:
            inputs (Tensor or tuple[Tensor]): ``(N, C, H, W)`` float images (or ``(N, C, D, H, W)``
                volumes), as the classifier expects them, or a one-element tuple holding them
                (then the maps come back in a one-element tuple, as in Captum).
            target (int, tuple, Tensor or list, optional): Captum target, passed to the inner
                attribution (sliced per image when it holds one entry per image) unless its
                ``attribute`` takes none, and used for the scores. Default: None.
            additional_forward_args (Any, optional): extra classifier arguments, as in Captum;
                tensors in it are per-image. Default: None.
            valid (Tensor, optional): ``(N, 1, H, W)`` bool field of view: Otsu sees only map
                values inside it, masks are clipped to it, and the inpainter neither uses nor
                changes pixels outside it. Default: None.
            **kwargs: passed to the inner ``attribute`` (``baselines``, ``n_steps``, ...).

        Returns:
            Tensor or tuple[Tensor]: ``(N, 1, H, W)`` augmented maps on ``inputs``' device (in a
            one-element tuple for tuple ``inputs``).
        """
        result = self.explain(inputs, target, additional_forward_args, valid, **kwargs)
        return (result.augmented,) if isinstance(inputs, tuple) else result.augmented

    def explain(
        self,
        inputs: Tensor | tuple[Tensor],
        target: Any = None,
        additional_forward_args: Any = None,
        valid: Tensor | None = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> AugmentationResult:
        r"""Run the loop and return everything it saw.

        Args: as :meth:`attribute`, plus

            show_progress (bool, optional): show a tqdm bar over the iterations. Default: False.

        Returns:
            AugmentationResult: augmented and initial maps ``(N, 1, H, W)``, iterations ``(N,)``,
            per-image scores and stop reasons, the final inpainted images ``(N, C, H, W)``, and with
            ``keep_history`` every map and mask.
        """
        with torch.inference_mode(False):
            # Inference tensors need no clone: the loop works on ``images[index]``, a new tensor.
            images = check_images(_single_input(inputs), "inputs", volumes=True).detach()
            n = images.shape[0]
            if valid is not None:
                valid = check_mask_like(valid, images, "valid")
                empty = ~valid.flatten(1).any(dim=1)
                if bool(empty.any()):
                    raise ValueError(
                        f"`valid` has no pixel for image(s) {empty.nonzero()[:, 0].tolist()}"
                    )
            if kwargs.get("return_convergence_delta"):
                raise ValueError("`return_convergence_delta=True` is not supported by the loop")
            kwargs.pop("return_convergence_delta", None)
            batch = _Batch(n, target, additional_forward_args, kwargs, images)
            self._warn_training_mode()
            step = self.internal_batch_size or n
            parts = []
            with _deduplicated_warnings(), output_hook(self._output_modules(), self.output_fn):
                for start in range(0, n, step):
                    index = torch.arange(start, min(start + step, n), device=images.device)
                    parts.append(self._run(images, index, batch, valid, show_progress))
            return _concatenate(parts)

    # -- the loop ------------------------------------------------------------------------------

    def _run(
        self,
        images: Tensor,
        index: Tensor,
        batch: _Batch,
        valid: Tensor | None,
        show_progress: bool,
    ) -> AugmentationResult:
        """The loop on the images ``index`` of the batch (one chunk)."""
        device = images.device
        x = images[index]
        fov = None if valid is None else valid[index]
        n, spatial = x.shape[0], x.shape[2:]
        map_dtype = torch.promote_types(x.dtype, torch.float32)
        augmented = torch.zeros(n, 1, *spatial, dtype=map_dtype, device=device)
        initial = torch.zeros_like(augmented)
        iterations = torch.zeros(n, dtype=torch.long, device=device)
        # One column per step, appended as the loop goes (max_iter may be large).
        scores = torch.full((n, 1), math.nan, dtype=torch.float64, device=device)
        reason = torch.full((n,), _RUNNING, dtype=torch.long, device=device)
        history: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        active = torch.arange(n, device=device)

        def sel(local: Tensor) -> tuple[Any, Any, dict[str, Any]]:
            return batch.select(index[local])

        y = self._score(x, *sel(active)[:2], first=True)
        self._check_scores(y, index)
        scores[:, 0] = y
        normal = y < self.threshold
        reason[normal] = _NOT_ABNORMAL
        if self.explain_normal and bool(normal.any()):
            idle = active[normal]
            first = self._map(x[idle], *sel(idle))
            initial[idle] = first
            augmented[idle] = first
        active = active[~normal]

        bar = tqdm(total=self.max_iter, desc="iterative augmentation", disable=not show_progress)
        t = 0
        while active.numel() > 0:
            xa = x[active]
            fa = None if fov is None else fov[active]
            target, afa, kwargs = sel(active)
            if self.reuse_forward and t > 0:
                # The score of the inpainted images comes from the attribution's forward pass;
                # images that became normal drop their (unused) map.
                maps, y = self._map_and_score(xa, target, afa, kwargs)
                scores[active, t] = y
                go = y >= self.threshold
                reason[active] = torch.where(go, reason[active], _NORMAL)
            else:
                maps = self._map(xa, target, afa, kwargs)
                go = torch.ones(active.numel(), dtype=torch.bool, device=device)
            masks = self._binarize(maps, fa)
            degenerate = go & self._degenerate(maps, masks, fa)
            good = go & ~degenerate
            reason[active] = torch.where(degenerate, _DEGENERATE, reason[active])
            maps = maps.to(map_dtype)  # binarized in the attribution's own dtype, summed in this
            if t == 0:
                initial[active] = maps
            t += 1
            scores = torch.cat([scores, torch.full_like(scores[:, :1], math.nan)], dim=1)
            weight = math.exp(-self.alpha * t)
            used = good.view(-1, *[1] * (maps.dim() - 1))
            augmented.index_add_(0, active, torch.where(used, maps, 0.0), alpha=weight)
            iterations.index_add_(0, active, good.long())
            masks = masks & used
            if self.keep_history:
                history.append((active, maps, masks, good))
            xa = self.inpainter(xa, masks, fa)
            x[active] = xa
            if not self.reuse_forward or t >= self.max_iter:
                y = self._score(xa, target, afa)
                scores[active, t] = torch.where(good, y.double(), scores[active, t])
                normal = good & (y < self.threshold)
                reason[active] = torch.where(normal, _NORMAL, reason[active])
                good = good & ~normal
            maxed = good & (t >= self.max_iter)
            reason[active] = torch.where(maxed, _MAX_ITER, reason[active])
            active = active[good & ~maxed]
            bar.update(1)
            bar.set_postfix(active=active.numel())
        bar.close()
        return self._result(x, augmented, initial, iterations, scores, reason, history)

    def _result(
        self,
        x: Tensor,
        augmented: Tensor,
        initial: Tensor,
        iterations: Tensor,
        scores: Tensor,
        reason: Tensor,
        history: list[tuple[Tensor, Tensor, Tensor, Tensor]],
    ) -> AugmentationResult:
        counts = iterations.tolist()
        codes = reason.tolist()
        host_scores = scores.cpu()
        score_list = [host_scores[i, : c + 1].clone() for i, c in enumerate(counts)]
        maps_list = masks_list = None
        if self.keep_history:
            per_maps: list[list[Tensor]] = [[] for _ in counts]
            per_masks: list[list[Tensor]] = [[] for _ in counts]
            for active, maps, masks, good in history:
                for row, (i, used) in enumerate(zip(active.tolist(), good.tolist(), strict=True)):
                    if used:
                        per_maps[i].append(maps[row])
                        per_masks[i].append(masks[row])
            empty_map = augmented.new_zeros((0, *augmented.shape[1:]))
            empty_mask = empty_map.bool()
            maps_list = [torch.stack(m) if m else empty_map for m in per_maps]
            masks_list = [torch.stack(m) if m else empty_mask for m in per_masks]
        return AugmentationResult(
            augmented=augmented,
            initial=initial,
            iterations=iterations,
            scores=score_list,
            stop_reason=[STOP_REASONS[c] for c in codes],
            inpainted=x,
            threshold=self.threshold,
            alpha=self.alpha,
            maps=maps_list,
            masks=masks_list,
        )

    # -- one step's pieces -------------------------------------------------------------------

    @contextmanager
    def _autocast(self, device: torch.device) -> Iterator[None]:
        if self.autocast is None:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=self.autocast):
                yield

    def _map(self, x: Tensor, target: Any, afa: Any, kwargs: dict[str, Any]) -> Tensor:
        call_kwargs = dict(kwargs)
        if afa is not None:
            call_kwargs["additional_forward_args"] = afa
        if self._passes_target:
            call_kwargs["target"] = target
        if isinstance(self.attribution_method, GradientAttribution):
            # Our own copy: Captum would otherwise warn on every call that it set requires_grad.
            x = x.detach().requires_grad_()
        with self._autocast(x.device):
            attribution = self.attribution_method.attribute(x, **call_kwargs)
        # at least float32 (reduce_attribution promotes half-precision maps)
        maps = reduce_attribution(
            attribution,
            tuple(x.shape[2:]),
            self.channel_reduction,
            reshape_transform=self.reshape_transform,
        )
        return maps.detach()

    def _map_and_score(
        self, x: Tensor, target: Any, afa: Any, kwargs: dict[str, Any]
    ) -> tuple[Tensor, Tensor]:
        """Attribution maps and the scores of the same forward pass (``reuse_forward``)."""
        model = self.forward_func
        assert isinstance(model, nn.Module)
        captured: list[Tensor] = []

        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            if not captured and isinstance(output, Tensor) and output.shape[:1] == x.shape[:1]:
                captured.append(output.detach())

        handle = model.register_forward_hook(hook)
        try:
            maps = self._map(x, target, afa, kwargs)
        finally:
            handle.remove()
        if not captured:
            return maps, self._score(x, target, afa)
        return maps, self._scores_of(captured[0], target, x.shape[0])

    def _score(self, x: Tensor, target: Any, afa: Any, first: bool = False) -> Tensor:
        args = () if afa is None else afa
        with torch.no_grad(), self._autocast(x.device):
            output = self.forward_func(x, *args)
        if first and not isinstance(output, Tensor) and not self._scores_any_output:
            raise TypeError(
                f"the model returned {type(output).__name__}, not a tensor, and Captum needs a "
                "tensor from the forward pass: pass `output_fn=` to take it from the output, e.g. "
                "`output_fn=lambda out: out.logits` (`score_fn=` alone only changes the scores)"
            )
        if first and isinstance(output, Tensor) and output.dim() == 2:
            check_target_range(target, output.shape[1])
        return self._scores_of(output, target, x.shape[0])

    def _scores_of(self, output: Any, target: Any, k: int) -> Tensor:
        """``(k,)`` float64 scores of a model output through ``score_fn`` (shape checked)."""
        scores = self.score_fn(output.float() if isinstance(output, Tensor) else output, target)
        if not isinstance(scores, Tensor) or scores.shape != (k,):
            raise ValueError(
                f"`score_fn` must return one score per image, shape ({k},), got "
                f"{getattr(scores, 'shape', type(scores))}"
            )
        return scores.double()

    def _binarize(self, maps: Tensor, valid: Tensor | None) -> Tensor:
        masks = self.binarizer(maps, valid)
        if not isinstance(masks, Tensor) or masks.dtype != torch.bool or masks.shape != maps.shape:
            raise ValueError(
                f"`binarizer` must return a bool tensor of shape {tuple(maps.shape)}, got "
                f"{getattr(masks, 'dtype', type(masks))} {tuple(getattr(masks, 'shape', ()))}"
            )
        return masks if valid is None else masks & valid

    @staticmethod
    def _degenerate(maps: Tensor, masks: Tensor, valid: Tensor | None) -> Tensor:
        """``(k,)`` bool: non-finite or constant maps (inside ``valid``), or empty masks."""
        finite = torch.isfinite(maps).flatten(1).all(dim=1)
        lo, hi = map_range(maps, valid)
        return ~finite | (hi <= lo) | ~masks.flatten(1).any(dim=1)

    @staticmethod
    def _check_scores(y: Tensor, index: Tensor) -> None:
        bad = ~torch.isfinite(y)
        if bool(bad.any()):
            raise ValueError(
                f"the classifier returned non-finite scores for image(s) {index[bad].tolist()}"
            )

    # -- construction helpers ----------------------------------------------------------------

    @property
    def _scores_any_output(self) -> bool:
        """A plain-callable explainer with a custom ``score_fn`` may take non-tensor outputs."""
        return isinstance(self.attribution_method, CallableAttribution) and (
            self.score_fn not in SCORES.values()
        )

    def _output_modules(self) -> list[nn.Module]:
        """The modules whose output ``output_fn`` replaces: the classifier and the explainer's."""
        forwards = (self.forward_func, self.attribution_method.forward_func)
        return [f for f in forwards if isinstance(f, nn.Module)]

    def _check_output_fn(self, output_fn: OutputFn | None) -> OutputFn | None:
        if output_fn is None:
            return None
        if not callable(output_fn):
            raise TypeError(f"`output_fn` must be callable, got {type(output_fn).__name__}")
        if not isinstance(self.forward_func, nn.Module):
            raise TypeError(
                "`output_fn` is applied through a forward hook and needs an nn.Module classifier; "
                "a plain forward function can return the tensor itself"
            )
        return output_fn

    def _check_reshape_transform(
        self, reshape_transform: ReshapeTransform | None
    ) -> ReshapeTransform | None:
        if reshape_transform is None:
            return None
        if not callable(reshape_transform):
            raise TypeError(
                f"`reshape_transform` must be callable, got {type(reshape_transform).__name__}"
            )
        if isinstance(self.attribution_method, LayerGradCam | GuidedGradCam):
            name = type(self.attribution_method).__name__
            raise ValueError(
                f"`reshape_transform` cannot be used with {name}: it averages the layer's "
                "gradients over every dimension after the first before returning, which on a "
                "token layer (N, T, D) is the embedding, not space. Use LayerGradientXActivation "
                "or LayerActivation on the token layer, or pytorch-grad-cam's GradCAM with its own "
                "reshape_transform through captum_iterative.integrations.gradcam.CAMAttribution"
            )
        return reshape_transform

    def _resolve_reuse(self, reuse: bool | str, explicit_forward: bool) -> bool:
        if not isinstance(self.forward_func, nn.Module):
            if reuse is True:
                raise ValueError("`reuse_forward=True` needs an nn.Module classifier")
            return False
        if reuse == "auto":
            same_model = not explicit_forward or self.forward_func is getattr(
                self.attribution_method, "forward_func", None
            )
            return same_model and type(self.attribution_method) in _REUSABLE_FORWARD
        return bool(reuse)

    def _warn_guided_without_relu(self) -> None:
        if not isinstance(self.attribution_method, _GUIDED):
            return
        model = _model_of(self.attribution_method)
        if model is not None and not any(isinstance(m, nn.ReLU) for m in model.modules()):
            warnings.warn(
                f"{type(self.attribution_method).__name__}: the model has no nn.ReLU module, so "
                "guided backpropagation equals the plain gradient here (Captum only hooks "
                "nn.ReLU; SiLU, GELU, ReLU6 and functional ReLUs are left unchanged)",
                UserWarning,
                stacklevel=3,
            )

    def _warn_training_mode(self) -> None:
        model = self.forward_func
        if isinstance(model, nn.Module) and model.training:
            warnings.warn(
                "the classifier is in training mode: dropout and batch norm make its scores vary "
                "between iterations; call model.eval() first (Captum and this wrapper never do)",
                UserWarning,
                stacklevel=4,
            )


def _concatenate(parts: Sequence[AugmentationResult]) -> AugmentationResult:
    if len(parts) == 1:
        return parts[0]
    history = parts[0].maps is not None

    def cat(name: str) -> Tensor:
        return torch.cat([getattr(p, name) for p in parts])

    return AugmentationResult(
        augmented=cat("augmented"),
        initial=cat("initial"),
        iterations=cat("iterations"),
        scores=[s for p in parts for s in p.scores],
        stop_reason=[r for p in parts for r in p.stop_reason],
        inpainted=cat("inpainted"),
        threshold=parts[0].threshold,
        alpha=parts[0].alpha,
        maps=[m for p in parts for m in p.maps or []] if history else None,
        masks=[m for p in parts for m in p.masks or []] if history else None,
    )
