"""The settings of a training run: :class:`TrainConfig` (re-exported by :mod:`.train`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from captum_iterative.fundus._in_memory import SampleTransform
from captum_iterative.fundus.init_weights import InitWeights

__all__ = ["TrainConfig"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    r"""Everything :func:`~captum_iterative.fundus.train.train_classifier` does with the
    datasets, by keyword.

    Model:
        arch (str): architecture for :func:`~captum_iterative.fundus.models.create_classifier`.
        input_size (int, optional): side ``S`` of the model input. Default: 512
        create_kwargs (mapping, optional): extra keyword arguments of ``create_classifier``
            (e.g. ``{"act_layer": "relu"}``), recorded so that :func:`load_classifier` rebuilds
            the same network. Default: ``None``
        init (InitWeights, optional): starting weights (a project checkpoint or an ImageNet
            state dict), recorded with the file's SHA-256 in both checkpoints. With
            ``resume`` the weights come from the last checkpoint, and ``init``, if given, must
            be the file the run started from. Default: ``None`` (random weights from ``seed``)
        channels_last (bool, optional): keep the model and every training batch in
            ``torch.channels_last`` memory format. On CPU this was faster for every network
            measured (timings: ``docs/training.md``, "Training cost at 512 px"); results equal
            the default layout's up to float rounding. Default: ``False``

    Data:
        transform (callable, optional): ``FundusSample -> FundusSample`` applied to every
            sample before training (e.g. the fundus preprocessing at ``input_size``); its output
            images must be ``uint8`` ``(S, S, 3)``. ``None`` means the images already are.
            Default: ``None``
        preprocessing (mapping, optional): settings of ``transform`` to record in the
            checkpoint. Default: ``None``
        workers (int, optional): processes that preprocess the datasets. Default: 0
        data_augmentation (bool, optional): apply :func:`default_data_augmentation` (flips,
            rotations, brightness/contrast jitter) to the training batches. Default: ``True``
        balance (bool, optional): sample grades equally often (:func:`balanced_sample_weights`).
            Default: ``True``
        referable_grade (int, optional): smallest referable grade. Default: 2
        max_grade (int, optional): highest grade, for kappa. Default: 4

    Optimisation:
        epochs (int): total number of epochs (including those of a resumed run).
        batch_size (int): images per step.
        lr (float, optional): Adam learning rate. Default: 1e-4
        loss (str, optional): ``"mse"`` (the paper's) or ``"all_threshold"`` (an ordinal loss
            on the same single output; :mod:`~captum_iterative.fundus.losses`), recorded in the
            checkpoints. Default: ``"mse"``
        seed (int, optional): seed of initialisation, sampling, data augmentation and
            dropout. Default: 0
        device (str or torch.device, optional): training device. Default: ``"cpu"``

    Output:
        out (path, optional): best checkpoint file. Default: ``"classifier.pt"``
        resume (bool, optional): continue from ``<out stem>.last<suffix>``. Default: ``False``
        progress (bool, optional): show tqdm progress bars. Default: ``True``

    Raises:
        ValueError: ``epochs``, ``batch_size`` or ``input_size`` not a positive int, or ``lr``
            not positive.

    Examples::

        >>> config = TrainConfig(arch="vgg_tiny", epochs=10, batch_size=16, out="runs/m.pt")
        >>> config.last_path.name
        'm.last.pt'
    """

    # model
    arch: str
    input_size: int = 512
    create_kwargs: Mapping[str, Any] | None = None
    init: InitWeights | None = None
    channels_last: bool = False
    # data
    transform: SampleTransform | None = None
    preprocessing: Mapping[str, Any] | None = None
    workers: int = 0
    data_augmentation: bool = True
    balance: bool = True
    referable_grade: int = 2
    max_grade: int = 4
    # optimisation
    epochs: int
    batch_size: int
    lr: float = 1e-4
    loss: str = "mse"
    seed: int = 0
    device: str | torch.device = "cpu"
    # output
    out: str | os.PathLike[str] = "classifier.pt"
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "input_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"`lr` must be positive, got {self.lr!r}")

    @property
    def out_path(self) -> Path:
        """The best checkpoint's file."""
        return Path(self.out)

    @property
    def last_path(self) -> Path:
        """The last epoch's checkpoint: ``<out stem>.last<suffix>``."""
        out = self.out_path
        return out.with_name(f"{out.stem}.last{out.suffix}")

    @property
    def memory_format(self) -> torch.memory_format:
        """The model's and the batches' memory format (``channels_last``)."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def model_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``create_classifier``: one output and ``create_kwargs``."""
        return {"num_outputs": 1, **(self.create_kwargs or {})}

    def checkpoint_record(self) -> dict[str, Any]:
        """The optimisation settings that the last checkpoint records as ``train_config``."""
        return {
            "lr": self.lr,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "epochs": self.epochs,
            "channels_last": self.channels_last,
            "loss": self.loss,
        }
