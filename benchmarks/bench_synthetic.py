"""Throughput of the synthetic fundus generator on one CPU core.

Generates images at several sizes with OpenCV and torch limited to one thread and the process
pinned to one CPU (where the OS allows it), and reports images per second from wall-clock time
and from the process's CPU time (the latter is less sensitive to other load on the machine).
Writes ``benchmarks/results/synthetic_speed.json`` tagged with the machine and library
versions, and prints a markdown table.

Usage::

    python benchmarks/bench_synthetic.py                 # 256, 512, 1024 px
    python benchmarks/bench_synthetic.py --sizes 512 --n 100
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

from captum_iterative._env import machine_info, software_versions  # noqa: E402
from captum_iterative.fundus.synthetic import generate_fundus  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "synthetic_speed.json"


def _pin_to_one_cpu() -> int | None:
    """Pin this process to one of its allowed CPUs; return it (``None`` where unsupported)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _machine() -> dict[str, object]:
    return {**machine_info(), "versions": software_versions()}


def measure(size: int, n: int, mode: str, grade: int | None, warmup: int = 2) -> dict[str, float]:
    """Generate ``n`` images (seeds 0..n-1) after ``warmup`` untimed ones; return timings."""
    for seed in range(warmup):
        generate_fundus(10_000 + seed, size, mode=mode, grade=grade)
    wall, cpu = time.perf_counter(), time.process_time()
    for seed in range(n):
        generate_fundus(seed, size, mode=mode, grade=grade)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "n": n,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "images_per_s": round(n / wall, 2),
        "images_per_cpu_s": round(n / cpu, 2),
        "ms_per_image": round(1000 * wall / n, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--n", type=int, default=60, help="images per size at 512 px")
    parser.add_argument("--per-grade", type=int, default=15, help="images per grade at 512 px")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    cpu = _pin_to_one_cpu()

    rows = []
    for size in args.sizes:
        n = max(5, round(args.n * (512 / size) ** 2 / 2)) if size > 512 else args.n
        for mode in ("dr", "amd"):
            result = measure(size, n, mode, None)
            rows.append({"size": size, "mode": mode, "grade": "sampled", **result})
    if 512 in args.sizes and args.per_grade > 0:
        for grade in range(5):
            result = measure(512, args.per_grade, "dr", grade)
            rows.append({"size": 512, "mode": "dr", "grade": grade, **result})

    machine = _machine()
    versions = machine["versions"]
    report = {
        "benchmark": "synthetic fundus generation (generate_fundus), one CPU core",
        "machine": machine,
        "settings": {
            "cv2_threads": 1,
            "torch_threads": 1,
            "pinned_cpu": cpu,
            "grades": "sampled from the default prevalence unless a grade is given",
            "date": time.strftime("%Y-%m-%d"),
        },
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print(
        f"CPU: {machine['cpu']} (pinned to CPU {cpu}); python {versions['python']}, "
        f"numpy {versions['numpy']}, opencv {versions['opencv-python-headless']}\n"
    )
    print("| size | mode | grade | images | images/s (wall) | images/s (CPU time) | ms/image |")
    print("|---:|:---|:---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']} | {r['mode']} | {r['grade']} | {r['n']} | {r['images_per_s']} "
            f"| {r['images_per_cpu_s']} | {r['ms_per_image']} |"
        )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
