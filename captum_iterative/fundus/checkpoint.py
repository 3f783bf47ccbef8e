"""Classifier checkpoints: the file format, what it records (:class:`ClassifierInfo`), loading.

A checkpoint is a ``torch.save`` dict tagged :data:`CHECKPOINT_FORMAT`, written atomically by
:func:`~captum_iterative.fundus.train.train_classifier`, holding the architecture and its
``create_kwargs``, the weights, ``th_pred``, the input size, the preprocessing settings, the
validation metrics and where training started. :func:`load_classifier` rebuilds the model;
:func:`load_shipped_classifier` loads one of the checkpoints shipped in
``captum_iterative/checkpoints`` by name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from captum_iterative._files import atomic_path, load_torch_file
from captum_iterative.fundus.models import FundusClassifier, create_classifier

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_CHECKPOINT",
    "SHIPPED_CHECKPOINTS",
    "ClassifierInfo",
    "load_classifier",
    "load_default_classifier",
    "load_shipped_classifier",
    "read_checkpoint",
    "save_checkpoint",
    "state_dict_mismatch",
]

#: Format tag written into every checkpoint.
CHECKPOINT_FORMAT = "captum_iterative.classifier/1"
#: The checkpoint shipped with the package (trained on synthetic DR images).
DEFAULT_CHECKPOINT = "synthetic_dr_vgg_small.pt"
#: Checkpoints shipped in ``captum_iterative/checkpoints`` (``docs/training.md``), by name:
#: ``synthetic`` (the default, 512 px, synthetic DR images), ``aptos2019`` (224 px, APTOS 2019)
#: and ``dr600`` (512 px, the real high-resolution DR600 photographs: the real-data default).
SHIPPED_CHECKPOINTS: dict[str, str] = {
    "synthetic": DEFAULT_CHECKPOINT,
    "aptos2019": "aptos_vgg_small.pt",
    "dr600": "dr600_512.pt",
}


@dataclass(frozen=True)
class ClassifierInfo:
    """What a checkpoint says about its classifier.

    Attributes:
        arch: architecture name for :func:`~captum_iterative.fundus.models.create_classifier`.
        th_pred: referable threshold; an image is referable when its score is ``>= th_pred``.
        input_size: side ``S`` of the ``(N, 3, S, S)`` input the model was trained on.
        preprocessing: settings of the preprocessing applied to the training images.
        metrics: validation metrics of the saved epoch (``auc``, ``sensitivity``,
            ``specificity``, ``kappa``, ``th_pred``, ``val_loss``, ``train_loss``).
        epoch: the saved epoch (1-based).
        referable_grade: smallest referable grade.
        create_kwargs: keyword arguments of ``create_classifier`` (``num_outputs``,
            ``act_layer``, ...).
        init: where training started (:meth:`InitWeights.describe`); ``None`` for random
            weights (and for checkpoints written before this was recorded).
    """

    arch: str
    th_pred: float
    input_size: int
    preprocessing: dict[str, Any]
    metrics: dict[str, float]
    epoch: int
    referable_grade: int
    create_kwargs: dict[str, Any]
    init: dict[str, Any] | None = None


def state_dict_mismatch(
    module: nn.Module, state: object, ignore_missing: tuple[str, ...] = ()
) -> str | None:
    """How ``state`` does not fit ``module``, in one line; None when it fits.

    Names the first tensor whose shape differs, with both shapes (and how many differ), then
    the missing and the unexpected keys (the first three of each). PyTorch's own message takes
    many lines under "Error(s) in loading state_dict for ...:", which a one-line error cuts to
    that heading.

    Args:
        module (nn.Module): the model to load into.
        state (object): what the file holds, a state dict if all is well.
        ignore_missing (tuple of str, optional): prefixes of the model's keys that the state
            may lack (e.g. buffers the model computes itself). Default: ``()``.

    Returns:
        str or None: e.g. ``"tensor 'net.0.weight' has shape (16, 3, 3, 3) in the file,
        (8, 3, 3, 3) in the model (1 of 1 tensors of another shape)"``.
    """
    if not isinstance(state, Mapping) or not all(isinstance(key, str) for key in state):
        return f"it holds a {type(state).__name__}, not a state dict"
    own = module.state_dict()
    other = [
        key
        for key, value in state.items()
        if key in own and tuple(getattr(value, "shape", ())) != tuple(own[key].shape)
    ]
    parts = []
    if other:
        first = other[0]
        parts.append(
            f"tensor {first!r} has shape {tuple(state[first].shape)} in the file, "
            f"{tuple(own[first].shape)} in the model ({len(other)} of {len(state)} tensors "
            "of another shape)"
        )
    missing = [key for key in own if key not in state and not key.startswith(ignore_missing)]
    unexpected = [key for key in state if key not in own]
    for keys, what in ((missing, "missing"), (unexpected, "unexpected")):
        if keys:
            parts.append(f"{len(keys)} {what} key(s) {keys[:3]}")
    return "; ".join(parts) or None


def save_checkpoint(obj: Mapping[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file in ``path``'s folder, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(dict(obj), tmp)


def read_checkpoint(path: str | os.PathLike[str], map_location: Any) -> dict[str, Any]:
    """The record of a checkpoint file (``ValueError`` when it is not one of ours)."""
    ckpt = load_torch_file(path, map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a captum_iterative classifier checkpoint")
    return ckpt


def load_classifier(
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    arch: str | None = None,
) -> tuple[FundusClassifier, ClassifierInfo]:
    """Restore a classifier saved by :func:`train_classifier`.

    Args:
        path (path): checkpoint file.
        map_location (str or torch.device, optional): device of the returned model.
            Default: ``"cpu"``
        arch (str, optional): expected architecture; a checkpoint of another one raises.
            Default: ``None`` (accept any)

    Returns:
        tuple[FundusClassifier, ClassifierInfo]: the model in evaluation mode and its info.

    Raises:
        ValueError: not a classifier checkpoint, or its architecture is not ``arch``.
    """
    ckpt = read_checkpoint(path, map_location=map_location)
    if arch is not None and ckpt["arch"] != arch:
        raise ValueError(f"{path} holds a '{ckpt['arch']}' model, not the requested '{arch}'")
    model = create_classifier(ckpt["arch"], **ckpt["create_kwargs"])
    mismatch = state_dict_mismatch(model, ckpt["state_dict"])
    if mismatch:
        raise ValueError(f"{path}: weights do not fit architecture '{ckpt['arch']}': {mismatch}")
    model.load_state_dict(ckpt["state_dict"])
    model.to(map_location).eval()
    info = ClassifierInfo(
        arch=ckpt["arch"],
        th_pred=float(ckpt["th_pred"]),
        input_size=int(ckpt["input_size"]),
        preprocessing=dict(ckpt["preprocessing"]),
        metrics=dict(ckpt["metrics"]),
        epoch=int(ckpt["epoch"]),
        referable_grade=int(ckpt["referable_grade"]),
        create_kwargs=dict(ckpt["create_kwargs"]),
        init=ckpt.get("init"),
    )
    return model, info


def load_shipped_classifier(
    name: str = "synthetic",
    map_location: str | torch.device = "cpu",
) -> tuple[FundusClassifier, ClassifierInfo]:
    """A checkpoint shipped with the package, by name (:data:`SHIPPED_CHECKPOINTS`).

    Args:
        name (str, optional): ``"synthetic"``, ``"aptos2019"`` or ``"dr600"``.
            Default: ``"synthetic"``
        map_location (str or torch.device, optional): device of the model. Default: ``"cpu"``

    Returns:
        tuple[FundusClassifier, ClassifierInfo]: as :func:`load_classifier`.

    Raises:
        ValueError: unknown ``name``.
        FileNotFoundError: the file is not installed (e.g. a checkout without it).
    """
    if name not in SHIPPED_CHECKPOINTS:
        raise ValueError(
            f"unknown shipped checkpoint `name` {name!r}; "
            f"choose one of {sorted(SHIPPED_CHECKPOINTS)}"
        )
    ref = resources.files("captum_iterative") / "checkpoints" / SHIPPED_CHECKPOINTS[name]
    with resources.as_file(ref) as path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"the shipped checkpoint {name!r} is not installed: {path}")
        return load_classifier(path, map_location=map_location)


def load_default_classifier(
    map_location: str | torch.device = "cpu",
) -> tuple[FundusClassifier, ClassifierInfo]:
    """The shipped ``vgg_small`` trained on synthetic DR images at 512 px (``"synthetic"`` of
    :data:`SHIPPED_CHECKPOINTS`; see ``docs/training.md``).

    Args:
        map_location (str or torch.device, optional): device of the model. Default: ``"cpu"``

    Returns:
        tuple[FundusClassifier, ClassifierInfo]: as :func:`load_classifier`.
    """
    return load_shipped_classifier("synthetic", map_location)
