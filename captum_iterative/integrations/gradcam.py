r"""pytorch-grad-cam adapter: :class:`CAMAttribution`, a CAM object as the loop's explainer.

pytorch-grad-cam (``pip install captum-iterative[gradcam]``, package ``grad-cam``) computes
Grad-CAM, Grad-CAM++, Score-CAM, Eigen-CAM, ... with its own calling convention:
``cam(input_tensor=x, targets=[ClassifierOutputTarget(c), ...])`` returns a numpy array
``(N, H, W)`` of maps scaled to [0, 1] per image, at the input's size. :class:`CAMAttribution`
turns the loop's Captum-style ``target`` into ``ClassifierOutputTarget`` objects and the maps into
a tensor ``(N, 1, H, W)`` on the images' device, so any CAM class works inside
:class:`~captum_iterative.IterativeAugmentation`; token-shaped layers (ViTs) use the CAM's own
``reshape_transform``.

Two habits of pytorch-grad-cam to know: its constructor calls ``model.eval()``, and its hooks
stay on the model until ``cam.activations_and_grads.release()``, which ``with GradCAM(...) as
cam:`` does on exit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from captum.attr import Attribution
from captum.log import log_usage
from torch import Tensor, nn

__all__ = ["CAMAttribution"]


class CAMAttribution(Attribution):
    r"""A pytorch-grad-cam CAM object (``GradCAM(model, target_layers)``, ...) as an Attribution.

    Args:
        cam (pytorch_grad_cam.base_cam.BaseCAM): a CAM object of pytorch-grad-cam 1.5; its
            ``model`` is the classifier the loop scores with.

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

    def __init__(self, cam: Any) -> None:
        model = getattr(cam, "model", None)
        if not callable(cam) or not isinstance(model, nn.Module):
            raise TypeError(
                "`cam` must be a pytorch-grad-cam CAM object such as "
                f"GradCAM(model=model, target_layers=[layer]), got {type(cam).__name__}"
            )
        super().__init__(model)
        self.cam = cam

    @log_usage()
    def attribute(
        self,
        inputs: Tensor,
        target: int | list[int] | Tensor | None = None,
        additional_forward_args: Any = None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
    ) -> Tensor:
        r"""CAM maps of ``inputs`` for ``target``.

        Args:
            inputs (Tensor): ``(N, C, H, W)`` images (or ``(N, C, D, H, W)`` volumes).
            target (int, list[int] or Tensor, optional): class index, or one per image; each
                becomes a ``ClassifierOutputTarget``. Default: None, pytorch-grad-cam's own
                choice (each image's highest-scoring class).
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
        if additional_forward_args is not None:
            raise ValueError(
                "CAMAttribution: pytorch-grad-cam calls the model with the images only, so "
                "`additional_forward_args` must be None"
            )
        try:
            from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
        except ImportError as error:  # pragma: no cover - exercised without the extra only
            raise ImportError(
                "CAMAttribution needs pytorch-grad-cam: pip install 'captum-iterative[gradcam]'"
            ) from error
        n = inputs.shape[0]
        if target is None:
            targets = None
        elif isinstance(target, int):
            targets = [ClassifierOutputTarget(target)] * n
        else:
            indices = target.tolist() if isinstance(target, Tensor) else list(target)
            targets = [ClassifierOutputTarget(int(i)) for i in np.broadcast_to(indices, (n,))]
        with torch.enable_grad():
            maps = self.cam(
                input_tensor=inputs.detach(),
                targets=targets,
                aug_smooth=aug_smooth,
                eigen_smooth=eigen_smooth,
            )
        return torch.from_numpy(np.ascontiguousarray(maps))[:, None].to(inputs.device)
