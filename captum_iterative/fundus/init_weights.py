"""Where a training run starts: a project checkpoint or ImageNet weights (:class:`InitWeights`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from captum_iterative._files import file_sha256
from captum_iterative.fundus.checkpoint import read_checkpoint, state_dict_mismatch
from captum_iterative.fundus.models import FundusClassifier, create_classifier

__all__ = ["InitSource", "InitWeights"]

#: The sources of :class:`InitWeights`.
InitSource = Literal["checkpoint", "imagenet"]


@dataclass(frozen=True)
class InitWeights:
    r"""Starting weights of a training run.

    - ``"checkpoint"``: a checkpoint of :func:`train_classifier` (e.g. the shipped
      ``aptos_vgg_small.pt``), loaded whole. Its architecture and ``create_kwargs`` must be the
      run's; its input size need not be (a fully convolutional model trained at 224 px can be
      fine-tuned at 512 px).
    - ``"imagenet"``: a state dict of the timm backbone (``create_classifier(arch,
      weights=path, weights_by_order=by_order)``): by key name through timm, or, with
      ``by_order``, by parameter order
      (:func:`~captum_iterative.fundus.pretrained.load_state_dict_by_order`). The classifier
      head is left new when its shape differs (one regression output).

    Args:
        source (str): ``"checkpoint"`` or ``"imagenet"``.
        path (str or Path): the file.
        by_order (bool, optional): ``"imagenet"`` only: pair tensors by position, not name.
            Default: ``False``.

    Raises:
        ValueError: an unknown ``source``, or ``by_order`` with ``"checkpoint"``.
        FileNotFoundError: ``path`` is not a file.
    """

    source: InitSource
    path: Path
    by_order: bool = False

    def __post_init__(self) -> None:
        if self.source not in _INITIALISERS:
            raise ValueError(
                f"`source` must be one of {sorted(_INITIALISERS)}, got {self.source!r}"
            )
        if self.by_order and self.source != "imagenet":
            raise ValueError("`by_order` applies to source='imagenet' only")
        object.__setattr__(self, "path", Path(self.path))
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.source} `path` not found: {self.path}")

    def describe(self) -> dict[str, Any]:
        """``source``, ``path``, ``sha256`` (of the file), ``by_order``; for a checkpoint also
        its ``arch``, ``input_size`` and ``epoch``."""
        record: dict[str, Any] = {
            "source": self.source,
            "path": str(self.path),
            "sha256": file_sha256(self.path),
            "by_order": self.by_order,
        }
        if self.source == "checkpoint":
            ckpt = read_checkpoint(self.path, map_location="cpu")
            record.update(arch=ckpt["arch"], input_size=ckpt["input_size"], epoch=ckpt["epoch"])
        return record

    def build(self, arch: str, create_kwargs: Mapping[str, Any]) -> FundusClassifier:
        """A new ``arch`` model (``create_classifier(arch, **create_kwargs)``) with these weights.

        Raises:
            ValueError: the weights do not fit (another architecture, other
                ``create_kwargs``, other shapes).
        """
        return _INITIALISERS[self.source](self, arch, dict(create_kwargs))


def _init_from_checkpoint(
    init: InitWeights, arch: str, create_kwargs: dict[str, Any]
) -> FundusClassifier:
    ckpt = read_checkpoint(init.path, map_location="cpu")
    if ckpt["arch"] != arch:
        raise ValueError(
            f"init checkpoint {init.path} holds a '{ckpt['arch']}' model, `arch` is '{arch}'"
        )
    if dict(ckpt["create_kwargs"]) != create_kwargs:
        raise ValueError(
            f"init checkpoint {init.path} was created with {ckpt['create_kwargs']}, this run "
            f"with `create_kwargs` {create_kwargs}"
        )
    model = create_classifier(arch, **create_kwargs)
    mismatch = state_dict_mismatch(model, ckpt["state_dict"])
    if mismatch:
        raise ValueError(f"init checkpoint {init.path} does not fit '{arch}': {mismatch}")
    model.load_state_dict(ckpt["state_dict"])
    return model


def _init_from_imagenet(
    init: InitWeights, arch: str, create_kwargs: dict[str, Any]
) -> FundusClassifier:
    return create_classifier(
        arch, weights=init.path, weights_by_order=init.by_order, **create_kwargs
    )


_INITIALISERS: dict[str, Callable[[InitWeights, str, dict[str, Any]], FundusClassifier]] = {
    "checkpoint": _init_from_checkpoint,
    "imagenet": _init_from_imagenet,
}
