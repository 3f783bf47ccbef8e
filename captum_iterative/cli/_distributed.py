"""Processes and devices: the torchrun process group, devices, signals, deterministic kernels.

Launched by ``torchrun`` (every :data:`TORCHRUN_ENV` variable set), a process joins the
:mod:`torch.distributed` group (``gloo`` on CPU, ``nccl`` on CUDA with ``LOCAL_RANK`` choosing
the GPU); launched plainly, it runs alone. SIGTERM (preemption) is handled like Ctrl-C.
"""

from __future__ import annotations

import datetime
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from captum_iterative._argparse import UsageError

__all__ = [
    "TORCHRUN_ENV",
    "Group",
    "Terminated",
    "determinism",
    "resolve_device",
    "signal_name",
    "sigterm_interrupts",
    "start_group",
    "stop_group",
    "torchrun_place",
]

#: Environment variables set by ``torchrun`` for every process it starts.
TORCHRUN_ENV: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class Terminated(KeyboardInterrupt):
    """SIGTERM (sent by SLURM, Kubernetes and torchrun on preemption), handled like Ctrl-C.

    Attributes:
        signum (int): the signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
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


def signal_name(interrupt: KeyboardInterrupt) -> str:
    return signal.Signals(interrupt.signum).name if isinstance(interrupt, Terminated) else "SIGINT"


@dataclass(frozen=True)
class Group:
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


def resolve_device(name: str, local_rank: int | None) -> torch.device:
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


def torchrun_place() -> tuple[int, int] | None:
    """``(rank, world_size)`` when launched by torchrun (every :data:`TORCHRUN_ENV` variable
    set, rank and world size integers); ``None`` for a plain process, whatever else is set."""
    if not all(name in os.environ for name in TORCHRUN_ENV):
        return None
    try:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    except ValueError:
        return None


def start_group(device_name: str, timeout_minutes: float) -> tuple[Group, torch.device]:
    """Join the torchrun process group when launched by torchrun; else one plain process."""
    if torchrun_place() is None:
        return Group(), resolve_device(device_name, None)
    device = resolve_device(device_name, int(os.environ["LOCAL_RANK"]))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        timeout=datetime.timedelta(minutes=timeout_minutes),
        device_id=device if device.type == "cuda" else None,
    )
    return Group(dist.get_rank(), dist.get_world_size(), backend), device


def stop_group(group: Group) -> None:
    if group.distributed and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def determinism(enabled: bool) -> Iterator[None]:
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
