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
from collections.abc import Callable
from typing import Any, Literal

import torch
from captum.attr import Attribution, GradientAttribution
from captum.log import log_usage
from torch import Tensor, nn
from tqdm.auto import tqdm

from captum_iterative._batch import BatchArguments, single_input
from captum_iterative._checks import (
    check_alpha,
    check_autocast,
    check_finite_number,
    check_images,
    check_positive_int,
    check_valid,
)
from captum_iterative._loop_state import LoopState
from captum_iterative._warnings import deduplicated_warnings as _deduplicated_warnings
from captum_iterative.attribution import (
    AttributionFn,
    accepts_target,
    as_attribution,
    check_reshape_transform,
    loop_scorer,
    loop_target,
    resolve_reuse_forward,
    warn_guided_without_relu,
)
from captum_iterative.binarize import apply_binarizer, degenerate_maps, get_binarizer
from captum_iterative.inpaint import Inpainter, NavierStokesInpainter
from captum_iterative.outputs import (
    OutputFn,
    ScoreFn,
    Scorer,
    capture_output,
    check_output_fn,
    check_threshold,
    maybe_autocast,
    output_hook,
    resolve_score_fn,
)
from captum_iterative.reduce import (
    ChannelReduction,
    ReshapeTransform,
    get_channel_reduction,
    reduce_attribution,
    unit_maximum,
)
from captum_iterative.result import (
    AugmentationResult,
    StopReason,
    concatenate_results,
    end_codes,
    warn_stops,
)

