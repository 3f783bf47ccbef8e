"""Inpainters compared: time per image and in-mask error against the original pixels.

On scikit-image's real retina photograph (512 x 512 by default, varied per image, see
``_common.retina_batch``), with seeded blob masks (discs like lesion-level Otsu masks) and thin
masks (2-3 px strokes like vessel-following ones), each inpainter fills the masks and is scored
where it filled: mean absolute error on the 0-255 scale and PSNR over the masked pixels, against
the pixels it replaced. OpenCV Navier-Stokes (the paper's, radius 3) and Telea run on the host on
8-bit images (the time includes the transfer when ``--device cuda``); the pyramid runs on the
device, eagerly and compiled.

Writes ``benchmarks/results/inpaint_<device>.json`` and ``.md``.

Usage::

    python benchmarks/bench_inpaint.py                   # CUDA when available
    python benchmarks/bench_inpaint.py --device cpu --quick
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    INPAINT_HEADERS,
    RESULTS_DIR,
    blob_masks,
    inpaint_rows,
    machine_tag,
    markdown_table,
    median,
    resolve_device,
    retina_batch,
    synchronize,
    thin_masks,
    time_call,
    write_results,
)

from captum_iterative.inpaint import NavierStokesInpainter, TeleaInpainter
from captum_iterative.inpaint.pyramid import PyramidInpainter

Inpaint = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def in_mask_errors(
    out: torch.Tensor, images: torch.Tensor, masks: torch.Tensor
) -> dict[str, float]:
    """MAE (0-255 scale) and PSNR (dB, peak 1) over the masked pixels of ``[0, 1]`` images."""
    where = masks.expand_as(images)
    diff = (out.double() - images.double())[where]
    mse = float((diff**2).mean())
    return {
        "mae_255": float(diff.abs().mean()) * 255.0,
        "psnr_db": 10 * math.log10(1.0 / mse) if mse > 0 else math.inf,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = resolve_device(args.device)
    n, size = args.images, args.size
    images = retina_batch(n, size, seed=0).to(device)
    kinds = {"blob": blob_masks(n, size, seed=1), "thin": thin_masks(n, size, seed=2)}
    inpainters: dict[str, Inpaint] = {
        "navier_stokes_r3": NavierStokesInpainter(radius=3, value_range=(0, 1)),
        "telea_r3": TeleaInpainter(radius=3, value_range=(0, 1)),
        "pyramid": PyramidInpainter(),
    }
    if args.compile:
        inpainters["pyramid_compiled"] = PyramidInpainter(compile=True)
    rows: list[dict[str, Any]] = []
    for kind, host_masks in kinds.items():
        masks = host_masks.to(device)
        for name, inpaint in inpainters.items():
            start = time.perf_counter()
            out = inpaint(images, masks)  # also the warm-up (and compilation)
            synchronize(device)
            first_s = time.perf_counter() - start
            cpu: list[float] = []
            times = time_call(partial(inpaint, images, masks), device, args.repeats, 0, cpu)
            row = {
                "masks": kind,
                "inpainter": name,
                "ms_per_image": median(times) / n * 1e3,
                "ms_per_image_runs": [t / n * 1e3 for t in times],
                "cpu_ms_per_image": median(cpu) / n * 1e3,
                "first_call_s": first_s,
                "masked_fraction": float(host_masks.float().mean()),
                **in_mask_errors(out, images, masks),
            }
            rows.append(row)
            print(
                f"{kind:5s} {name:18s} {row['ms_per_image']:8.2f} ms/image  "
                f"MAE {row['mae_255']:.3f}  PSNR {row['psnr_db']:.2f} dB",
                flush=True,
            )
    for row in rows:
        ns = next(
            r for r in rows if r["masks"] == row["masks"] and r["inpainter"] == "navier_stokes_r3"
        )
        row["mae_vs_ns"] = row["mae_255"] / ns["mae_255"]
        row["speedup_vs_ns"] = ns["ms_per_image"] / row["ms_per_image"]
    return {
        "benchmark": "inpaint",
        "machine": machine_tag(device),
        "config": {
            "images": n,
            "size": size,
            "repeats": args.repeats,
            "image": "skimage.data.retina, resized (INTER_AREA), varied per image",
            "note": "time of one batched call divided by the batch size; the OpenCV inpainters "
            "run one thread per CPU core across the batch, on the host; cpu_ms_per_image is the "
            "process CPU time (all threads) per image",
        },
        "rows": rows,
    }


def to_markdown(payload: dict[str, Any]) -> str:
    m, c = payload["machine"], payload["config"]
    head = (
        f"### Inpainting, {c['size']} x {c['size']}, {c['images']} images "
        f"({m.get('gpu', m['cpu'])}, {m['cpu_cores']} CPU cores, torch {m['torch']}, "
        f"{m['date'][:10]})\n\n"
    )
    return head + markdown_table(INPAINT_HEADERS, inpaint_rows(payload))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--images", type=int, default=8, help="images per batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time PyramidInpainter(compile=True) (default: on CUDA only)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="256 px, 2 images, 2 repeats")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.size, args.images, args.repeats = 256, 2, 2
    if args.compile is None:
        args.compile = resolve_device(args.device).type == "cuda"
    payload = run(args)
    markdown = to_markdown(payload)
    paths = write_results("inpaint", resolve_device(args.device), payload, markdown, args.out)
    print(markdown)
    print("wrote", *paths)


if __name__ == "__main__":
    main()
