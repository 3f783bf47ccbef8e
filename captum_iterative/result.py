r"""What the loop returns: :class:`AugmentationResult`, and how it is put together.

The loop keeps its state on the device as tensors (maps, iteration counts, a score per step,
stop-reason codes); :func:`collect_result` turns that state into an :class:`AugmentationResult`
at the end of a chunk, and :func:`concatenate_results` joins the chunks of
``internal_batch_size``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["STOP_REASONS", "AugmentationResult", "AugmentationWarning"]

#: Why an image left the loop, indexed by the integer codes used on the device (new reasons are
#: appended, so that the codes of the others stay).
STOP_REASONS: tuple[str, ...] = (
    "running",
    "normal",
    "max_iter",
    "degenerate_map",
    "not_abnormal",
    "nan_score",
)

#: One iteration's record kept with ``keep_history``: the images still iterating (indices into the
#: chunk), their maps, their inpainted masks, and which of them entered the augmented sum.
HistoryStep = tuple[Tensor, Tensor, Tensor, Tensor]


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
            ended the loop before inpainting), ``"not_abnormal"`` (predicted normal at the start)
            or ``"nan_score"`` (the classifier scored an inpainted image NaN; the maps before
            that step are kept, and the NaN is the last score).
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


class AugmentationWarning(UserWarning):
    """Some images of a call got no augmentation: all-zero maps, or a loop cut short by a NaN
    score. Issued at most twice per call of ``attribute``/``explain`` (once for the images not
    explained, once for NaN scores), naming how many images, why, and what to do."""


#: Why an image got no map in its augmented sum.
_UNAUGMENTED: dict[str, str] = {
    "not_abnormal": "scored below `threshold` at the start",
    "degenerate_map": "first map constant, not finite or with an empty Otsu mask",
}


def warn_stops(result: AugmentationResult, explain_normal: bool, stacklevel: int) -> None:
    """Warn (:class:`AugmentationWarning`) about the images of ``result`` that got no map in
    their augmented sum, and about those stopped by a NaN score; nothing when there are none.

    Reads only host data (stop reasons and score lists), so it adds no device synchronisation.

    Args:
        result (AugmentationResult): one call's result.
        explain_normal (bool): whether images predicted normal got their plain first map.
        stacklevel (int): of :func:`warnings.warn`, counted from this function's caller.
    """
    n = len(result.stop_reason)
    unaugmented = Counter(
        reason
        for reason, scores in zip(result.stop_reason, result.scores, strict=True)
        if reason in _UNAUGMENTED and len(scores) == 1
    )
    if unaugmented:
        maps = {
            "not_abnormal": "their plain first map" if explain_normal else "all-zero maps",
            "degenerate_map": "all-zero augmented maps",
        }
        why = "; ".join(
            f"{count} {reason}: {_UNAUGMENTED[reason]} ({maps[reason]})"
            for reason, count in sorted(unaugmented.items())
        )
        advice = "check `threshold` against the classifier's scores (result.initial_score)"
        if not explain_normal and "not_abnormal" in unaugmented:
            advice = "pass explain_normal=True for a plain first map, or " + advice
        warnings.warn(
            f"{sum(unaugmented.values())} of {n} image(s) got no augmented map: {why}; {advice}",
            AugmentationWarning,
            stacklevel=stacklevel + 1,
        )
    stopped = result.stop_reason.count("nan_score")
    if stopped:
        warnings.warn(
            f"the classifier scored {stopped} of {n} inpainted image(s) NaN (stop reason "
            "nan_score): their augmented maps hold the maps before that step; check the "
            "inpainter's output and the classifier's numerics (e.g. under `autocast`)",
            AugmentationWarning,
            stacklevel=stacklevel + 1,
        )


def collect_result(
    inpainted: Tensor,
    augmented: Tensor,
    initial: Tensor,
    iterations: Tensor,
    scores: Tensor,
    reason: Tensor,
    history: Sequence[HistoryStep] | None,
    threshold: float,
    alpha: float,
) -> AugmentationResult:
    """The :class:`AugmentationResult` of one chunk from the loop's device state.

    Args:
        inpainted (Tensor): ``(N, C, H, W)`` the images after their last inpainting step.
        augmented (Tensor): ``(N, 1, H, W)`` augmented maps.
        initial (Tensor): ``(N, 1, H, W)`` first maps.
        iterations (Tensor): ``(N,)`` int64 maps per image.
        scores (Tensor): ``(N, T + 1)`` float64 score per step (NaN past an image's end).
        reason (Tensor): ``(N,)`` int64 codes into :data:`STOP_REASONS`.
        history (sequence of HistoryStep, optional): the steps kept with ``keep_history``;
            None without it.
        threshold (float): the prediction threshold.
        alpha (float): the decay of the map weights.

    Returns:
        AugmentationResult
    """
    counts = iterations.tolist()
    codes = reason.tolist()
    host_scores = scores.cpu()
    score_list = [host_scores[i, : c + 1].clone() for i, c in enumerate(counts)]
    maps_list = masks_list = None
    if history is not None:
        per_maps: list[list[Tensor]] = [[] for _ in counts]
        per_masks: list[list[Tensor]] = [[] for _ in counts]
        for active, maps, masks, used_now in history:
            for row, (i, used) in enumerate(zip(active.tolist(), used_now.tolist(), strict=True)):
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
        inpainted=inpainted,
        threshold=threshold,
        alpha=alpha,
        maps=maps_list,
        masks=masks_list,
    )


def concatenate_results(parts: Sequence[AugmentationResult]) -> AugmentationResult:
    """One result from the results of consecutive chunks of a batch, in order."""
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
