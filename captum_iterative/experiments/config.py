"""The settings of a localization run: :class:`ExperimentConfig` (all recorded with the results)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from captum_iterative.experiments.methods import TABLE_I, list_methods
from captum_iterative.inpaint import list_inpainters

__all__ = ["ExperimentConfig"]


@dataclass
class ExperimentConfig:
    """Settings of a localization run (all recorded next to the results).

    Attributes:
        methods: attribution methods (names of :func:`~captum_iterative.experiments.list_methods`).
            Default: the five of Table I.
        max_iter: most maps per image (``T``). Default: 20.
        alpha: decay of the map weights. Default: 0.6.
        inpainter: a name of :func:`~captum_iterative.inpaint.get_inpainter`: ``"ns"``
            (Navier-Stokes, the paper's), ``"telea"`` or ``"pyramid"``.
        inpaint_radius: radius of the OpenCV inpainters. Default: 3.
        radius_at_512: FROC detection radius at 512 px (7 for DR, 10 for AMD); scaled to the
            working size. Default: 7.
        fps: false positives per image of the reported sensitivity. Default: 10.
        batch_size: images per loop call. Default: 4.
        device: where the classifier runs. Default: ``"cpu"``.
        use_fov: restrict binarization, inpainting and detections to the field of view.
            Default: True.
        referable_only: explain only images predicted referable (the paper's protocol).
            Default: True.
        ignore_other_lesions: a detection that hits only another type's lesion is neither a
            true nor a false positive (default False: it is a false positive, as in the paper).
        lesion_types: lesion types to score. Default: None, every type the dataset annotates.
        max_images: use only the first images of the dataset. Default: None (all).
        method_kwargs: per-method overrides of the inner keywords, e.g.
            ``{"integrated_gradients": {"n_steps": 16}}``.
        normalize_maps: divide each map by its maximum before it enters the augmented sum
            (:class:`~captum_iterative.IterativeAugmentation`'s ``normalize_maps``; the paper
            sums raw maps). Default: False.
    """

    methods: tuple[str, ...] = TABLE_I
    max_iter: int = 20
    alpha: float = 0.6
    inpainter: str = "ns"
    inpaint_radius: float = 3.0
    radius_at_512: float = 7.0
    fps: float = 10.0
    batch_size: int = 4
    device: str = "cpu"
    use_fov: bool = True
    referable_only: bool = True
    ignore_other_lesions: bool = False
    lesion_types: tuple[str, ...] | None = None
    max_images: int | None = None
    method_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    normalize_maps: bool = False

    def __post_init__(self) -> None:
        self.methods = tuple(self.methods)
        for name in self.methods:
            if name not in list_methods():
                raise ValueError(
                    f"unknown method '{name}' in `methods`; choose from {list_methods()}"
                )
        if self.inpainter not in list_inpainters():
            raise ValueError(
                f"`inpainter` must be one of {list_inpainters()}, got {self.inpainter!r}"
            )
        if self.lesion_types is not None:
            self.lesion_types = tuple(self.lesion_types)

    def cache_key(self) -> str:
        """Hash of the settings that change the maps (not the scoring settings)."""
        keys = ("max_iter", "alpha", "inpainter", "inpaint_radius", "use_fov", "method_kwargs")
        settings = {k: getattr(self, k) for k in keys}
        if self.normalize_maps:  # only then, so that the paper's maps keep their keys
            settings["normalize_maps"] = True
        blob = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
