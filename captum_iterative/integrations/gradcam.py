r"""pytorch-grad-cam adapter: :class:`CAMAttribution`, a CAM object as the loop's explainer.

pytorch-grad-cam (``pip install captum-iterative[gradcam]``, package ``grad-cam``) computes
Grad-CAM, Grad-CAM++, Score-CAM, Eigen-CAM, ... with its own calling convention:
``cam(input_tensor=x, targets=[ClassifierOutputTarget(c), ...])`` returns a numpy array
``(N, H, W)`` of maps scaled to [0, 1] per image, at the input's size. :class:`CAMAttribution`
turns the loop's Captum-style ``target`` into ``ClassifierOutputTarget`` objects and the maps into
a tensor ``(N, 1, H, W)`` on the images' device, so any CAM class works inside
:class:`~captum_iterative.IterativeAugmentation`; token-shaped layers (ViTs) use the CAM's own
``reshape_transform``. pytorch-grad-cam's conventions carry over: ``ClassifierOutputTarget``
objects are taken as targets, and ``target=None`` explains each image's predicted class (chosen
once, on the input, for the whole loop). The progress bars some CAMs print (ScoreCAM,
AblationCAM) are off unless ``progress=True``.

Two habits of pytorch-grad-cam to know: its constructor calls ``model.eval()``, and its hooks
stay on the model until ``cam.activations_and_grads.release()``, which ``with GradCAM(...) as
cam:`` does on exit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import torch
import tqdm
from captum.attr import Attribution
from captum.log import log_usage
from torch import Tensor, nn

__all__ = ["CAMAttribution"]

#: Names of pytorch-grad-cam's targets that score one class column (``model_output[:, c]``), as
#: the loop's class index does; they are taken as that index. Its other targets
#: (``ClassifierOutputSoftmaxTarget``, ``BinaryClassifierOutputTarget``,
#: ``SemanticSegmentationTarget``, ...) score something else and are refused.
CLASS_TARGETS: tuple[str, ...] = ("ClassifierOutputTarget",)


class CAMAttribution(Attribution):
    r"""A pytorch-grad-cam CAM object (``GradCAM(model, target_layers)``, ...) as an Attribution.

    Args:
        cam (pytorch_grad_cam.base_cam.BaseCAM): a CAM object of pytorch-grad-cam 1.5; its
            ``model`` is the classifier the loop scores with.
        progress (bool, optional): let the CAM print its own progress bars (ScoreCAM and
            AblationCAM print one per image and map, so once per step of the loop).
            Default: False.

    Examples::

        >>> import pytest
        >>> grad_cam = pytest.importorskip("pytorch_grad_cam")  # the optional extra gradcam
        >>> from captum_iterative import IterativeAugmentation, PyramidInpainter
        >>> model = nn.Sequential(
        ...     nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        ...     nn.Linear(4, 5),
        ... ).eval()
        >>> with grad_cam.GradCAM(model=model, target_layers=[model[1]]) as cam:
        ...     explainer = IterativeAugmentation(
        ...         CAMAttribution(cam), threshold=-1e9, max_iter=2, inpainter=PyramidInpainter()
        ...     )
        ...     maps = explainer.attribute(torch.rand(2, 3, 32, 32), target=3)
        >>> maps.shape
        torch.Size([2, 1, 32, 32])
    """

    def __init__(self, cam: Any, progress: bool = False) -> None:
        model = getattr(cam, "model", None)
        if not callable(cam) or not isinstance(model, nn.Module):
            raise TypeError(
                "`cam` must be a pytorch-grad-cam CAM object such as "
                f"GradCAM(model=model, target_layers=[layer]), got {type(cam).__name__}"
            )
        super().__init__(model)
        self.cam = cam
        self.progress = bool(progress)

    def loop_target(self, target: Any, inputs: Tensor, additional_forward_args: Any = None) -> Any:
        """The loop's target: class indices for pytorch-grad-cam's targets, or the prediction.

        :class:`~captum_iterative.IterativeAugmentation` calls this once per call, before the
        loop: the class it returns is explained and scored at every step, even when inpainting
        changes the prediction (pytorch-grad-cam alone would pick each step's top class).

        Args:
            target (Any): the loop's ``target``: None, class indices, or
                ``ClassifierOutputTarget`` objects (one, or a list of one per image).
            inputs (Tensor): ``(N, C, H, W)`` images.
            additional_forward_args (Any, optional): must be None (see :meth:`attribute`).

        Returns:
            Any: ``target`` with ``ClassifierOutputTarget(c)`` replaced by ``c``; for
            ``target=None`` the ``(N,)`` predicted classes of a model with several outputs (None
            for one output, which is explained as it is).
        """
        _check_no_extra_args(additional_forward_args)
        if target is not None:
            return _class_indices(target)
        with torch.no_grad():
            output = self.cam.model(inputs)
        if not isinstance(output, Tensor) or output.dim() != 2:
            raise TypeError(
                "CAMAttribution with target=None needs a classifier returning (N, K) scores to "
                f"choose the predicted class; got {_describe(output)}: pass `target=`"
            )
        return None if output.shape[1] == 1 else output.argmax(dim=1)

    @log_usage()
    def attribute(
        self,
        inputs: Tensor,
        target: Any = None,
        additional_forward_args: Any = None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
    ) -> Tensor:
        r"""CAM maps of ``inputs`` for ``target``.

        Args:
            inputs (Tensor): ``(N, C, H, W)`` images (or ``(N, C, D, H, W)`` volumes).
            target (int, list, Tensor or ClassifierOutputTarget, optional): class index, or one
                per image (a list or a tensor), each of which becomes a ``ClassifierOutputTarget``;
                pytorch-grad-cam's ``ClassifierOutputTarget`` objects are taken too (one, or a list
                of one per image). Default: None, pytorch-grad-cam's own choice (each image's
                highest-scoring class; inside the loop, fixed on the input by
                :meth:`loop_target`).
            additional_forward_args (Any, optional): not supported (pytorch-grad-cam calls the
                model with the images only); must be None. Default: None.
            aug_smooth (bool, optional): pytorch-grad-cam's test-time augmentation smoothing.
                Default: False.
            eigen_smooth (bool, optional): pytorch-grad-cam's principal-component smoothing.
                Default: False.

        Returns:
            Tensor: ``(N, 1, H, W)`` maps in [0, 1] (``(N, 1, D, H, W)`` for volumes), float32,
            on ``inputs``' device.
        """
        _check_no_extra_args(additional_forward_args)
        try:
            from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
        except ImportError as error:  # pragma: no cover - exercised without the extra only
            raise ImportError(
                "CAMAttribution needs pytorch-grad-cam: pip install 'captum-iterative[gradcam]'"
            ) from error
        n = inputs.shape[0]
        target = _class_indices(target)
        if target is None:
            targets = None
        elif isinstance(target, int):
            targets = [ClassifierOutputTarget(target)] * n
        else:
            indices = target.tolist() if isinstance(target, Tensor) else list(target)
            targets = [ClassifierOutputTarget(int(i)) for i in np.broadcast_to(indices, (n,))]
        with torch.enable_grad(), _progress_bars(self.cam, self.progress):
            maps = self.cam(
                input_tensor=inputs.detach(),
                targets=targets,
                aug_smooth=aug_smooth,
                eigen_smooth=eigen_smooth,
            )
        return torch.from_numpy(np.ascontiguousarray(maps))[:, None].to(inputs.device)


def _check_no_extra_args(additional_forward_args: Any) -> None:
    if additional_forward_args is not None:
        raise ValueError(
            "CAMAttribution: pytorch-grad-cam calls the model with the images only, so "
            "`additional_forward_args` must be None"
        )


def _is_class_target(value: object) -> bool:
    """Whether ``value`` is one of pytorch-grad-cam's targets of :data:`CLASS_TARGETS`."""
    kind = type(value)
    return kind.__module__.startswith("pytorch_grad_cam") and kind.__name__ in CLASS_TARGETS


