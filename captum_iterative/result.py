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
from dataclasses import dataclass, fields, replace
from enum import Enum
from numbers import Integral
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["AugmentationResult", "AugmentationWarning", "StopReason"]


class StopReason(str, Enum):
    """Why an image left the loop: one entry of :attr:`AugmentationResult.stop_reason`.

    A member is its value, a plain string: ``StopReason.NORMAL == "normal"``, and ``str()``,
    f-strings, JSON, CSV and ``.npz`` files all give ``"normal"``.

    On the device the loop keeps the reasons as integer codes: :attr:`code` and :meth:`from_code`
    translate, by the order of the members below (new reasons are appended, so that the codes of
    the others stay).
    """

    #: Still iterating (the loop's state before an image ends; never in a returned result).
    RUNNING = "running"
    #: The score fell below the threshold.
    NORMAL = "normal"
    #: ``max_iter`` maps were computed.
    MAX_ITER = "max_iter"
    #: A constant or non-finite map, or an empty mask, ended the loop before inpainting.
    DEGENERATE_MAP = "degenerate_map"
    #: Predicted normal at the start.
    NOT_ABNORMAL = "not_abnormal"
    #: The classifier scored an inpainted image NaN.
    NAN_SCORE = "nan_score"

    def __str__(self) -> str:
        return str(self.value)

    @property
    def code(self) -> int:
        """The integer code of this reason in the loop's device tensors."""
        return _CODES.index(self)

    @classmethod
    def from_code(cls, code: int) -> StopReason:
        """The reason of an integer code of the loop's device tensors."""
        return _CODES[code]


#: Every reason, at the index of its integer code.
_CODES: tuple[StopReason, ...] = tuple(StopReason)

#: Per-image entries shown by ``repr`` before it elides the rest.
_REPR_ENTRIES = 8

#: One iteration's record kept with ``keep_history``: the images still iterating (indices into the
#: chunk), their maps, their inpainted masks, and which of them entered the augmented sum.
HistoryStep = tuple[Tensor, Tensor, Tensor, Tensor]


