r"""The ``captum-iterative`` command line: ``explain``, ``evaluate`` and ``bench``.

``explain`` runs the iterative augmentation on image files, folders or a registered dataset and
writes, per image and method, the cache file of :mod:`captum_iterative.experiments.cache`
(``<out>/<method>/<image_id>.npz``) and an overlay (``<out>/<method>/<image_id>.png``: image |
initial map | augmented map), plus one run manifest ``<out>/manifest.json``.

Scale-out uses :mod:`torch.distributed` and nothing home-made: launched by ``torchrun`` (the
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` variables are
set), every process joins the process group (``gloo`` on CPU, ``nccl`` on CUDA with
``LOCAL_RANK`` choosing the GPU), takes the images ``sorted_images[rank::world_size]`` and writes
its own files; the per-process counts and failures are gathered with ``all_gather_object`` and
rank 0 writes the manifest. Launched plainly, the same command runs as one process. Every image
is explained independently of the others in its batch, so a sharded run writes the same files as
a single-process run.

Every file is written to a hidden temporary name in its final folder and renamed when complete,
so an interrupted run never leaves a half-written output; ``--resume`` removes such leftovers
and computes only the missing files (refusing files made with other settings),
``--overwrite`` replaces existing files, and without either a folder that already holds outputs
of the run is refused. SIGTERM (preemption) is handled like Ctrl-C: the completed files stay,
the manifest records them and the exit status is 143 (130 for SIGINT).

User errors (bad paths or options, an unreadable checkpoint, an empty folder, an output folder
that is not writable) end the command with one line ``captum-iterative: error: ...`` on stderr
and exit status 2. A problem with one image (damaged file, no field of view, ...) is reported on
stderr, recorded in the manifest and does not stop the other images; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pickle
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from captum_iterative._env import software_versions
from captum_iterative._files import (
    TEMP_GLOB,
    UnreadableTorchFile,
    atomic_write_bytes,
    file_sha256,
    load_torch_file,
)
from captum_iterative._warnings import each_warning_once
from captum_iterative.experiments.cache import (
    Explanation,
    explanation_path,
    load_explanation,
    load_meta,
    save_explanation,
)
from captum_iterative.experiments.methods import METHODS
from captum_iterative.experiments.runner import (
    INPAINTERS,
    ExperimentConfig,
    config_explainer,
    format_tables,
    input_key,
    model_fingerprint,
    model_key,
    run_localization,
)
from captum_iterative.fundus.datasets import FundusDataset, list_datasets, open_dataset
from captum_iterative.fundus.models import create_classifier
from captum_iterative.fundus.preprocess import fov_mask, preprocess_fundus, to_tensor
from captum_iterative.io import (
    IMAGE_SUFFIXES,
    check_image_suffix,
    image_id,
    list_images,
    read_image,
)
from captum_iterative.viz import overlay, to_display_image

__all__ = ["PROG", "build_parser", "main"]

#: Program name used in messages.
PROG = "captum-iterative"
#: Name of the run manifest written under ``--out``.
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "captum_iterative.explain-manifest/1"
#: Environment variables set by ``torchrun`` for every process it starts.
TORCHRUN_ENV: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: Environment variable holding a dataset's root when ``--root`` is not given.
ROOT_ENV: dict[str, str] = {
    "diaretdb1": "DIARETDB1_ROOT",
    "aptos2019": "APTOS_ROOT",
    "aptos": "APTOS_ROOT",
    "dr600": "DR600_ROOT",
    "dr-image-dataset": "DR600_ROOT",
}
#: The fields of :class:`ExperimentConfig` that ``explain`` uses (recorded in the manifest).
_MAP_SETTINGS: tuple[str, ...] = (
    "methods",
    "max_iter",
    "alpha",
    "inpainter",
    "inpaint_radius",
    "use_fov",
    "batch_size",
    "device",
)
#: Benchmark scripts of ``bench``, in the source checkout's ``benchmarks/`` folder.
BENCHMARKS: dict[str, str] = {"loop": "bench_loop.py", "inpaint": "bench_inpaint.py"}


#: An image whose field of view is enlarged more than this many times on its way to the model
#: input is reported with a warning (the model then sees mostly interpolation).
UPSCALE_WARNING = 4.0


class UsageError(Exception):
    """A problem with the user's input; ``main`` prints it as one line and exits with 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (sent by SLURM, Kubernetes and torchrun on preemption), handled like Ctrl-C.

    Attributes:
        signum (int): the signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`Terminated` as SIGINT raises KeyboardInterrupt
    (main thread only; the previous handler is restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line: ``captum-iterative: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _method_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected at least one method name")
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}"
        )
    return list(dict.fromkeys(names))


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _add_classifier_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "classifier",
        "Either a checkpoint written by captum_iterative.fundus.train (--checkpoint), or an "
        "architecture with a state dict and a threshold (--arch, --weights, --threshold). With "
        "neither, the checkpoint shipped with the package is used.",
    )
    group.add_argument(
        "--checkpoint",
        type=Path,
        help="classifier checkpoint of fundus.train (default: the shipped checkpoint)",
    )
    group.add_argument(
        "--arch",
        help="architecture of fundus.models.create_classifier (vgg16_paper, inception_v3, "
        "vgg_tiny or any timm name), with --weights and --threshold; with --checkpoint, the "
        "architecture the checkpoint must hold (default: none)",
    )
    group.add_argument(
        "--weights",
        type=Path,
        help="state dict (torch.save) of the --arch classifier or of its timm backbone "
        "(default: none)",
    )
    group.add_argument(
        "--threshold",
        type=_finite_float,
        help="prediction threshold th_pred; images scoring below it are not explained "
        "(default: the checkpoint's th_pred)",
    )
    group.add_argument(
        "--size",
        type=_positive_int,
        help="model input side S in pixels (default: the checkpoint's input size; 512 with --arch)",
    )
    group.add_argument(
        "--deterministic",
        action="store_true",
        help="ask PyTorch for deterministic kernels (torch.use_deterministic_algorithms, "
        "warn-only; cuDNN autotuning off; CUBLAS_WORKSPACE_CONFIG=:4096:8 unless set): CUDA "
        "kernels are otherwise free to add in any order, and the Otsu masks turn those "
        "rounding differences into different maps between runs (default: off; CPU runs repeat "
        "bit for bit without it under the same thread settings and kernels; it does not make "
        "results independent of the thread count or instruction set, see docs/cli.md)",
    )
    group.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:N, or auto: CUDA when available; under torchrun, cuda means "
        "cuda:LOCAL_RANK (default: %(default)s)",
    )


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dataset")
    group.add_argument(
        "--dataset",
        help=f"a loader of fundus.datasets.open_dataset: {', '.join(list_datasets())} "
        "(default: none)",
    )
    group.add_argument(
        "--root",
        type=Path,
        help="the dataset's folder (default: $DIARETDB1_ROOT for diaretdb1, $APTOS_ROOT for "
        "aptos2019, else $<NAME>_ROOT)",
    )
    group.add_argument(
        "--dataset-option",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument of the dataset loader, e.g. split=test; repeatable; VALUE is "
        "read as JSON when it parses, else as a string (default: none)",
    )