def _class_indices(target: Any) -> Any:
    """``target`` with pytorch-grad-cam's ``ClassifierOutputTarget(c)`` objects replaced by ``c``.

    Raises:
        TypeError: another pytorch-grad-cam target, which scores no single class column.
    """
    if _is_class_target(target):
        return int(target.category)
    if isinstance(target, list):
        return [int(t.category) if _is_class_target(t) else _check_entry(t) for t in target]
    return _check_entry(target)


def _check_entry(value: Any) -> Any:
    if type(value).__module__.startswith("pytorch_grad_cam"):
        raise TypeError(
            f"`target`: pytorch-grad-cam's {type(value).__name__} does not score one class "
            f"column, which the loop needs to score the images; CAMAttribution takes class "
            f"indices (an int, a list or a tensor of one per image) and "
            f"{' / '.join(CLASS_TARGETS)}. For a softmax or sigmoid score pass the class "
            "index and the loop's `score='softmax'` or `score='sigmoid'`"
        )
    return value


def _describe(output: object) -> str:
    if isinstance(output, Tensor):
        return f"a tensor of shape {tuple(output.shape)}"
    return type(output).__name__


@contextmanager
def _progress_bars(cam: Any, show: bool) -> Iterator[None]:
    """Turn off the tqdm bars of ``cam``'s modules (ScoreCAM, AblationCAM) unless ``show``.

    pytorch-grad-cam calls ``tqdm.tqdm`` with no way to disable it, once per image and map; the
    modules of the CAM's class hierarchy that imported :mod:`tqdm` see a quiet ``tqdm`` while the
    block runs.
    """
    modules: list[ModuleType] = []
    if not show:
        for kind in type(cam).__mro__:
            module = sys.modules.get(kind.__module__)
            if module is not None and getattr(module, "tqdm", None) is tqdm:
                modules.append(module)
    quiet = SimpleNamespace(tqdm=partial(tqdm.tqdm, disable=True))
    for module in modules:
        module.tqdm = quiet  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in modules:
            module.tqdm = tqdm  # type: ignore[attr-defined]