@dataclass(repr=False)
class AugmentationResult:
    r"""Everything the loop saw, for ``N`` images of shape ``(C, H, W)``.

    ``result[i]``, ``result[2:5]``, ``result[[0, 3]]`` or ``result[mask]`` give the result of those
    images; :meth:`to` / :meth:`cpu` move it; :meth:`summary` tabulates it; its ``repr`` shows
    shapes, iterations and stop reasons, not the tensors.

    Attributes:
        augmented (Tensor): ``(N, 1, H, W)`` augmented maps :math:`\sum_t e^{-\alpha t} M^t`
            (all zero for images predicted normal at the start, unless ``explain_normal``).
        initial (Tensor): ``(N, 1, H, W)`` the first map :math:`M^1` (zero where the image was
            predicted normal at the start, unless ``explain_normal``).
        iterations (Tensor): ``(N,)`` int64, maps that entered the augmented sum (= inpainting
            steps); never more than ``max_iter``.
        scores (list[Tensor]): per image, a 1-D float64 tensor: the score of the input, then the
            score after each inpainting step (length ``iterations + 1``).
        stop_reason (list[StopReason]): per image, a :class:`StopReason`, equal to its string:
            ``"normal"`` (score fell below the threshold),
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
    stop_reason: list[StopReason]
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

    def __getitem__(self, index: int | slice | Sequence[int] | Tensor) -> AugmentationResult:
        """The result of the images ``index``: every per-image field indexed alike.

        Args:
            index (int, slice, sequence of int or Tensor): an image (negative counts from the end;
                the result then holds that one image, so that its tensors keep their batch
                dimension: ``result[0].augmented`` is ``(1, 1, H, W)``), a slice, a list of image
                indices, a 1-D integer tensor or array of them, or a ``(N,)`` bool mask.

        Returns:
            AugmentationResult: for ``len(selected)`` images, in the order of ``index``.

        Raises:
            IndexError: an index outside ``[-N, N)``, or a bool mask of another length.
            TypeError: ``index`` of another type.
        """
        rows = self._rows(index)
        picked: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Tensor):
                picked[field.name] = value[
                    torch.tensor(rows, dtype=torch.long, device=value.device)
                ]
            elif isinstance(value, list):
                picked[field.name] = [value[i] for i in rows]
        return replace(self, **picked)

    def _rows(self, index: object) -> list[int]:
        """``index`` of :meth:`__getitem__` as a list of image indices in ``[0, N)``."""
        n = len(self)
        if isinstance(index, slice):
            return list(range(n))[index]
        valid = isinstance(index, Integral | Sequence | Tensor | np.ndarray)
        if isinstance(index, bool | str) or not valid:
            raise TypeError(
                "`index` must be an int, a slice, a sequence of ints, an integer tensor or a bool "
                f"mask, got {type(index).__name__}"
            )
        keys = torch.as_tensor(index)
        if keys.dtype == torch.bool:
            if keys.shape != (n,):
                raise IndexError(f"a bool `index` must have shape ({n},), got {tuple(keys.shape)}")
            return keys.nonzero()[:, 0].tolist()
        if keys.dim() > 1 or (keys.numel() and (keys.is_floating_point() or keys.is_complex())):
            raise TypeError(f"`index` must hold integer image indices, got {index!r}")
        rows = keys.reshape(-1).long().tolist()
        outside = [i for i in rows if not -n <= i < n]
        if outside:
            raise IndexError(f"`index` {outside} out of range for a result of {n} images")
        return [i % n for i in rows]

    def to(self, device: torch.device | str) -> AugmentationResult:
        """A copy with every tensor on ``device`` (dtypes unchanged).

        Args:
            device (torch.device or str): e.g. ``"cpu"`` or ``"cuda:0"``.

        Returns:
            AugmentationResult: a new result; tensors already on ``device`` are shared, not copied.
        """
        device = torch.device(device)
        moved: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Tensor):
                moved[field.name] = value.to(device)
            elif isinstance(value, list):
                moved[field.name] = [v.to(device) if isinstance(v, Tensor) else v for v in value]
        return replace(self, **moved)

    def cpu(self) -> AugmentationResult:
        """A copy with every tensor on the CPU (``to("cpu")``)."""
        return self.to("cpu")

    def stop_reason_counts(self) -> dict[StopReason, int]:
        """How many images stopped for each reason, in the order of :class:`StopReason`."""
        counts = Counter(self.stop_reason)
        return {reason: counts[reason] for reason in StopReason if counts[reason]}

    def summary(self) -> str:
        """A small table: per image its iterations, stop reason, first and last score.

        Scores are printed with four significant digits; the last line counts the stop reasons.

        Returns:
            str: one header line, ``N`` rows and the counts, e.g.::

                image  iterations  stop reason   first score  last score
                    0           2  normal             0.8421      0.2764
                    1           0  not_abnormal       0.1133      0.1133
                stop reasons: normal 1, not_abnormal 1 (2 images, threshold 0.3)
        """
        header = ("image", "iterations", "stop reason", "first score", "last score")
        rows = [
            (str(i), str(int(t)), reason, f"{float(s[0]):.4g}", f"{float(s[-1]):.4g}")
            for i, (t, reason, s) in enumerate(
                zip(self.iterations.tolist(), self.stop_reason, self.scores, strict=True)
            )
        ]
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
        left = {2}  # the stop reason is text: left-aligned
        lines = [
            "  ".join(
                cell.ljust(w) if c in left else cell.rjust(w)
                for c, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in [header, *rows]
        ]
        counts = ", ".join(f"{r} {k}" for r, k in self.stop_reason_counts().items())
        lines.append(
            f"stop reasons: {counts or 'none'} ({len(self)} images, threshold {self.threshold:.4g})"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        maps = self.augmented
        history = "kept" if self.maps is not None else "not kept"
        n = len(self)
        return (
            f"AugmentationResult({n} image{'' if n == 1 else 's'} "
            f"{tuple(self.inpainted.shape[1:])}, maps {tuple(maps.shape)} {_dtype(maps)} on "
            f"{maps.device}, iterations={_elided(self.iterations.tolist())}, "
            f"stop_reason={_elided([str(r) for r in self.stop_reason])}, "
            f"threshold={self.threshold:.4g}, "
            f"alpha={self.alpha:.4g}, history {history})"
        )


def _dtype(tensor: Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _elided(values: list[Any]) -> str:
    """``values`` as a list, the middle elided beyond :data:`_REPR_ENTRIES` entries."""
    if len(values) <= _REPR_ENTRIES:
        return repr(values)
    half = _REPR_ENTRIES // 2
    shown = [repr(v) for v in values[:half]] + ["..."] + [repr(v) for v in values[-half:]]
    return f"[{', '.join(shown)}]"


class AugmentationWarning(UserWarning):
    """Some images of a call got no augmentation: all-zero maps, or a loop cut short by a NaN
    score. Issued at most twice per call of ``attribute``/``explain`` (once for the images not
    explained, once for NaN scores), naming how many images, why, and what to do."""


#: Why an image got no map in its augmented sum.
_UNAUGMENTED: dict[StopReason, str] = {
    StopReason.NOT_ABNORMAL: "scored below `threshold` at the start",
    StopReason.DEGENERATE_MAP: "first map constant, not finite or with an empty Otsu mask",
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
            StopReason.NOT_ABNORMAL: "their plain first map" if explain_normal else "all-zero maps",
            StopReason.DEGENERATE_MAP: "all-zero augmented maps",
        }
        why = "; ".join(
            f"{count} {reason}: {_UNAUGMENTED[reason]} ({maps[reason]})"
            for reason, count in sorted(unaugmented.items())
        )
        advice = "check `threshold` against the classifier's scores (result.initial_score)"
        if not explain_normal and StopReason.NOT_ABNORMAL in unaugmented:
            advice = "pass explain_normal=True for a plain first map, or " + advice
        warnings.warn(
            f"{sum(unaugmented.values())} of {n} image(s) got no augmented map: {why}; {advice}",
            AugmentationWarning,
            stacklevel=stacklevel + 1,
        )
    stopped = result.stop_reason.count(StopReason.NAN_SCORE)
    if stopped:
        warnings.warn(
            f"the classifier scored {stopped} of {n} inpainted image(s) NaN (stop reason "
            "nan_score): their augmented maps hold the maps before that step; check the "
            "inpainter's output and the classifier's numerics (e.g. under `autocast`)",
            AugmentationWarning,
            stacklevel=stacklevel + 1,
        )


def end_codes(scores: Tensor) -> Tensor:
    """The :attr:`StopReason.code` of images whose score ended the loop.

    Args:
        scores (Tensor): ``(k,)`` their scores, below the threshold or NaN.

    Returns:
        Tensor: ``(k,)`` int64 on their device: ``nan_score`` where the score is NaN, else
        ``normal``.
    """
    return torch.where(torch.isnan(scores), StopReason.NAN_SCORE.code, StopReason.NORMAL.code)


def collect_result(
    *,
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
        reason (Tensor): ``(N,)`` int64 :attr:`StopReason.code` per image.
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
        stop_reason=[StopReason.from_code(c) for c in codes],
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
