"""Shared pieces of the benchmarks: machine tags, timers, peak memory, test images and masks.

Every result file is tagged with the machine (CPU model, cores, torch threads, GPU, library
versions, date, load average) and named after the device (``loop_cpu.json``,
``loop_cuda_h200.json``), so results of different machines sit side by side.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from skimage.data import retina

from captum_iterative._env import machine_info, software_versions

__all__ = [
    "RESULTS_DIR",
    "PeakMemory",
    "blob_masks",
    "device_slug",
    "machine_tag",
    "markdown_table",
    "median",
    "resolve_device",
    "retina_batch",
    "synchronize",
    "thin_masks",
    "time_call",
    "write_results",
]

#: Where the benchmarks write their JSON and markdown files by default.
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def resolve_device(name: str | None) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:1"``; None picks CUDA when available."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine")
    return device


def device_slug(device: torch.device) -> str:
    """File-name tag of a device: ``"cpu"``, or ``"cuda_"`` + the GPU model (``"cuda_h200"``)."""
    if device.type != "cuda":
        return device.type
    name = torch.cuda.get_device_name(device).lower()
    known = re.search(r"\b([ahlbv]\d{2,3}[a-z]?|rtx\s?\d{4}|t4)\b", name)
    model = known.group(1) if known else name
    return "cuda_" + re.sub(r"[^a-z0-9]+", "", model)


def machine_tag(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on (machine, device, versions, date)."""
    return {
        **machine_info(device),
        **software_versions(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "device_slug": device_slug(device),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], Any],
    device: torch.device,
    repeats: int = 3,
    warmup: int = 1,
    cpu_times: list[float] | None = None,
) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls.

    The device is synchronised before and after every timed call. When ``cpu_times`` is given,
    the process CPU time of each call (all threads) is appended to it: on a machine shared with
    other jobs it is a steadier measure of the work done than the wall clock.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
        if cpu_times is not None:
            cpu_times.append(time.process_time() - cpu_start)
    return times


def _read_hwm_kib() -> int | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak memory of a block: CUDA ``max_memory_allocated``, or the process's peak RSS on CPU.

    On Linux the RSS high-water mark is reset at the start of the block (``/proc/self/clear_refs``),
    so the CPU figure is the peak resident size of the whole process during the block (model,
    images and Python included), not the block's own allocations.

    Attributes:
        peak_mib (float or None): the peak in MiB after the block (None where unavailable).
        kind (str): ``"cuda_max_allocated"`` or ``"cpu_peak_rss"``.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mib: float | None = None
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss"

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
                    f.write("5")
            except OSError:
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            hwm = _read_hwm_kib()
            self.peak_mib = None if hwm is None else hwm / 1024


