"""The classifier of a run: a checkpoint of fundus.train, ``--arch`` with ``--weights``, or the
shipped one; checked with one forward pass before any image is read."""

from __future__ import annotations

import argparse
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from captum_iterative._argparse import UsageError
from captum_iterative._env import available_memory
from captum_iterative._files import UnreadableTorchFile, format_bytes, load_torch_file
from captum_iterative.fundus.checkpoint import (
    load_classifier,
    load_default_classifier,
    state_dict_mismatch,
)
from captum_iterative.fundus.models import create_classifier

__all__ = ["Classifier", "brief", "check_combinations", "load_classifier_option"]


@dataclass
class Classifier:
    """The model and what the run needs to know about it."""

    model: nn.Module
    threshold: float
    size: int
    enhance: bool
    square: bool
    record: dict[str, Any]


def brief(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


_UNREADABLE = (ValueError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError, OSError)


def _load_checkpoint(path: Path | None, arch: str | None, device: torch.device) -> Classifier:
    try:
        if path is None:
            model, info = load_default_classifier(map_location=device)
            source = "shipped default checkpoint"
        else:
            if not path.is_file():
                raise UsageError(f"--checkpoint: file not found: {path}")
            model, info = load_classifier(path, map_location=device, arch=arch)
            source = str(path.resolve())
    except UnreadableTorchFile as error:
        raise UsageError(f"cannot use checkpoint {path}: {error.cause}") from error
    except FileNotFoundError as error:
        raise UsageError(
            "no --checkpoint given and the shipped checkpoint is not installed "
            f"({error}); pass --checkpoint PATH, or --arch, --weights and --threshold"
        ) from error
    except _UNREADABLE as error:
        raise UsageError(f"cannot use checkpoint {path}: {brief(error)}") from error
    return Classifier(
        model=model,
        threshold=info.th_pred,
        size=info.input_size,
        enhance=bool(info.preprocessing.get("enhance", True)),
        square=bool(info.preprocessing.get("square", True)),
        record={"checkpoint": source, **asdict(info)},
    )


def _fit_weights(model: nn.Module, state: Any, arch: str, path: Path) -> None:
    """Load a classifier or backbone state dict into ``model`` (strict, but for the input
    normalisation buffers, which the model sets itself)."""
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise UsageError(f"--weights {path}: not a state dict")
    target = model if any(k.startswith("backbone.") for k in state) else model.backbone
    assert isinstance(target, nn.Module)
    mismatch = state_dict_mismatch(target, state, ignore_missing=("normalize.",))
    if mismatch:
        raise UsageError(f"--weights {path} do not fit --arch {arch}: {mismatch}")
    target.load_state_dict(state, strict=False)


def _load_arch(args: argparse.Namespace, device: torch.device) -> Classifier:
    if not args.weights.is_file():
        raise UsageError(f"--weights: file not found: {args.weights}")
    try:
        model = create_classifier(args.arch)
    except ValueError as error:
        raise UsageError(f"--arch: {error}") from error
    try:
        state = load_torch_file(args.weights)
    except UnreadableTorchFile as error:
        raise UsageError(f"cannot use --weights {args.weights}: {error.cause}") from error
    _fit_weights(model, state, args.arch, args.weights)
    model.to(device).eval()
    return Classifier(
        model=model,
        threshold=args.threshold,
        size=args.size or 512,
        enhance=True,
        square=True,
        record={"arch": args.arch, "weights": str(args.weights.resolve())},
    )


def check_combinations(args: argparse.Namespace) -> None:
    """Refuse option combinations that cannot work, before anything is read."""
    if getattr(args, "inputs", None) and args.dataset is not None:
        raise UsageError("give image files/folders or --dataset, not both")
    if args.checkpoint is not None and args.weights is not None:
        raise UsageError("give --checkpoint or --arch with --weights, not both")
    if args.weights is not None and args.arch is None:
        raise UsageError("--weights needs --arch")
    if args.arch is not None and args.checkpoint is None:
        if args.weights is None or args.threshold is None:
            raise UsageError("--arch needs --weights PATH and --threshold TH (or --checkpoint)")


def load_classifier_option(args: argparse.Namespace, device: torch.device) -> Classifier:
    """The classifier of ``--checkpoint`` (``--arch`` then names the expected architecture),
    of ``--arch --weights --threshold``, or the shipped one; ``--threshold`` and ``--size``
    override the checkpoint's."""
    if args.checkpoint is None and args.arch is None:
        classifier = _load_checkpoint(None, None, device)
    elif args.checkpoint is not None:
        classifier = _load_checkpoint(args.checkpoint, args.arch, device)
    else:
        classifier = _load_arch(args, device)
    if args.threshold is not None:
        classifier.threshold = args.threshold
    if args.size is not None:
        classifier.size = args.size
    classifier.record["threshold"] = classifier.threshold
    _check_input_size(classifier, device, "--size" if args.size is not None else "input size")
    return classifier


def _check_input_size(classifier: Classifier, device: torch.device, name: str) -> None:
    """Refuse an input size the model cannot take, before any image is read: an input tensor
    larger than the memory available on ``device``, or one forward pass of a black
    ``(1, 3, S, S)`` image that fails (also for want of memory)."""
    size = classifier.size
    needed = 3 * size * size * torch.finfo(torch.float32).bits // 8
    available = available_memory(device)
    if available is not None and needed > available:
        raise UsageError(
            f"{name} {size}: one {size} x {size} input tensor takes {format_bytes(needed)}, "
            f"more than the {format_bytes(available)} of memory available on {device}"
        )
    try:
        probe = torch.zeros(1, 3, size, size, device=device)
        with torch.no_grad():
            classifier.model(probe)
    except (RuntimeError, MemoryError) as error:
        raise UsageError(
            f"{name} {size}: the classifier cannot take {size} x {size} inputs "
            f"({brief(error, 160)})"
        ) from error
