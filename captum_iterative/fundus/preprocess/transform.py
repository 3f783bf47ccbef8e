"""The dataset transform of the fundus preprocessing: :class:`FundusTransform`."""

from __future__ import annotations

from captum_iterative._checks import check_positive_int
from captum_iterative.fundus.preprocess._checks import MaskRule
from captum_iterative.fundus.preprocess.host import preprocess_fundus
from captum_iterative.fundus.types import FundusSample

__all__ = ["FundusTransform"]


class FundusTransform:
    r"""Dataset transform: :func:`preprocess_fundus` applied to a :class:`FundusSample`.

    The sample's own field of view is used for the crop (e.g. DiaretDB1's ``fmask.tif``), and
    its lesion masks follow the image into the preprocessed frame. Grade and id are kept.

    Args:
        size (int, optional): output side in pixels. Default: ``512``.
        enhance (bool, optional): apply Graham's enhancement. Default: ``True``.
        square (bool, optional): square the crop box. Default: ``True``.
        mask_rule (str, optional): ``rule`` of :func:`resize_mask` for lesion masks.
            Default: ``"nearest"``.

    Examples::

        >>> import numpy as np, cv2
        >>> image = np.zeros((200, 240, 3), np.uint8)
        >>> _ = cv2.circle(image, (120, 100), 90, (180, 80, 30), -1)
        >>> sample = FundusSample(image, 2, {}, image[..., 0] > 40, "demo")
        >>> out = FundusTransform(size=64)(sample)
        >>> out.image.shape, out.fov.shape, out.grade, out.id
        ((64, 64, 3), (64, 64), 2, 'demo')
    """

    def __init__(
        self,
        size: int = 512,
        enhance: bool = True,
        *,
        square: bool = True,
        mask_rule: MaskRule = "nearest",
    ) -> None:
        self.size = check_positive_int(size, "size")
        self.enhance = enhance
        self.square = square
        self.mask_rule = mask_rule

    def __call__(self, sample: FundusSample) -> FundusSample:
        out = preprocess_fundus(
            sample.image,
            self.size,
            fov=sample.fov,
            enhance=self.enhance,
            masks=sample.masks,
            square=self.square,
            mask_rule=self.mask_rule,
        )
        return FundusSample(out.image, sample.grade, out.masks, out.fov, sample.id)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(size={self.size}, enhance={self.enhance}, "
            f"square={self.square}, mask_rule={self.mask_rule!r})"
        )