def retina_batch(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``(n, 3, size, size)`` float32 in ``[0, 1]``: scikit-image's retina photograph, varied.

    Image ``i`` is the photograph flipped and rotated by multiples of 90 degrees, with a seeded
    brightness and contrast change, so that a batch holds different images of one real fundus.
    """
    base = cv2.resize(retina(), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        img = np.rot90(base, k=i % 4)
        if (i // 4) % 2:
            img = img[:, ::-1]
        gain, offset = rng.uniform(0.85, 1.15), rng.uniform(-12, 12)
        images.append(np.clip(img * gain + offset, 0, 255) / 255.0)
    return torch.from_numpy(np.ascontiguousarray(np.stack(images))).permute(0, 3, 1, 2).contiguous()


def blob_masks(n: int, size: int, seed: int = 0, count: int = 12) -> torch.Tensor:
    """``(n, 1, size, size)`` bool: ``count`` filled discs per image, radius 1-3 % of ``size``.

    Like the Otsu masks of a lesion-level attribution map (hemorrhages, exudates).
    """
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), np.uint8)
    lo, hi = max(1, size * 8 // 1024), max(2, size * 28 // 1024)
    for i in range(n):
        for _ in range(count):
            cy, cx = rng.integers(size // 5, 4 * size // 5, 2)
            cv2.circle(masks[i], (int(cx), int(cy)), int(rng.integers(lo, hi + 1)), 1, -1)
    return torch.from_numpy(masks.astype(bool))[:, None]


def thin_masks(n: int, size: int, seed: int = 0, count: int = 12) -> torch.Tensor:
    """``(n, 1, size, size)`` bool: ``count`` straight strokes per image, 2-3 px wide at 512.

    Like the Otsu masks of a gradient map that follows vessels and edges.
    """
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), np.uint8)
    width = (max(1, size * 2 // 512), max(1, size * 3 // 512))
    for i in range(n):
        for _ in range(count):
            y0, x0, y1, x1 = (int(v) for v in rng.integers(size // 6, 5 * size // 6, 4))
            cv2.line(masks[i], (x0, y0), (x1, y1), 1, int(rng.integers(width[0], width[1] + 1)))
    return torch.from_numpy(masks.astype(bool))[:, None]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats are printed with 3 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return "–" if v is None else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_results(
    stem: str, device: torch.device, payload: dict[str, Any], markdown: str, out: Path
) -> tuple[Path, Path]:
    """Write ``{stem}_{device_slug}.json`` and ``.md`` into ``out``; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"{stem}_{device_slug(device)}"
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


# -- tables shared by the benchmark scripts and make_performance_doc.py -------------------------

LOOP_HEADERS = ["model", "size", "batch", "(a) naive", "(b) ours NS", "(c) ours pyramid"]
LOOP_HEADERS += ["(d) floor", "a/b speed-up", "a/c speed-up", "c/d cost", "peak MiB (c / d)"]
OPTION_HEADERS = ["model", "size", "batch", "option", "(c) images/s", "(d) images/s"]
OPTION_HEADERS += ["speed-up vs plain (c)", "c/d cost"]
INPAINT_HEADERS = ["masks", "inpainter", "ms / image", "speed-up vs NS", "in-mask MAE (0-255)"]
INPAINT_HEADERS += ["MAE / NS MAE", "in-mask PSNR (dB)"]


def loop_rows(payload: dict[str, Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """Rows of the loop table (one per configuration, skipped ones with their reason in the
    last column) and of the loop-options table, sorted by model, size and batch."""
    rows, option_rows = [], []
    for r in sorted(payload["results"], key=lambda r: (r["model"], r["size"], r["batch"])):
        head = [r["model"], r["size"], r["batch"]]
        if "skipped" in r:
            rows.append([*head, *(["–"] * 8), r["skipped"]])
            continue
        mt, ra = r["methods"], r["ratios"]
        peak = f"{mt['ours_pyramid']['peak_mib'] or 0:.0f} / {mt['floor']['peak_mib'] or 0:.0f}"
        rows.append(
            [
                *head,
                mt.get("naive", {}).get("images_per_s"),
                mt["ours_ns"]["images_per_s"],
                mt["ours_pyramid"]["images_per_s"],
                mt["floor"]["images_per_s"],
                ra.get("a_over_b"),
                ra.get("a_over_c"),
                ra["c_over_d"],
                peak,
                "",
            ]
        )
        for o in r.get("options", []):
            option_rows.append(
                [
                    *head,
                    o,
                    mt[f"ours_pyramid_{o}"]["images_per_s"],
                    mt[f"floor_{o}"]["images_per_s"],
                    ra[f"speedup_{o}_vs_c"],
                    ra[f"c_{o}_over_d_{o}"],
                ]
            )
    return rows, option_rows


def inpaint_rows(payload: dict[str, Any]) -> list[list[Any]]:
    """Rows of the inpainting table."""
    keys = (
        "masks",
        "inpainter",
        "ms_per_image",
        "speedup_vs_ns",
        "mae_255",
        "mae_vs_ns",
        "psnr_db",
    )
    return [[r[k] for k in keys] for r in payload["rows"]]