def _add_loop_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("method")
    group.add_argument(
        "--methods",
        type=_method_list,
        default=["guided_backprop"],
        help=f"comma-separated Table I methods: {', '.join(METHODS)} (default: guided_backprop)",
    )
    group.add_argument(
        "--max-iter",
        type=_positive_int,
        default=20,
        help="most maps per image, T (default: %(default)s)",
    )
    group.add_argument(
        "--alpha",
        type=_positive_float,
        default=0.6,
        help="map weights exp(-alpha t), t = 1, 2, ... (default: %(default)s)",
    )
    group.add_argument(
        "--inpainter",
        choices=INPAINTERS,
        default="ns",
        help="ns: OpenCV Navier-Stokes (the paper's), telea: OpenCV Telea, both radius 3 on "
        "the 8-bit image; pyramid: the torch push-pull inpainter (default: %(default)s)",
    )
    group.add_argument(
        "--fov",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="use the field of view as `valid`: Otsu thresholds, inpainting and the maps stay "
        "inside it (default: --fov)",
    )
    group.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1,
        help="images per loop call; with 1, an image's maps and scores do not depend on which "
        "process explains it or on the other images of the run (bit-identical under the same "
        "thread settings and CPU kernels, equal to rounding level across machines: "
        "docs/cli.md); larger batches are faster on a GPU but change the floats at rounding "
        "level with the batch's other images (default: %(default)s)",
    )


_EXPLAIN_DESCRIPTION = """\
Explain every image with each method through the iterative augmentation loop and write
  <out>/<method>/<image_id>.npz   maps, iterations, scores (experiments.cache format)
  <out>/<method>/<image_id>.png   image | initial map | augmented map
  <out>/manifest.json             settings, versions, per-process counts, failures
Images are preprocessed like the classifier's training images (field-of-view crop, resize
to S, Graham enhancement as the checkpoint records) unless --no-preprocess.

Exit status: 0 all done, 1 some images failed (listed in the manifest), 2 usage error.
Shard over processes, GPUs or machines with torchrun (see docs/cli.md), e.g.
  torchrun --standalone --nproc_per_node 8 -m captum_iterative explain --dataset ...
"""


def _explain_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="initial and augmented maps of image files, folders or a dataset",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_EXPLAIN_DESCRIPTION,
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        help=f"image files and folders of images ({' '.join(sorted(IMAGE_SUFFIXES))}); "
        "not with --dataset",
    )
    images = parser.add_argument_group("images")
    images.add_argument(
        "--recursive",
        action="store_true",
        help="also take the images in sub-folders of the folders, except this program's "
        "outputs (--out, earlier explain runs, evaluate reports) (default: off)",
    )
    images.add_argument(
        "--no-preprocess",
        dest="preprocess",
        action="store_false",
        help="the images already are S x S model inputs: no crop, resize or enhancement; the "
        "field of view is then detected on them as red > 40, which is all of a "
        "Graham-enhanced image (default: preprocess)",
    )
    _add_data_options(parser)
    _add_classifier_options(parser)
    _add_loop_options(parser)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out", type=Path, default=Path("out/explain"), help="output folder (default: %(default)s)"
    )
    mode = output.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="keep existing outputs, compute only the missing ones and remove the temporary "
        "files of an interrupted run; outputs made with other settings are refused "
        "(default: off)",
    )
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs; without --resume or --overwrite, a folder already "
        "holding outputs of this run is refused (default: off)",
    )
    output.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars; the summary is still printed (default: bars on a terminal)",
    )
    output.add_argument(
        "--timeout",
        type=_positive_float,
        default=1440.0,
        help="minutes a process waits for the others at a torch.distributed collective "
        "(default: %(default)s)",
    )
    parser.set_defaults(handler=_explain)


