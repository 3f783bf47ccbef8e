r"""Robust reading of images and masks, and listing of image folders.

Every image the package reads (dataset loaders, the command line) goes through this module:

- a file whose extension is not an image format is refused before it is opened
  (:data:`IMAGE_SUFFIXES`, compared case-insensitively);
- a truncated file is an error. OpenCV decodes a truncated JPEG without failing (libjpeg fills the
  missing rows with grey and only prints a warning), so every file is first fully decoded by
  Pillow, which raises on truncation; files Pillow cannot identify but OpenCV reads are accepted;
- a mask can be checked against its image's size;
- a folder listing is sorted, skips hidden files and other extensions, and refuses two images
  with the same identifier (``a.png`` and ``a.jpg``), which would share one output file.

Conversions (:func:`read_image`): grey -> the value replicated to 3 channels; 16-bit ->
``round(value / 257)`` (so 65535 -> 255); RGBA -> the alpha channel dropped (not composited);
any other pixel type (float, 32-bit) or channel count -> ``ValueError``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGE_SUFFIXES",
    "PathLike",
    "check_image_suffix",
    "image_id",
    "list_images",
    "read_gray",
    "read_image",
    "read_mask",
]

#: A file or folder path.
PathLike = str | os.PathLike[str]

#: File suffixes taken for images (compared case-insensitively).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".gif"}
)


def check_image_suffix(path: PathLike) -> None:
    """Raise ``ValueError`` unless ``path`` has an extension of :data:`IMAGE_SUFFIXES`."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(
            f"unsupported image format {path.suffix or '(no extension)'!r} of {path}; "
            f"supported: {', '.join(sorted(IMAGE_SUFFIXES))}"
        )


def _check_complete(path: Path) -> None:
    """Decode ``path`` fully with Pillow; a truncated or damaged file raises ``ValueError``."""
    try:
        with Image.open(path) as image:
            image.load()
    except UnidentifiedImageError:
        return
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"damaged or truncated image file {path}: {error}") from error


def read_image(path: PathLike) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` ``uint8`` RGB, refusing damaged files.

    Args:
        path (str or PathLike): an image file whose extension is in :data:`IMAGE_SUFFIXES`.

    Returns:
        np.ndarray: ``(H, W, 3)`` ``uint8`` RGB array (a new array). Grey images are replicated
        to three channels, 16-bit values become ``round(value / 257)``, an alpha channel is
        dropped.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unsupported extension, truncated or undecodable file, or a pixel type or
        channel count other than the above (the message names the file).

    Examples::

        >>> image = read_image("fundus.png")  # doctest: +SKIP
        >>> image.shape, image.dtype  # doctest: +SKIP
        ((1152, 1500, 3), dtype('uint8'))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    check_image_suffix(path)
    _check_complete(path)
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise ValueError(f"cannot decode image file: {path}")
    if data.dtype == np.uint16:
        data = np.rint(data / 257.0).astype(np.uint8)
    elif data.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {data.dtype} in image file: {path}")
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        return np.repeat(data[..., None], 3, axis=2)
    if data.ndim == 3 and data.shape[2] in (3, 4):
        return np.ascontiguousarray(data[..., 2::-1])  # BGR(A) -> RGB
    raise ValueError(f"unsupported image shape {data.shape} in image file: {path}")


def read_gray(path: PathLike) -> np.ndarray:
    """Read an image file as Pillow's ``convert("L")``: ``(H, W)`` ``uint8``.

    Used for annotations whose grey level carries meaning (e.g. DiaretDB1's expert agreement).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded or is truncated (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file not found: {path}")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot decode mask file: {path} ({error})") from error


def read_mask(path: PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary mask (``True`` where Pillow's ``convert("L")`` is above 0).

    Args:
        path (str or PathLike): a mask image file (any mode Pillow reads).
        shape (tuple[int, int], optional): the ``(H, W)`` of its image; a mask of another size
            raises. Default: None (no check).

    Returns:
        np.ndarray: ``(H, W)`` ``bool`` array.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded, or its size differs from ``shape``.
    """
    mask = read_gray(path) > 0
    if shape is not None and mask.shape != tuple(shape):
        raise ValueError(
            f"mask {path} does not have its image's shape: it is {mask.shape[1]}x{mask.shape[0]} "
            f"(W x H) but its image is {shape[1]}x{shape[0]}"
        )
    return mask


def image_id(path: PathLike, root: PathLike | None = None) -> str:
    """Identifier of an image file: its path relative to ``root`` without the extension.

    Args:
        path (str or PathLike): the image file.
        root (str or PathLike, optional): the listed folder. Default: None (the file's stem).

    Returns:
        str: e.g. ``"image001"``, or ``"left/image001"`` below ``root`` (``/`` separated).
    """
    path = Path(path)
    if root is None:
        return path.stem
    return path.relative_to(root).with_suffix("").as_posix()


def list_images(folder: PathLike, recursive: bool = False) -> list[Path]:
    """Image files in ``folder``, sorted by identifier.

    Files whose extension is not in :data:`IMAGE_SUFFIXES` and hidden files (``.name``, e.g. the
    temporary files of an interrupted run) are skipped.

    Args:
        folder (str or PathLike): the folder to list.
        recursive (bool, optional): include sub-folders (identifiers then hold the relative
            path, see :func:`image_id`). Default: False.

    Returns:
        list[Path]: the files; empty when the folder holds no image.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is not a folder.
        ValueError: two files share an identifier (e.g. ``a.png`` and ``a.jpg``).
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    candidates = root.rglob("*") if recursive else root.iterdir()
    files = [
        path
        for path in candidates
        if path.is_file()
        and path.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]
    by_id: dict[str, Path] = {}
    for path in files:
        key = image_id(path, root)
        if key in by_id:
            first, second = sorted((by_id[key], path))
            raise ValueError(f"two images share the identifier {key!r}: {first} and {second}")
        by_id[key] = path
    return [by_id[key] for key in sorted(by_id)]
