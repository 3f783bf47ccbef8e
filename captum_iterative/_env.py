"""What a result was measured on: machine, device and software versions (recorded with results)."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

__all__ = ["available_memory", "cpu_name", "machine_info", "software_versions"]

#: Packages whose versions shape the results.
_PACKAGES: tuple[str, ...] = (
    "torch",
    "captum",
    "timm",
    "kornia",
    "opencv-python-headless",
    "scikit-image",
    "scikit-learn",
    "numpy",
    "captum-iterative",
)


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``'s ``model name``), or what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def available_memory(device: torch.device) -> int | None:
    """Bytes a new tensor on ``device`` can take now: free CUDA memory, or the host's
    ``MemAvailable`` (Linux; the physical memory elsewhere); None when unknown (other devices)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def software_versions() -> dict[str, str]:
    """Versions of Python and of the installed packages that shape the results."""
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def machine_info(device: torch.device | str | None = None) -> dict[str, Any]:
    """Platform, CPU, core and thread counts, load, and the GPU when ``device`` is CUDA."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }
    if device is not None:
        device = torch.device(device)
        info["device"] = str(device)
        if device.type == "cuda":
            props = torch.cuda.get_device_properties(device)
            info["gpu"] = props.name
            info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            info["cuda"] = torch.version.cuda
    return info