def _evaluate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="FROC tables and curves of the maps against a dataset's lesion masks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The paper's localization experiment (experiments.runner.run_localization):"
        "\npreprocess the dataset, keep the images predicted referable, compute or reuse the "
        "maps of each\nmethod, score them by FROC per lesion type (SE at --fps false positives "
        "per image) and write\ntable.md, table.csv, per_image.csv, froc_<type>.png, "
        "overlays.png, scores.json and settings.json\nunder --out. Maps cached in <out>/cache "
        "are reused when their settings match, so maps computed\nby `explain --dataset NAME "
        "--out <out>/cache` (same method options) are scored, not recomputed.",
    )
    _add_data_options(parser)
    _add_classifier_options(parser)
    _add_loop_options(parser)
    scoring = parser.add_argument_group("scoring")
    scoring.add_argument(
        "--radius",
        type=_positive_float,
        default=7.0,
        help="FROC detection radius in pixels at 512 px, scaled to S: 7 for DR, 10 for AMD "
        "(default: %(default)s)",
    )
    scoring.add_argument(
        "--fps",
        type=_positive_float,
        default=10.0,
        help="false positives per image of the reported sensitivity (default: %(default)s)",
    )
    scoring.add_argument(
        "--all-images",
        dest="referable_only",
        action="store_false",
        help="explain and score every image, not only those predicted referable (default: "
        "referable only, as in the paper)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        default=Path("out/evaluate"),
        help="report folder; maps are cached in <out>/cache (default: %(default)s)",
    )
    output.add_argument(
        "--no-progress", action="store_true", help="no progress bars (default: bars shown)"
    )
    parser.set_defaults(handler=_evaluate)


