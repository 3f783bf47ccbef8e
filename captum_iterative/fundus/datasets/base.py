"""The base class of the dataset loaders, their registry, and where a dataset's folder is.

Every loader is a ``torch.utils.data.Dataset`` of
:class:`~captum_iterative.fundus.types.FundusSample`, registered by name with
:func:`register_dataset` (together with the environment variable holding its folder);
:func:`get_dataset` opens one by name, :func:`list_datasets` lists the names and
:func:`dataset_root` finds a dataset's folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from torch.utils.data import Dataset

from captum_iterative._registry import Registry
from captum_iterative.fundus.datasets._read import image_fov, read_lesion_masks
from captum_iterative.fundus.types import FundusSample
from captum_iterative.io import PathLike, read_image

__all__ = [
    "FundusDataset",
    "Transform",
    "dataset_root",
    "get_dataset",
    "list_datasets",
    "register_dataset",
    "root_variable",
]

#: A dataset transform: ``FundusSample -> anything``.
Transform = Callable[[FundusSample], Any]


class FundusDataset(Dataset[Any]):
    """Base class: a list of ``ids`` and ``grades`` and a per-sample loader.

    Subclasses fill ``ids``, ``grades`` and ``lesions`` in ``__init__`` and implement
    :meth:`load`; ``__getitem__`` applies ``transform``.

    Args:
        transform (callable, optional): applied to each :class:`FundusSample`.
            Default: ``None``.
    """

    #: Lesion types whose masks the samples carry.
    lesions: tuple[str, ...] = ()

    def __init__(self, transform: Transform | None = None) -> None:
        self.transform = transform
        self.ids: list[str] = []
        self.grades: list[int | None] = []

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Any:
        sample = self.load(index)
        return sample if self.transform is None else self.transform(sample)

    def load(self, index: int) -> FundusSample:
        """The untransformed sample ``index`` (reads its files)."""
        raise NotImplementedError

    def _read_sample(
        self, index: int, path: Path, masks: Mapping[str, Path | None] | None = None
    ) -> FundusSample:
        """Sample ``index`` from its image file, its lesion-mask files (lesion type -> file, or
        None for an all-False mask) and the field of view detected on the image."""
        image = read_image(path)
        lesion_masks = read_lesion_masks(masks or {}, image.shape[:2])
        fov = image_fov(image, path)
        return FundusSample(image, self.grades[index], lesion_masks, fov, self.ids[index])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images, transform={self.transform!r})"


#: Loader classes by name (lower case; names are case-insensitive).
_DATASETS: Registry[Callable[..., FundusDataset]] = Registry(
    "dataset", "dataset", case_sensitive=False
)
#: Registered name -> environment variable holding the dataset's folder.
_ROOT_ENV: dict[str, str] = {}
_D = TypeVar("_D", bound=type[FundusDataset])


def register_dataset(name: str, *aliases: str, root_env: str | None = None) -> Callable[[_D], _D]:
    """Class decorator adding a loader under ``name`` (and ``aliases``):
    ``@register_dataset("diaretdb1", root_env="DIARETDB1_ROOT")``.

    Args:
        name (str): the name (case-insensitive).
        *aliases (str): other names of the same loader.
        root_env (str, optional): the environment variable that holds the dataset's folder
            (:func:`dataset_root`). Default: None (``<NAME>_ROOT``).

    Raises:
        ValueError: a name already holds another loader.
    """

    def add(cls: _D) -> _D:
        for each in (name, *aliases):
            _DATASETS.add(each, cls)
            if root_env is not None:
                _ROOT_ENV[each.lower()] = root_env
        return cls

    return add


def list_datasets() -> list[str]:
    """Names accepted by :func:`get_dataset` (aliases included, lower case), sorted."""
    return _DATASETS.names()


def get_dataset(name: str, root: PathLike, **options: Any) -> FundusDataset:
    """Open a dataset by name (case-insensitive), e.g. ``get_dataset("diaretdb1", root)``.

    Args:
        name (str): one of :func:`list_datasets`.
        root (str or Path): the dataset's folder (for ``"folder"``: the images folder).
        **options: passed to the loader class (e.g. ``split="test"``).

    Returns:
        FundusDataset: the loader.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    return _DATASETS.get(name)(root, **options)


def root_variable(name: str) -> str:
    """The environment variable holding the folder of dataset ``name``: the one it was
    registered with, else ``<NAME>_ROOT`` (upper case, ``-`` as ``_``)."""
    return _ROOT_ENV.get(name.lower(), f"{name.upper().replace('-', '_')}_ROOT")


def dataset_root(
    name: str,
    root: PathLike | None = None,
    *,
    what: str | None = None,
    option: str = "--root",
) -> Path:
    """The folder of dataset ``name``: ``root`` when given, else its environment variable.

    The one place where dataset folders are read from the environment (``DIARETDB1_ROOT``,
    ``APTOS_ROOT``, ``DR600_ROOT``, ...; :func:`root_variable`).

    Args:
        name (str): a dataset name (registered or not).
        root (str or Path, optional): the folder given by the user. Default: None.
        what (str, optional): how the message names the request. Default: ``"--dataset NAME"``.
        option (str, optional): the option that gives the folder. Default: ``"--root"``.

    Returns:
        Path: the folder (not checked: the loader does that).

    Raises:
        ValueError: neither ``root`` nor the variable is set; the message names both.

    Examples::

        >>> dataset_root("diaretdb1", "/data/diaretdb1")
        PosixPath('/data/diaretdb1')
        >>> root_variable("aptos"), root_variable("eyepacs")
        ('APTOS_ROOT', 'EYEPACS_ROOT')
    """
    if root is not None:
        return Path(root)
    variable = root_variable(name)
    value = os.environ.get(variable)
    if not value:
        raise ValueError(
            f"{what or f'--dataset {name}'} needs {option} PATH or the {variable} environment "
            "variable"
        )
    return Path(value)
