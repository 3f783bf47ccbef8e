"""The loop's state for one chunk of a batch, kept on the images' device (private).

:class:`LoopState` holds what :meth:`IterativeAugmentation._run
<captum_iterative.augmentation.IterativeAugmentation>` changes from one step to the next: the
inpainted images, the augmented and first maps, the iteration counts, a score per step, the
stop-reason codes and the images still iterating. :meth:`LoopState.result` turns it into an
:class:`~captum_iterative.result.AugmentationResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from captum_iterative.result import AugmentationResult, HistoryStep, StopReason, collect_result

__all__ = ["LoopState"]


@dataclass
class LoopState:
    """The loop's state on ``n`` images of a chunk, all tensors on the images' device.

    Attributes:
        index (Tensor): ``(n,)`` int64 positions of the chunk's images in the batch.
        current (Tensor): ``(n, C, H, W)`` :math:`I^t` of every image, inpainted in place.
        fov (Tensor, optional): ``(n, 1, H, W)`` bool fields of view, or None.
        augmented (Tensor): ``(n, 1, H, W)`` the weighted sum of the maps so far, in the maps'
            dtype (at least float32).
        initial (Tensor): ``(n, 1, H, W)`` first maps.
        iterations (Tensor): ``(n,)`` int64 maps summed per image.
        scores (Tensor): ``(n, t + 1)`` float64 score per step, NaN where not scored; one
            column is appended per step (``max_iter`` may be large).
        reason (Tensor): ``(n,)`` int64 :attr:`StopReason.code` per image.
        active (Tensor): ``(k,)`` int64 the images still iterating (indices into the chunk).
        history (list of HistoryStep): every step's record, kept with ``keep_history``.
        t (int): steps taken.
    """

    index: Tensor
    current: Tensor
    fov: Tensor | None
    augmented: Tensor
    initial: Tensor
    iterations: Tensor
    scores: Tensor
    reason: Tensor
    active: Tensor
    history: list[HistoryStep] = field(default_factory=list)
    t: int = 0

    @classmethod
    def start(cls, images: Tensor, index: Tensor, valid: Tensor | None) -> LoopState:
        """The state before the first score of the images ``index`` of ``images``.

        Args:
            images (Tensor): ``(N, C, H, W)`` (or ``(N, C, D, H, W)``) the batch.
            index (Tensor): ``(n,)`` int64 the chunk's positions in it.
            valid (Tensor, optional): ``(N, 1, H, W)`` bool fields of view of the batch.
        """
        device = images.device
        current = images[index]
        n, spatial = current.shape[0], current.shape[2:]
        map_dtype = torch.promote_types(current.dtype, torch.float32)
        augmented = torch.zeros(n, 1, *spatial, dtype=map_dtype, device=device)
        return cls(
            index=index,
            current=current,
            fov=None if valid is None else valid[index],
            augmented=augmented,
            initial=torch.zeros_like(augmented),
            iterations=torch.zeros(n, dtype=torch.long, device=device),
            scores=torch.full((n, 1), math.nan, dtype=torch.float64, device=device),
            reason=torch.full((n,), StopReason.RUNNING.code, dtype=torch.long, device=device),
            active=torch.arange(n, device=device),
        )

    @property
    def map_dtype(self) -> torch.dtype:
        """The dtype in which maps are summed: the images' own, at least float32."""
        return self.augmented.dtype

    def result(self, *, threshold: float, alpha: float, keep_history: bool) -> AugmentationResult:
        """The chunk's :class:`AugmentationResult` (:func:`collect_result`)."""
        return collect_result(
            inpainted=self.current,
            augmented=self.augmented,
            initial=self.initial,
            iterations=self.iterations,
            scores=self.scores,
            reason=self.reason,
            history=self.history if keep_history else None,
            threshold=threshold,
            alpha=alpha,
        )