def _bench_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run the benchmark suite (benchmarks/*.py of a source checkout)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the benchmark scripts of the source checkout's benchmarks/ folder "
        f"({', '.join(f'{k}: {v}' for k, v in BENCHMARKS.items())}),\neach in a fresh "
        "Python process, echo their output, and write one JSON results file (command, exit "
        "status,\nseconds and output of each script, software versions). Arguments after "
        "`--` go to every script, e.g.\n  captum-iterative bench --suite loop -- --device cuda",
    )
    parser.add_argument(
        "--suite",
        default=",".join(BENCHMARKS),
        help=f"comma-separated benchmarks to run (default: {','.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--benchmarks",
        type=Path,
        help="folder holding the scripts (default: benchmarks/ next to the package)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results file (default: <benchmarks>/results/bench-<date>-<time>.json)",
    )
    parser.add_argument(
        "script_args", nargs=argparse.REMAINDER, help="arguments passed to every script"
    )
    parser.set_defaults(handler=_bench)


def build_parser() -> argparse.ArgumentParser:
    """The ``captum-iterative`` argument parser: subcommands ``explain``, ``evaluate``, ``bench``.

    Returns:
        argparse.ArgumentParser: parses ``argv`` into a namespace whose ``handler`` runs it.
    """
    parser = _Parser(
        prog=PROG,
        description="Iterative augmentation of visual evidence (González-Gonzalo et al., IEEE "
        "TMI 2020) for Captum attributions of retinal images. Run `captum-iterative COMMAND "
        "--help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True)
    _explain_parser(subparsers)
    _evaluate_parser(subparsers)
    _bench_parser(subparsers)
    return parser


def _version() -> str:
    from captum_iterative import __version__

    return __version__


# --------------------------------------------------------------------------------------------
# Processes and devices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """This process's place in the run: rank, world size and process-group backend."""

    rank: int = 0
    world: int = 1
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.backend is not None

    def gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order (``all_gather_object``)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def _resolve_device(name: str, local_rank: int | None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device: unknown device {name!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: CUDA is not available on this machine")
        if device.index is None:
            index = local_rank if local_rank is not None else torch.cuda.current_device()
            device = torch.device("cuda", index)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    elif device.type != "cpu" and local_rank is not None:
        raise UsageError(f"--device {name}: torchrun runs support cpu and cuda only")
    return device


def _torchrun_place() -> tuple[int, int] | None:
    """``(rank, world_size)`` when launched by torchrun (every :data:`TORCHRUN_ENV` variable
    set, rank and world size integers); ``None`` for a plain process, whatever else is set."""
    if not all(name in os.environ for name in TORCHRUN_ENV):
        return None
    try:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    except ValueError:
        return None


def _start_group(device_name: str, timeout_minutes: float) -> tuple[_Group, torch.device]:
    """Join the torchrun process group when launched by torchrun; else one plain process."""
    if _torchrun_place() is None:
        return _Group(), _resolve_device(device_name, None)
    device = _resolve_device(device_name, int(os.environ["LOCAL_RANK"]))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        timeout=datetime.timedelta(minutes=timeout_minutes),
        device_id=device if device.type == "cuda" else None,
    )
    return _Group(dist.get_rank(), dist.get_world_size(), backend), device


def _stop_group(group: _Group) -> None:
    if group.distributed and dist.is_initialized():
        dist.destroy_process_group()


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """One image to explain: its identifier, where it comes from, and its dataset index."""

    id: str
    source: str
    index: int | None = None


def _dataset_root(name: str, root: Path | None) -> Path:
    if root is not None:
        return root
    variable = ROOT_ENV.get(name.lower(), f"{name.upper().replace('-', '_')}_ROOT")
    value = os.environ.get(variable)
    if not value:
        raise UsageError(f"--dataset {name} needs --root PATH or the {variable} variable")
    return Path(value)


def _open_dataset(args: argparse.Namespace) -> FundusDataset:
    root = _dataset_root(args.dataset, args.root)
    try:
        return open_dataset(args.dataset, root, **dict(args.dataset_option))
    except TypeError as error:
        raise UsageError(f"--dataset-option: {error}") from error
    except (ValueError, OSError) as error:
        raise UsageError(f"--dataset {args.dataset}: {error}") from error


def _is_explain_output(folder: Path) -> bool:
    """Whether ``folder`` holds the manifest of an ``explain`` run."""
    try:
        record = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("format") == MANIFEST_FORMAT


def _outputs_below(root: Path, out: Path) -> list[Path]:
    """Folders below ``root`` that hold this program's outputs rather than input images.

    They are ``out`` itself when it lies strictly inside ``root``; the method folders
    (``<folder>/<method>/``) of ``out`` and of every earlier ``explain`` run (a folder holding
    its manifest); and the report folders of ``evaluate`` (``settings.json`` with
    ``table.md``).
    """
    root, out = root.resolve(), out.resolve()
    found = [out] if out != root and out.is_relative_to(root) else []
    runs = [out, *(manifest.parent for manifest in root.rglob(MANIFEST))]
    found += [
        run / method for run in runs if _is_explain_output(run) or run == out for method in METHODS
    ]
    found += [
        report.parent
        for report in root.rglob("settings.json")
        if (report.parent / "table.md").is_file() and report.parent != root
    ]
    return found


def _file_items(inputs: Sequence[Path], recursive: bool, out: Path) -> list[_Item]:
    """The images of the input files and folders; with ``recursive``, the outputs of this
    program found in the folders (``--out`` among them) are left out."""
    items: list[_Item] = []
    for path in inputs:
        if path.is_dir():
            files = list_images(path, recursive=recursive)
            if recursive:
                skip = _outputs_below(path, out)
                files = [
                    file
                    for file in files
                    if not any(file.resolve().is_relative_to(folder) for folder in skip)
                ]
            if not files:
                raise UsageError(
                    f"no image file in folder {path} (extensions: "
                    f"{' '.join(sorted(IMAGE_SUFFIXES))}{'' if recursive else '; --recursive'})"
                )
            items += [_Item(image_id(file, path), str(file.resolve())) for file in files]
        elif path.is_file():
            try:
                check_image_suffix(path)
            except ValueError as error:
                raise UsageError(str(error)) from None
            items.append(_Item(path.stem, str(path.resolve())))
        else:
            raise UsageError(f"input not found: {path}")
    return items


def _collect_items(args: argparse.Namespace) -> tuple[list[_Item], FundusDataset | None]:
    """The images of the run, sorted by identifier, and the dataset they come from, if any."""
    dataset = None
    if args.dataset is not None:
        dataset = _open_dataset(args)
        items = [_Item(i, f"{args.dataset}:{i}", k) for k, i in enumerate(dataset.ids)]
    elif args.inputs:
        items = _file_items(args.inputs, args.recursive, args.out)
    else:
        raise UsageError("nothing to explain: give image files or folders, or --dataset NAME")
    if not items:
        raise UsageError(f"dataset {args.dataset} has no image")
    by_name: dict[str, _Item] = {}
    for item in items:
        name = explanation_path(".", "m", item.id).name
        if name in by_name:
            raise UsageError(
                f"two images would share the output {name}: {by_name[name].source} and "
                f"{item.source}"
            )
        by_name[name] = item
    return sorted(items, key=lambda item: item.id), dataset


# --------------------------------------------------------------------------------------------
# Classifier
# --------------------------------------------------------------------------------------------


@dataclass
class _Classifier:
    """The model and what the run needs to know about it."""

    model: nn.Module
    threshold: float
    size: int
    enhance: bool
    square: bool
    record: dict[str, Any]


def _brief(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


_UNREADABLE = (ValueError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError, OSError)


def _load_checkpoint(path: Path | None, arch: str | None, device: torch.device) -> _Classifier:
    from captum_iterative.fundus.train import load_classifier, load_default_classifier

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
        raise UsageError(f"cannot use checkpoint {path}: {_brief(error)}") from error
    return _Classifier(
        model=model,
        threshold=info.th_pred,
        size=info.input_size,
        enhance=bool(info.preprocessing.get("enhance", True)),
        square=bool(info.preprocessing.get("square", True)),
        record={"checkpoint": source, **asdict(info)},
    )


def _fit_weights(model: nn.Module, state: Any, arch: str, path: Path) -> None:
    """Load a classifier or backbone state dict into ``model`` (strict)."""
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise UsageError(f"--weights {path}: not a state dict")
    target = model if any(k.startswith("backbone.") for k in state) else model.backbone
    assert isinstance(target, nn.Module)
    result = target.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("normalize.")]
    if missing or result.unexpected_keys:
        raise UsageError(
            f"--weights {path} do not fit --arch {arch}: {len(missing)} missing key(s) "
            f"{missing[:3]}, {len(result.unexpected_keys)} unexpected key(s) "
            f"{result.unexpected_keys[:3]}"
        )


def _load_arch(args: argparse.Namespace, device: torch.device) -> _Classifier:
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
    try:
        _fit_weights(model, state, args.arch, args.weights)
    except RuntimeError as error:
        raise UsageError(
            f"--weights {args.weights} do not fit --arch {args.arch}: {error}"
        ) from error
    model.to(device).eval()
    return _Classifier(
        model=model,
        threshold=args.threshold,
        size=args.size or 512,
        enhance=True,
        square=True,
        record={"arch": args.arch, "weights": str(args.weights.resolve())},
    )


@contextmanager
def _determinism(enabled: bool) -> Iterator[None]:
    """Deterministic PyTorch kernels inside the block (process-wide settings, restored after)."""
    if not enabled:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark = saved[2]


def _check_combinations(args: argparse.Namespace) -> None:
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


def _load_classifier(args: argparse.Namespace, device: torch.device) -> _Classifier:
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


def _check_input_size(classifier: _Classifier, device: torch.device, name: str) -> None:
    """Refuse an input size the model cannot take, before any image is read: one forward
    pass of a black ``(1, 3, S, S)`` image."""
    size = classifier.size
    probe = torch.zeros(1, 3, size, size, device=device)
    try:
        with torch.no_grad():
            classifier.model(probe)
    except RuntimeError as error:
        raise UsageError(
            f"{name} {size}: the classifier cannot take {size} x {size} inputs "
            f"({_brief(error, 160)})"
        ) from error


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp.json", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise UsageError(f"output folder {folder} is not writable: {error}") from error


def _remove_leftovers(folders: Sequence[Path]) -> int:
    """Delete the hidden temporary files of interrupted writes; returns how many."""
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.glob(TEMP_GLOB):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _overlay_image(image: np.ndarray, initial: np.ndarray, augmented: np.ndarray) -> np.ndarray:
    """``(S, 3 S + 8, 3)`` ``uint8`` RGB panel: image | initial map | augmented map."""
    gap = np.ones((image.shape[0], 4, 3))
    panel = np.concatenate(
        [to_display_image(image), gap, overlay(image, initial), gap, overlay(image, augmented)],
        axis=1,
    )
    return np.clip(np.rint(panel * 255.0), 0, 255).astype(np.uint8)


def _png_bytes(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


# --------------------------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------------------------


@dataclass
class _Loaded:
    """One image in the model's frame: ``(S, S, 3)`` uint8, ``(S, S)`` bool FOV, metadata."""

    image: np.ndarray
    fov: np.ndarray | None
    meta: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Tally:
    """What one process did; gathered by rank 0 for the manifest and the summary."""

    rank: int
    images: int = 0
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        done = len(self.done - self.failed)
        return {
            "rank": self.rank,
            "images": self.images,
            "done": done,
            "skipped": self.images - done - len(self.failed),
            "failed": len(self.failed),
            "seconds": round(self.seconds, 3),
        }


def _config(args: argparse.Namespace, device: torch.device, **extra: Any) -> ExperimentConfig:
    """The :class:`ExperimentConfig` of the loop options shared by ``explain`` and ``evaluate``."""
    return ExperimentConfig(
        methods=tuple(args.methods),
        max_iter=args.max_iter,
        alpha=args.alpha,
        inpainter=args.inpainter,
        batch_size=args.batch_size,
        device=str(device),
        use_fov=args.fov,
        **extra,
    )


class _ExplainRun:
    """The settings of an ``explain`` run and the per-image work of one process."""

    def __init__(
        self,
        args: argparse.Namespace,
        classifier: _Classifier,
        dataset: FundusDataset | None,
        device: torch.device,
    ) -> None:
        self.out: Path = args.out
        self.classifier = classifier
        self.dataset = dataset
        self.device = device
        self.preprocess: bool = args.preprocess
        self.overwrite: bool = args.overwrite
        self.config = _config(args, device)
        self.explainers = {}
        for name in self.config.methods:
            try:
                self.explainers[name] = config_explainer(
                    self.config, name, classifier.model, classifier.threshold
                )
            except (ValueError, TypeError) as error:
                raise UsageError(f"--methods {name}: {error}") from error
        self.settings = self._map_settings()
        # the keys the runner checks before reusing a map (``evaluate`` on this folder), and the
        # settings ``--resume`` checks before keeping a file
        self.common_meta = {
            "cache_key": self.config.cache_key(),
            "model_key": model_key(self.config, classifier.model, classifier.threshold),
            "config": asdict(self.config),
            "explain_settings": self.settings,
        }

    def _map_settings(self) -> dict[str, Any]:
        """Every setting that changes an image's maps, by name (recorded in each ``.npz``).

        Batch size and device type are among them: they change the floats at rounding level.
        """
        config = self.config
        settings = {
            "max_iter": config.max_iter,
            "alpha": config.alpha,
            "inpainter": config.inpainter,
            "inpaint_radius": config.inpaint_radius,
            "fov": config.use_fov,
            "method_kwargs": config.method_kwargs,
            "classifier weights": model_fingerprint(self.classifier.model),
            "threshold": float(self.classifier.threshold),
            "size": self.classifier.size,
            "preprocess": self.preprocess,
            "enhance": self.classifier.enhance,
            "square": self.classifier.square,
            "batch_size": config.batch_size,
            "device type": self.device.type,
        }
        # as a file's meta record reads back (tuples become lists), so the two compare equal
        return dict(json.loads(json.dumps(settings, default=str)))

    def conflicts(self, items: Sequence[_Item]) -> tuple[list[Path], list[str]]:
        """Existing ``.npz`` outputs made with other settings, and how those settings differ.

        Returns:
            tuple[list[Path], list[str]]: the files, and one ``"name: old -> new"`` entry per
            differing setting (an unreadable file or one without a settings record counts too).
        """
        files: list[Path] = []
        differences: dict[str, None] = {}
        for item in items:
            for method in self.config.methods:
                npz = self.paths(item, method)[0]
                if not npz.exists():
                    continue
                try:
                    old = load_meta(npz).get("explain_settings")
                except ValueError:
                    files.append(npz)
                    differences["unreadable file"] = None
                    continue
                if old == self.settings:
                    continue
                files.append(npz)
                if not isinstance(old, dict):
                    differences["no settings record (an earlier version's file)"] = None
                    continue
                for name, new in self.settings.items():
                    if old.get(name) != new:
                        differences[f"{name}: {old.get(name)!r} -> {new!r}"] = None
        return files, list(differences)

    # -- outputs ---------------------------------------------------------------------------

    def paths(self, item: _Item, method: str) -> tuple[Path, Path]:
        """``(npz, png)`` output files of ``item`` by ``method``."""
        npz = explanation_path(self.out, method, item.id)
        return npz, npz.with_suffix(".png")

    def existing(self, items: Sequence[_Item]) -> list[Path]:
        found = [
            path
            for item in items
            for method in self.config.methods
            for path in self.paths(item, method)
            if path.exists()
        ]
        manifest = self.out / MANIFEST
        return [manifest, *found] if manifest.exists() else found

    def todo(self, item: _Item) -> dict[str, tuple[bool, bool]]:
        """Method -> (compute the maps, render the overlay) for ``item``; done methods left out."""
        work = {}
        for method in self.config.methods:
            npz, png = self.paths(item, method)
            compute = self.overwrite or not npz.exists()
            render = compute or not png.exists()
            if compute or render:
                work[method] = (compute, render)
        return work

    # -- images ----------------------------------------------------------------------------

    def load(self, item: _Item) -> _Loaded:
        size = self.classifier.size
        if item.index is not None:
            assert self.dataset is not None
            sample = self.dataset.load(item.index)
            image, fov = sample.image, sample.fov
        else:
            image, fov = read_image(item.source), None
        meta: dict[str, Any] = {"source": item.source, "preprocessed": self.preprocess}
        if not self.preprocess:
            if image.shape != (size, size, 3):
                raise ValueError(
                    f"the image is {image.shape[1]}x{image.shape[0]}, but --no-preprocess "
                    f"needs {size}x{size} model inputs"
                )
            if self.config.use_fov and fov is None:
                fov = fov_mask(image)
            return _Loaded(image, fov if self.config.use_fov else None, meta)
        pre = preprocess_fundus(
            image, size, fov=fov, enhance=self.classifier.enhance, square=self.classifier.square
        )
        meta.update(
            bbox=list(pre.bbox),
            original_shape=list(pre.original_shape),
            scale=list(pre.scale),
            radius=pre.radius,
        )
        notes = []
        if max(pre.scale) > UPSCALE_WARNING:
            y0, y1, x0, x1 = pre.bbox
            notes.append(
                f"the image is {image.shape[1]}x{image.shape[0]} (field of view "
                f"{x1 - x0}x{y1 - y0}), upscaled {max(pre.scale):.1f} times to the "
                f"{size}x{size} model input"
            )
        return _Loaded(pre.image, pre.fov if self.config.use_fov else None, meta, notes)

    # -- work ------------------------------------------------------------------------------

    def explain(
        self, method: str, items: Sequence[_Item], loaded: Sequence[_Loaded]
    ) -> list[Explanation]:
        """Run the loop of ``method`` on one batch; one :class:`Explanation` per image."""
        explainer, kwargs = self.explainers[method]
        inputs = [to_tensor(image.image) for image in loaded]
        batch = torch.stack(inputs).to(self.device)
        valid = None
        if self.config.use_fov:  # load() then gives every image its FOV
            fovs = [image.fov for image in loaded if image.fov is not None]
            valid = torch.from_numpy(np.stack(fovs))[:, None].to(self.device)
        result = explainer.explain(batch, valid=valid, **kwargs)
        return [
            Explanation.from_result(
                result,
                i,
                item.id,
                method,
                input_key=input_key(x, image.fov),
                **image.meta,
                **self.common_meta,
            )
            for i, (item, image, x) in enumerate(zip(items, loaded, inputs, strict=True))
        ]

    def write(
        self,
        item: _Item,
        method: str,
        loaded: _Loaded,
        explanation: Explanation | None,
        render: bool,
    ) -> None:
        """Save ``explanation`` (when computed) and render the overlay (when ``render``).

        With ``explanation=None`` the maps are read back from the existing ``.npz``.
        """
        npz, png = self.paths(item, method)
        if explanation is not None:
            save_explanation(npz, explanation)
        if render:
            shown = explanation if explanation is not None else load_explanation(npz)
            panel = _overlay_image(loaded.image, shown.initial, shown.augmented)
            atomic_write_bytes(png, _png_bytes(panel))


_FailFn = Callable[[_Item, "str | None", str, Exception], None]


def _explain_group(
    run: _ExplainRun,
    method: str,
    items: Sequence[_Item],
    loaded: dict[str, _Loaded],
    fail: _FailFn,
) -> dict[str, Explanation]:
    """Explain ``items`` together; if that fails, one by one so that a bad image fails alone."""
    try:
        explained = run.explain(method, items, [loaded[item.id] for item in items])
        return {item.id: e for item, e in zip(items, explained, strict=True)}
    except Exception as error:  # per-image problems are recorded, not raised
        if len(items) == 1:
            fail(items[0], method, "explain", error)
            return {}
    results = {}
    for item in items:
        try:
            results[item.id] = run.explain(method, [item], [loaded[item.id]])[0]
        except Exception as error:
            fail(item, method, "explain", error)
    return results


def _process_batch(
    run: _ExplainRun, batch: Sequence[_Item], tally: _Tally, say: Callable[[str], None]
) -> None:
    """Explain one batch; per-image problems are recorded in ``tally`` and reported, not raised."""

    def fail(item: _Item, method: str | None, stage: str, error: Exception) -> None:
        record = {
            "image_id": item.id,
            "source": item.source,
            "method": method,
            "stage": stage,
            "error": f"{type(error).__name__}: {error}",
            "rank": tally.rank,
        }
        tally.failures.append(record)
        tally.failed.add(item.id)
        where = f" ({method})" if method else ""
        say(f"{PROG}: warning: {item.id}{where}: {record['error']}")

    work = {item.id: run.todo(item) for item in batch}
    loaded: dict[str, _Loaded] = {}
    for item in batch:
        if work[item.id]:
            try:
                loaded[item.id] = run.load(item)
            except Exception as error:  # one bad image must not stop the others
                fail(item, None, "read", error)
                continue
            for note in loaded[item.id].warnings:
                tally.warnings.append({"image_id": item.id, "source": item.source, "warning": note})
                say(f"{PROG}: warning: {item.id}: {note}")
    for method in run.config.methods:
        group = [item for item in batch if item.id in loaded and method in work[item.id]]
        compute = [item for item in group if work[item.id][method][0]]
        results = _explain_group(run, method, compute, loaded, fail) if compute else {}
        for item in group:
            needs_maps, render = work[item.id][method]
            if needs_maps and item.id not in results:
                continue
            try:
                run.write(item, method, loaded[item.id], results.get(item.id), render)
                tally.done.add(item.id)
            except Exception as error:
                fail(item, method, "write", error)


def _image_list_sha256(items: Sequence[_Item]) -> str:
    blob = "\n".join(f"{item.id}\t{item.source}" for item in items).encode()
    return hashlib.sha256(blob).hexdigest()


def _signal_name(interrupt: KeyboardInterrupt) -> str:
    return signal.Signals(interrupt.signum).name if isinstance(interrupt, Terminated) else "SIGINT"


def _write_json(path: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(record, indent=2, default=str) + "\n").encode())


def _manifest(
    args: argparse.Namespace,
    run: _ExplainRun,
    group: _Group,
    items: Sequence[_Item],
    tallies: Sequence[_Tally],
    leftovers: int,
    interrupted: str | None = None,
) -> dict[str, Any]:
    """The run's record; ``interrupted`` names the signal that stopped it early, if any (the
    counts are then what was completed)."""
    ranks = [tally.counts() for tally in tallies]
    done = sum(r["done"] for r in ranks)
    busy = sum(r["seconds"] for r in ranks)
    classifier = dict(run.classifier.record)
    checkpoint = classifier.get("checkpoint") or classifier.get("weights")
    if checkpoint and Path(checkpoint).is_file():
        classifier["sha256"] = file_sha256(checkpoint)
    return {
        "format": MANIFEST_FORMAT,
        "command": shlex.join([PROG, *sys.argv[1:]]),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "settings": {
            **{key: getattr(run.config, key) for key in _MAP_SETTINGS},
            "cache_key": run.config.cache_key(),
            "size": run.classifier.size,
            "threshold": run.classifier.threshold,
            "preprocess": run.preprocess,
            "enhance": run.classifier.enhance,
            "square": run.classifier.square,
            "dataset": args.dataset,
            "dataset_options": dict(args.dataset_option),
            "resume": args.resume,
            "overwrite": args.overwrite,
            "deterministic": args.deterministic,
        },
        "classifier": classifier,
        "versions": software_versions(),
        "images": {"count": len(items), "sha256": _image_list_sha256(items)},
        "world_size": group.world,
        "backend": group.backend,
        "ranks": ranks,
        "totals": {
            "images": len(items),
            "done": done,
            "skipped": sum(r["skipped"] for r in ranks),
            "failed": sum(r["failed"] for r in ranks),
            "seconds_per_image": round(busy / done, 4) if done else None,
            "leftovers_removed": leftovers,
        },
        "failures": [f for tally in tallies for f in tally.failures],
        "warnings": [w for tally in tallies for w in tally.warnings],
    }


def _summary(manifest: dict[str, Any], out: Path) -> str:
    totals = manifest["totals"]
    per_image = totals["seconds_per_image"]
    timing = "" if per_image is None else f"; {per_image:.3f} s per image per process"
    lines = [
        f"{PROG} explain: {totals['images']} image(s) x {len(manifest['settings']['methods'])} "
        f"method(s) on {manifest['world_size']} process(es): {totals['done']} done, "
        f"{totals['skipped']} skipped, {totals['failed']} failed{timing}",
    ]
    if manifest["world_size"] > 1:
        lines.append(
            "  per process: "
            + ", ".join(
                f"rank {r['rank']} {r['done']}/{r['images']} in {r['seconds']:.1f} s"
                for r in manifest["ranks"]
            )
        )
    lines.append(f"  outputs under {out}; manifest {out / MANIFEST}")
    return "\n".join(lines)


def _explain_setup(
    args: argparse.Namespace, device: torch.device
) -> tuple[_ExplainRun, list[_Item]]:
    items, dataset = _collect_items(args)
    classifier = _load_classifier(args, device)
    run = _ExplainRun(args, classifier, dataset, device)
    _check_writable(args.out)
    if not (args.resume or args.overwrite):
        existing = run.existing(items)
        if existing:
            raise UsageError(
                f"{args.out} already holds {len(existing)} output file(s) of this run (e.g. "
                f"{existing[0]}); pass --resume to keep them and compute only what is "
                "missing, or --overwrite to replace them"
            )
    if args.resume:
        files, differences = run.conflicts(items)
        if files:
            raise UsageError(
                f"--resume: {len(files)} existing output(s) under {args.out} were made with "
                f"other settings ({'; '.join(differences)}; e.g. {files[0]}); pass "
                "--overwrite to replace them, or choose another --out"
            )
    return run, items


def _explain(args: argparse.Namespace) -> int:
    _check_combinations(args)
    group, device = _start_group(args.device, args.timeout)
    try:
        setup: tuple[_ExplainRun, list[_Item]] | str
        try:
            setup = _explain_setup(args, device)
        except (UsageError, OSError, ValueError) as caught:
            setup = str(caught)
        # Every process stops when any of them cannot start, so that none waits forever.
        errors = group.gather(setup if isinstance(setup, str) else None)
        for rank, message in enumerate(errors):
            if message is not None:
                where = f"rank {rank}: " if group.distributed and rank != group.rank else ""
                raise UsageError(where + message)
        assert not isinstance(setup, str)
        run, items = setup
        leftovers = 0
        if group.rank == 0:
            leftovers = _remove_leftovers([args.out, *(args.out / m for m in run.config.methods)])
        group.barrier()
        mine = items[group.rank :: group.world]
        tally = _Tally(rank=group.rank, images=len(mine))
        desc = f"rank {group.rank}" if group.distributed else "explain"
        if group.rank == 0 and group.distributed:
            desc += f" ({len(items)} images on {group.world} processes)"
        bar = tqdm(
            total=len(mine),
            desc=desc,
            position=group.rank,
            unit="image",
            disable=True if args.no_progress else None,
        )

        def say(text: str) -> None:
            tqdm.write(text, file=sys.stderr)

        started = time.perf_counter()
        try:
            for first_index in range(0, len(mine), args.batch_size):
                batch = mine[first_index : first_index + args.batch_size]
                _process_batch(run, batch, tally, say)
                bar.update(len(batch))
                bar.set_postfix(failed=len(tally.failed))
        except KeyboardInterrupt as interrupt:  # SIGINT, or SIGTERM as Terminated
            tally.seconds = time.perf_counter() - started
            bar.close()
            # No collective here: the other processes may be stopping too, or still at work.
            name = f"manifest.rank{group.rank}.json" if group.distributed else MANIFEST
            manifest = _manifest(
                args, run, group, items, [tally], leftovers, interrupted=_signal_name(interrupt)
            )
            _write_json(args.out / name, manifest)
            raise
        tally.seconds = time.perf_counter() - started
        bar.close()
        tallies = group.gather(tally)
        if group.rank == 0:
            manifest = _manifest(args, run, group, items, tallies, leftovers)
            _write_json(args.out / MANIFEST, manifest)
            for partial in args.out.glob("manifest.rank*.json"):  # of an interrupted torchrun
                partial.unlink(missing_ok=True)
            print(_summary(manifest, args.out))
        failed = sum(len(t.failed) for t in tallies)
        return 1 if failed else 0
    finally:
        _stop_group(group)


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


def _evaluate(args: argparse.Namespace) -> int:
    if args.dataset is None:
        raise UsageError("evaluate needs --dataset NAME (a dataset with lesion masks)")
    _check_combinations(args)
    device = _resolve_device(args.device, None)
    dataset = _open_dataset(args)
    classifier = _load_classifier(args, device)
    config = _config(
        args, device, radius_at_512=args.radius, fps=args.fps, referable_only=args.referable_only
    )
    _check_writable(args.out)
    try:
        report = run_localization(
            dataset,
            classifier.model,
            classifier.threshold,
            args.out,
            config,
            size=classifier.size,
            enhance=classifier.enhance,
            classifier=classifier.record,
            dataset_name=args.dataset,
            progress=not args.no_progress,
        )
    except ValueError as error:
        raise UsageError(f"evaluate: {error}") from error
    print(format_tables(report, f"{args.dataset}: SE at {args.fps:g} FPs per image"))
    print(f"{PROG} evaluate: report under {args.out}")
    return 0


# --------------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------------


def _run_script(script: Path, script_args: Sequence[str]) -> dict[str, Any]:
    """Run one benchmark script in a fresh interpreter, echoing and keeping its stdout."""
    command = [sys.executable, str(script), *script_args]
    started = time.perf_counter()
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            lines.append(line)
    return {
        "script": script.name,
        "command": shlex.join(command),
        "returncode": process.returncode,
        "seconds": round(time.perf_counter() - started, 3),
        "stdout": "".join(lines),
    }


def _bench(args: argparse.Namespace) -> int:
    folder = args.benchmarks or Path(__file__).resolve().parent.parent / "benchmarks"
    names = [name.strip() for name in args.suite.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        raise UsageError(
            f"--suite: unknown benchmark(s) {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(BENCHMARKS)}"
        )
    scripts = [folder / BENCHMARKS[name] for name in names]
    missing = [str(script) for script in scripts if not script.is_file()]
    if missing:
        raise UsageError(
            f"benchmark script(s) not found: {', '.join(missing)} (bench runs from a source "
            "checkout, or pass --benchmarks FOLDER)"
        )
    script_args = list(args.script_args)
    if script_args[:1] == ["--"]:
        script_args = script_args[1:]
    out = args.out or folder / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    _check_writable(out.parent)
    runs = [_run_script(script, script_args) for script in scripts]
    results = {
        "format": "captum_iterative.bench/1",
        "command": shlex.join([PROG, *sys.argv[1:]]),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": software_versions(),
        "runs": runs,
    }
    atomic_write_bytes(out, (json.dumps(results, indent=2) + "\n").encode())
    failed = [run["script"] for run in runs if run["returncode"] != 0]
    status = f"; failed: {', '.join(failed)}" if failed else ""
    print(f"{PROG} bench: {len(runs)} benchmark(s) run, results in {out}{status}")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv (sequence of str, optional): arguments without the program name. Default: None
            (``sys.argv[1:]``).

    Returns:
        int: the exit status: 0 success, 1 some images failed (see the manifest), 2 a usage
        error (one line on stderr), 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Captum warns on every attribution call (GuidedBackprop's note on its ReLU hooks, ...):
        # once per run is enough.
        with (
            _sigterm_interrupts(),
            _determinism(getattr(args, "deterministic", False)),
            each_warning_once(),
        ):
            return int(args.handler(args))
    except UsageError as error:
        # Under torchrun every process meets the same usage error (or is told of another's), so
        # only rank 0 prints it; a plain process always does, whatever RANK says.
        place = _torchrun_place()
        if place is None or place[0] == 0 or place[1] == 1:
            print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        signum = interrupt.signum if isinstance(interrupt, Terminated) else signal.SIGINT
        print(
            f"{PROG}: interrupted by {_signal_name(interrupt)}; completed files stay, --resume "
            "continues",
            file=sys.stderr,
        )
        return 128 + int(signum)