__all__ = ["IterativeAugmentation"]


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
    ``"not_abnormal"`` (``explain_normal=True`` gives them their plain first map instead), and an
    inpainted image scored NaN gets ``"nan_score"``; a call warns once about each of these.

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
            is ``>= threshold``; in ``[0, 1]`` for ``score="sigmoid"`` or ``"softmax"``.
        inpainter (Inpainter or callable, optional): ``(images, masks, valid) -> images``.
            Default: ``NavierStokesInpainter(radius=3)``.
        max_iter (int, optional): the most maps computed per image (``T``). Default: 20.
        alpha (float, optional): decay of the map weights ``exp(-alpha * t)``, ``t = 1, 2, ...``,
            in ``(0, 87.3]``: beyond, ``exp(-alpha)`` underflows the float32 maps, which would
            all be zero whatever the images, so it is refused, not warned about. Default: 0.6.
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
        score (str, optional): a score preset of :func:`~captum_iterative.outputs.list_scores`:
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
        normalize_maps (bool, optional): divide each map by the maximum of its magnitude (in the
            field of view, when given) before it enters the sum, so that every step weighs by
            ``exp(-alpha t)`` alone; ``initial`` stays the raw :math:`M^1`. The paper sums raw
            maps, whose magnitude falls as the score falls (docs/results.md, section 11,
            reports both on the synthetic default). Default: False.
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
        >>> from captum_iterative import PyramidInpainter as Pyramid
        >>> _ = torch.manual_seed(0)
        >>> layers = [nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten()]
        >>> model = nn.Sequential(*layers).eval()
        >>> images = torch.rand(2, 3, 32, 32)
        >>> explainer = IterativeAugmentation(GuidedBackprop(model), -1e9, inpainter=Pyramid())
        >>> explainer.attribute(images, target=0).shape      # (N, 1, H, W) augmented maps
        torch.Size([2, 1, 32, 32])
        >>> result = explainer.explain(images, target=0)      # AugmentationResult
        >>> [len(s) == int(t) + 1 for s, t in zip(result.scores, result.iterations)]
        [True, True]
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
        normalize_maps: bool = False,
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
        self.threshold = check_threshold(check_finite_number(threshold, "threshold"), score)
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.alpha = check_alpha(alpha)
        if inpainter is None:
            inpainter = NavierStokesInpainter(radius=3)
        if not callable(inpainter):
            raise TypeError(f"`inpainter` must be callable, got {type(inpainter).__name__}")
        self.inpainter = inpainter
        self.binarizer = get_binarizer(binarizer)
        self.channel_reduction = get_channel_reduction(channel_reduction)
        self.score_fn: ScoreFn = resolve_score_fn(score, score_fn)
        self.output_fn = check_output_fn(output_fn, self.forward_func)
        self.reshape_transform = check_reshape_transform(attribution_method, reshape_transform)
        self.explain_normal = bool(explain_normal)
        self.normalize_maps = bool(normalize_maps)
        self.keep_history = bool(keep_history)
        self.internal_batch_size = (
            None
            if internal_batch_size is None
            else check_positive_int(internal_batch_size, "internal_batch_size")
        )
        self.reuse_forward = resolve_reuse_forward(
            reuse_forward, attribution_method, self.forward_func, forward_func is not None
        )
        self.autocast = check_autocast(autocast)
        warn_guided_without_relu(attribution_method)

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
            valid (Tensor, optional): ``(N, 1, H, W)`` bool field of view (``(N, 1, D, H, W)``
                for volumes), True on the pixels that belong to the image (a retina's disc, a
                scan's body): Otsu sees only map values inside it, masks are clipped to it, and
                the inpainter neither uses nor changes pixels outside it. Default: None (every
                pixel).
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
            images = check_images(single_input(inputs), "inputs", volumes=True).detach()
            n = images.shape[0]
            valid = check_valid(valid, images)
            if kwargs.pop("return_convergence_delta", None):
                raise ValueError("`return_convergence_delta=True` is not supported by the loop")
            with output_hook(self._forwards(), self.output_fn):
                target = loop_target(
                    self.attribution_method, target, images, additional_forward_args
                )
            batch = BatchArguments(n, target, additional_forward_args, kwargs, images)
            # Built per call, so that changes to score_fn or autocast after construction count.
            scorer = loop_scorer(
                self.attribution_method, self.forward_func, self.score_fn, self.autocast
            )
            step = self.internal_batch_size or n
            parts = []
            with _deduplicated_warnings(), output_hook(self._forwards(), self.output_fn):
                for start in range(0, n, step):
                    index = torch.arange(start, min(start + step, n), device=images.device)
                    state = LoopState.start(images, index, valid)
                    parts.append(self._run(state, batch, scorer, show_progress=show_progress))
            result = concatenate_results(parts)
            warn_stops(result, self.explain_normal, stacklevel=2)
            return result

    # -- the loop ------------------------------------------------------------------------------

    def _run(
        self, state: LoopState, batch: BatchArguments, scorer: Scorer, *, show_progress: bool
    ) -> AugmentationResult:
        """The loop on the images ``state.index`` of the batch (one chunk)."""
        self._first_scores(state, batch, scorer)
        bar = tqdm(total=self.max_iter, desc="iterative augmentation", disable=not show_progress)
        while state.active.numel() > 0:
            self._step(state, batch, scorer)
            bar.update(1)
            bar.set_postfix(active=state.active.numel())
        bar.close()
        return state.result(
            threshold=self.threshold, alpha=self.alpha, keep_history=self.keep_history
        )

    def _first_scores(self, state: LoopState, batch: BatchArguments, scorer: Scorer) -> None:
        """Score the unchanged images; those predicted normal leave the loop at once."""
        index, active = state.index, state.active
        first_scores = scorer(state.current, *batch.select(index[active])[:2], first=True)
        scorer.check_finite(first_scores, index)
        state.scores[:, 0] = first_scores
        normal = first_scores < self.threshold
        state.reason[normal] = StopReason.NOT_ABNORMAL.code
        if self.explain_normal and bool(normal.any()):
            idle = active[normal]
            target, extra_args, kwargs = batch.select(index[idle])
            first_maps = self._map(state.current[idle], target, extra_args, kwargs=kwargs)
            state.initial[idle] = first_maps
            state.augmented[idle] = first_maps
        state.active = active[~normal]

    def _step(self, state: LoopState, batch: BatchArguments, scorer: Scorer) -> None:
        """One iteration on the images still active: map, binarize, sum, inpaint, re-score."""
        active, t = state.active, state.t
        images_now = state.current[active]
        fov_now = None if state.fov is None else state.fov[active]
        target, extra_args, kwargs = batch.select(state.index[active])
        if self.reuse_forward and t > 0:
            # The score of the inpainted images comes from the attribution's forward pass;
            # images that became normal drop their (unused) map.
            maps, scores_now = self._map_and_score(
                images_now, target, extra_args, kwargs=kwargs, scorer=scorer
            )
            state.scores[active, t] = scores_now
            still_abnormal = scores_now >= self.threshold  # False for NaN
            state.reason[active] = torch.where(
                still_abnormal, state.reason[active], end_codes(scores_now)
            )
        else:
            maps = self._map(images_now, target, extra_args, kwargs=kwargs)
            still_abnormal = torch.ones(active.numel(), dtype=torch.bool, device=active.device)
        masks = apply_binarizer(self.binarizer, maps, fov_now)
        degenerate = still_abnormal & degenerate_maps(maps, masks, fov_now)
        summed = still_abnormal & ~degenerate  # these maps enter the augmented sum
        reason = state.reason
        reason[active] = torch.where(degenerate, StopReason.DEGENERATE_MAP.code, reason[active])
        maps = maps.to(state.map_dtype)  # binarized in the attribution's own dtype, summed in this
        if t == 0:
            state.initial[active] = maps
        t = state.t = t + 1
        state.scores = torch.cat([state.scores, torch.full_like(state.scores[:, :1], math.nan)], 1)
        weight = math.exp(-self.alpha * t)
        summed_pixels = summed.view(-1, *[1] * (maps.dim() - 1))
        term = unit_maximum(maps, fov_now) if self.normalize_maps else maps
        state.augmented.index_add_(0, active, torch.where(summed_pixels, term, 0.0), alpha=weight)
        state.iterations.index_add_(0, active, summed.long())
        masks = masks & summed_pixels
        if self.keep_history:
            state.history.append((active, maps, masks, summed))
        images_now = self.inpainter(images_now, masks, fov_now)
        state.current[active] = images_now
        continuing = summed
        if not self.reuse_forward or t >= self.max_iter:
            scores_now = scorer(images_now, target, extra_args)
            scores = state.scores
            scores[active, t] = torch.where(summed, scores_now.double(), scores[active, t])
            ended = summed & ~(scores_now >= self.threshold)  # below it, or NaN
            reason[active] = torch.where(ended, end_codes(scores_now), reason[active])
            continuing = summed & ~ended
        maxed = continuing & (t >= self.max_iter)
        reason[active] = torch.where(maxed, StopReason.MAX_ITER.code, reason[active])
        state.active = active[continuing & ~maxed]

    # -- one step's pieces -------------------------------------------------------------------

    def _map(self, x: Tensor, target: Any, extra_args: Any, *, kwargs: dict[str, Any]) -> Tensor:
        call_kwargs = dict(kwargs)
        if extra_args is not None:
            call_kwargs["additional_forward_args"] = extra_args
        if self._passes_target:
            call_kwargs["target"] = target
        if isinstance(self.attribution_method, GradientAttribution):
            # Our own copy: Captum would otherwise warn on every call that it set requires_grad.
            x = x.detach().requires_grad_()
        with maybe_autocast(x.device, self.autocast):
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
        self, x: Tensor, target: Any, extra_args: Any, *, kwargs: dict[str, Any], scorer: Scorer
    ) -> tuple[Tensor, Tensor]:
        """Attribution maps and the scores of the same forward pass (``reuse_forward``)."""
        model = self.forward_func
        assert isinstance(model, nn.Module)
        with capture_output(model, x.shape[0]) as captured:
            maps = self._map(x, target, extra_args, kwargs=kwargs)
        if not captured:
            return maps, scorer(x, target, extra_args)
        return maps, scorer.of_output(captured[0], target, x.shape[0])

    def _forwards(self) -> tuple[Any, Any]:
        """The forward functions whose output ``output_fn`` replaces (the modules among them)."""
        return (self.forward_func, self.attribution_method.forward_func)
