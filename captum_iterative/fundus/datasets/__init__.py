"""Loaders for public colour fundus datasets, each yielding :class:`FundusSample` records.

One module per loader (``diaretdb1``, ``idrid``, ``eyepacs``, ``aptos``, ``dr600``, ``eophtha``,
``folder``); ``base`` holds the base class, the registry (:func:`get_dataset`) and
:func:`dataset_root`, ``split`` the grouped split. Importing this package imports every loader
module, so that their ``register_dataset`` decorators run (as timm's ``models/__init__.py``).

Nothing is downloaded: point each loader at the folder the user downloaded (layouts in
``docs/data.md``). Every loader is a ``torch.utils.data.Dataset`` with an optional
``transform`` (e.g. :class:`~captum_iterative.fundus.preprocess.FundusTransform`) applied to
each sample, and exposes ``ids`` and ``grades`` (lists, one entry per sample) and
``lesions`` (the lesion types it annotates) without reading any image.

Rules shared by all loaders:

- Images come back as ``(H, W, 3)`` ``uint8`` RGB (:func:`captum_iterative.io.read_image`):
  grey images are replicated to three channels, an alpha channel is dropped, 16-bit images
  are mapped to 8 bits as ``round(value / 257)`` (65535 -> 255); other pixel types and
  truncated files raise ``ValueError``.
- Lesion masks are ``(H, W)`` ``bool`` (:func:`captum_iterative.io.read_mask`: PIL
  ``convert("L") > 0``),
  checked against the image's size. Types the dataset annotates are always present (all
  ``False`` when the image has none); types it does not annotate are absent.
- The field of view is the dataset's own mask when it has one (DiaretDB1), otherwise
  :func:`~captum_iterative.fundus.preprocess.fov_mask` of the image.
- Missing or unreadable files raise ``FileNotFoundError`` or ``ValueError`` naming the file;
  nothing is skipped silently. Listed image files are checked when the dataset is built.
"""

from captum_iterative.fundus.datasets.aptos import APTOS2019
from captum_iterative.fundus.datasets.base import (
    FundusDataset,
    Transform,
    dataset_root,
    get_dataset,
    list_datasets,
    register_dataset,
    root_variable,
)
from captum_iterative.fundus.datasets.diaretdb1 import DIARETDB1_LESIONS, DiaretDB1
from captum_iterative.fundus.datasets.dr600 import DR600
from captum_iterative.fundus.datasets.eophtha import EOphtha
from captum_iterative.fundus.datasets.eyepacs import EyePACS
from captum_iterative.fundus.datasets.folder import ImageMaskFolder
from captum_iterative.fundus.datasets.idrid import IDRID_LESIONS, IDRiD
from captum_iterative.fundus.datasets.split import grouped_split

__all__ = [
    "APTOS2019",
    "DIARETDB1_LESIONS",
    "DR600",
    "IDRID_LESIONS",
    "DiaretDB1",
    "EOphtha",
    "EyePACS",
    "FundusDataset",
    "IDRiD",
    "ImageMaskFolder",
    "Transform",
    "dataset_root",
    "get_dataset",
    "grouped_split",
    "list_datasets",
    "register_dataset",
    "root_variable",
]
