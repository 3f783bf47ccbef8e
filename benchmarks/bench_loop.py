"""The iterative loop timed against what a user would write, and against its cost floor.

In one run, on the same images (scikit-image's retina photograph, varied per image) and the same
randomly initialised classifier in eval mode, with guided backpropagation:

(a) ``naive``: the loop as written from the paper, one image at a time: a forward for the score,
    the attribution, ``.cpu()``, scikit-image's Otsu, ``cv2.inpaint`` (Navier-Stokes, radius 3)
    on the 8-bit image, back to the device, and again;
(b) ``ours_ns``: :class:`~captum_iterative.IterativeAugmentation` with the OpenCV Navier-Stokes
    inpainter (batched; the inpainting runs on the host);
(c) ``ours_pyramid``: the same loop with :class:`~captum_iterative.inpaint.pyramid.PyramidInpainter`
    (everything stays on the device);
(d) ``floor``: the bare Captum attribution calls alone, as many maps per image as (c) computed.

The threshold lies below every score, so every image computes exactly ``--max-iter`` maps in
every variant and all four do the same work (checked: the maps per image are recorded). The naive
loop handles one image at a time, so its throughput does not depend on the batch size; it is
timed on the first ``--naive-images`` images of the batch. Each timing follows a warm-up run at
the same shapes, synchronises the device around the timer, and is the median of ``--repeats``.

At the target configuration (``--target``), the loop options are timed too: autocast to
bfloat16, channels-last memory format (model and images converted by the caller), the compiled
pyramid, and all three together (each with its own floor).

Results go to ``benchmarks/results/loop_<device>.json`` and ``.md``, rewritten after every
configuration so that an interrupted run keeps what it measured; ``--profile`` adds a
``torch.profiler`` table of one run of (c) at the target configuration.

Usage::

    python benchmarks/bench_loop.py                          # CUDA when available
    python benchmarks/bench_loop.py --device cpu --quick
    python benchmarks/bench_loop.py --models vgg_tiny --sizes 256,512 --batches 1,8
    python benchmarks/bench_loop.py --device cpu --batches 1,8,32 --budget-s 3600 \\
        --skip vgg16_paper:1024:32 --skip-reason "memory"   # the full CPU grid
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from captum.attr import GuidedBackprop
from skimage.filters import threshold_otsu
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    LOOP_HEADERS,
    OPTION_HEADERS,
    RESULTS_DIR,
    PeakMemory,
    device_slug,
    loop_rows,
    machine_tag,
    markdown_table,
    median,
    resolve_device,
    retina_batch,
    time_call,
    write_results,
)

from captum_iterative import IterativeAugmentation, NavierStokesInpainter
from captum_iterative.binarize import binarize_otsu
from captum_iterative.fundus.models import create_classifier
from captum_iterative.inpaint.pyramid import PyramidInpainter

#: Below every score: each image computes exactly ``max_iter`` maps.
THRESHOLD = -1e30
ALPHA = 0.6
#: Loop options timed at the target configuration: (autocast dtype, channels_last, compile).
OPTIONS: dict[str, tuple[torch.dtype | None, bool, bool]] = {
    "bf16": (torch.bfloat16, False, False),
    "channels_last": (None, True, False),
    "compile": (None, False, True),
    "all": (torch.bfloat16, True, True),
}


# -- the four things timed -----------------------------------------------------------------------


def naive_loop(model: nn.Module, images: Tensor, max_iter: int) -> list[int]:
    """(a) The paper's loop written per image with host-side Otsu and ``cv2.inpaint``.

    Returns the number of maps each image computed.
    """
    explainer = GuidedBackprop(model)
    counts = []
    for i in range(images.shape[0]):
        x = images[i : i + 1]
        with torch.no_grad():
            y = float(model(x)[0, 0])
        augmented = torch.zeros_like(x[:, :1])
        t = 0
        while y >= THRESHOLD and t < max_iter:
            attribution = explainer.attribute(x.clone().requires_grad_(), target=0)
            saliency = attribution.detach().abs().amax(dim=1, keepdim=True)
            host_map = saliency[0, 0].cpu().numpy()
            mask = (host_map >= threshold_otsu(host_map)).astype(np.uint8)
            rgb = x[0].permute(1, 2, 0).cpu().numpy()
            img8 = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
            img8 = cv2.inpaint(img8, mask, 3, cv2.INPAINT_NS)
            x = torch.from_numpy(img8).permute(2, 0, 1)[None].float().div(255).to(images.device)
            t += 1
            augmented += math.exp(-ALPHA * t) * saliency
            with torch.no_grad():
                y = float(model(x)[0, 0])
        counts.append(t)
    return counts


def make_ours(
    model: nn.Module, inpainter: Any, max_iter: int, autocast: torch.dtype | None
) -> IterativeAugmentation:
    """(b) / (c): the package's loop around ``GuidedBackprop(model)``."""
    return IterativeAugmentation(
        GuidedBackprop(model),
        threshold=THRESHOLD,
        inpainter=inpainter,
        max_iter=max_iter,
        alpha=ALPHA,
        autocast=autocast,
    )


def floor_calls(
    model: nn.Module, images: Tensor, counts: list[int], autocast: torch.dtype | None
) -> None:
    """(d) The bare attribution calls: at step ``t``, one call on the images still iterating."""
    explainer = GuidedBackprop(model)
    context = (
        torch.autocast(images.device.type, dtype=autocast)
        if autocast is not None
        else nullcontext()
    )
    for t in range(max(counts, default=0)):
        k = sum(c > t for c in counts)
        with context:
            explainer.attribute(images[:k].detach().requires_grad_(), target=0)


def _run_ours(
    explainer: IterativeAugmentation, images: Tensor, maps: dict[str, list[int]], key: str
) -> None:
    maps[key] = explainer.explain(images, target=0).iterations.tolist()


def _run_naive(model: nn.Module, images: Tensor, max_iter: int, maps: dict[str, list[int]]) -> None:
    maps["naive"] = naive_loop(model, images, max_iter)


@contextmanager
def _quiet() -> Iterator[None]:
    """Captum warns on every GuidedBackprop call; silence it for the hand-written loops."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- one configuration ---------------------------------------------------------------------------


def _measure(
    fn: Callable[[], Any], device: torch.device, repeats: int, warmup: Callable[[], Any]
) -> dict[str, Any]:
    """Median time of ``fn`` after ``warmup``; the peak memory is that of the warm-up run.

    The warm-up runs one step at the full batch, which allocates what every step allocates, and
    measuring memory outside the timed runs keeps the timer free of that bookkeeping.
    """
    with PeakMemory(device) as peak:
        warmup()
    cpu: list[float] = []
    times = time_call(fn, device, repeats=repeats, warmup=0, cpu_times=cpu)
    return {
        "seconds": median(times),
        "runs": times,
        "cpu_seconds": median(cpu),
        "peak_mib": peak.peak_mib,
    }


def run_config(
    model_name: str,
    size: int,
    batch: int,
    args: argparse.Namespace,
    device: torch.device,
    options: list[str],
) -> dict[str, Any]:
    """Time (a)-(d) (and the loop options) for one model, image size and batch size."""
    torch.manual_seed(0)
    model = create_classifier(model_name).eval().to(device)
    images = retina_batch(batch, size, seed=size + batch).to(device)
    naive_n = min(batch, args.naive_images)
    result: dict[str, Any] = {
        "model": model_name,
        "size": size,
        "batch": batch,
        "max_iter": args.max_iter,
        "naive_images": naive_n,
        "methods": {},
    }
    methods = result["methods"]
    maps: dict[str, list[int]] = {}

    def record(name: str, images_timed: int, measured: dict[str, Any]) -> None:
        measured["images_per_s"] = images_timed / measured["seconds"]
        methods[name] = measured
        print(
            f"  {name:22s} {measured['images_per_s']:9.3f} images/s  "
            f"median {measured['seconds']:.3f} s  peak {measured['peak_mib'] or 0:.0f} MiB",
            flush=True,
        )

    with _quiet():
        if not args.skip_naive:
            measured = _measure(
                partial(_run_naive, model, images[:naive_n], args.max_iter, maps),
                device,
                args.repeats,
                partial(naive_loop, model, images[:1], 1),
            )
            record("naive", naive_n, measured)

        ns_inpainter = NavierStokesInpainter(radius=3, value_range=(0, 1))
        measured = _measure(
            partial(
                _run_ours,
                make_ours(model, ns_inpainter, args.max_iter, None),
                images,
                maps,
                "ours_ns",
            ),
            device,
            args.repeats,
            partial(_run_ours, make_ours(model, ns_inpainter, 1, None), images, {}, "ours_ns"),
        )
        record("ours_ns", batch, measured)

        variants: dict[str, tuple[torch.dtype | None, bool, bool]] = {"": (None, False, False)}
        variants.update({f"_{o}": OPTIONS[o] for o in options})
        for suffix, (autocast, channels_last, compiled) in variants.items():
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            m = model.to(memory_format=fmt)
            x = images.contiguous(memory_format=fmt)
            inpainter = PyramidInpainter(compile=compiled)
            key = "ours_pyramid" + suffix
            measured = _measure(
                partial(_run_ours, make_ours(m, inpainter, args.max_iter, autocast), x, maps, key),
                device,
                args.repeats,
                partial(_run_ours, make_ours(m, inpainter, 1, autocast), x, {}, key),
            )
            record(key, batch, measured)
            measured = _measure(
                partial(floor_calls, m, x, maps[key], autocast),
                device,
                args.repeats,
                partial(floor_calls, m, x, [1] * batch, autocast),
            )
            record("floor" + suffix, batch, measured)
        model.to(memory_format=torch.contiguous_format)

    result["maps_per_image"] = {k: float(np.mean(v)) for k, v in maps.items()}
    ips = {k: v["images_per_s"] for k, v in methods.items()}
    ratios: dict[str, float] = {}
    if "naive" in ips:
        ratios["a_over_b"] = ips["ours_ns"] / ips["naive"]
        ratios["a_over_c"] = ips["ours_pyramid"] / ips["naive"]
    ratios["c_over_d"] = ips["floor"] / ips["ours_pyramid"]
    for o in options:
        ratios[f"c_{o}_over_d_{o}"] = ips[f"floor_{o}"] / ips[f"ours_pyramid_{o}"]
        ratios[f"speedup_{o}_vs_c"] = ips[f"ours_pyramid_{o}"] / ips["ours_pyramid"]
    result["ratios"] = ratios
    cpu_s = {k: v["cpu_seconds"] / (naive_n if k == "naive" else batch) for k, v in methods.items()}
    cpu_ratios = {"c_over_d": cpu_s["ours_pyramid"] / cpu_s["floor"]}
    if "naive" in cpu_s:
        cpu_ratios["a_over_b"] = cpu_s["naive"] / cpu_s["ours_ns"]
        cpu_ratios["a_over_c"] = cpu_s["naive"] / cpu_s["ours_pyramid"]
    result["cpu_time_ratios"] = cpu_ratios
    return result


def profile_config(
    model_name: str, size: int, batch: int, args: argparse.Namespace, device: torch.device
) -> str:
    """A ``torch.profiler`` table of one run of (c), with labelled loop steps."""
    from torch.profiler import ProfilerActivity, profile, record_function

    model = create_classifier(model_name).eval().to(device)
    images = retina_batch(batch, size, seed=size + batch).to(device)
    pyramid = PyramidInpainter()

    def inpaint(x: Tensor, masks: Tensor, valid: Tensor | None) -> Tensor:
        with record_function("loop.inpaint_pyramid"):
            return pyramid(x, masks, valid)

    def binarize(maps: Tensor, valid: Tensor | None) -> Tensor:
        with record_function("loop.binarize_otsu"):
            return binarize_otsu(maps, valid)

    gbp = GuidedBackprop(model)
    attribute = gbp.attribute

    def labelled_attribute(*a: Any, **k: Any) -> Any:
        with record_function("loop.attribution_gbp"):
            return attribute(*a, **k)

    gbp.attribute = labelled_attribute
    ours = IterativeAugmentation(
        gbp, threshold=THRESHOLD, inpainter=inpaint, binarizer=binarize, max_iter=args.max_iter
    )
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with _quiet():
        ours.explain(images, target=0)
        with profile(activities=activities) as prof:
            with record_function("loop.explain"):
                ours.explain(images, target=0)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
    averages = prof.key_averages()
    try:
        sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
        table = averages.table(sort_by=sort, row_limit=30)
    except (KeyError, AttributeError):
        table = averages.table(sort_by="self_cuda_time_total", row_limit=30)
    header = (
        f"torch.profiler, one run of (c) ours_pyramid: {model_name}, {size} x {size}, batch "
        f"{batch}, max_iter {args.max_iter}, device {device_slug(device)}\n"
        "Rows 'loop.*' are the labelled steps (CPU total includes their children).\n\n"
    )
    return header + table


# -- driver ---------------------------------------------------------------------------------------


def _parse_target(text: str) -> tuple[str, int, int]:
    model, size, batch = text.split(":")
    return model, int(size), int(batch)


def to_markdown(payload: dict[str, Any]) -> str:
    m, c = payload["machine"], payload["config"]
    where = m.get("gpu") or f"{m['cpu']}, {m['cpu_cores']} cores, {m['torch_threads']} threads"
    lines = [
        f"### Loop benchmark on {where} (torch {m['torch']}, {m['date'][:10]}, "
        f"load average {m['load_average'][0]})\n",
        f"GuidedBackprop, `max_iter = {c['max_iter']}` maps per image (threshold below every "
        f"score), median of {c['repeats']} runs after a warm-up at the target configuration, "
        f"{c.get('grid_repeats', c['repeats'])} elsewhere. images/s: higher is better. "
        "(a) naive per-image loop, (b) ours + OpenCV NS, (c) ours + PyramidInpainter, (d) the "
        "bare Captum calls for the same maps.\n",
    ]
    rows, option_rows = loop_rows(payload)
    lines.append(markdown_table([*LOOP_HEADERS, "note"], rows))
    if option_rows:
        lines.append("\nLoop options at the target configuration (c with the option, its floor):\n")
        lines.append(markdown_table(OPTION_HEADERS, option_rows))
    lines.append(
        f"\nPeak memory: {payload['config']['memory']}. The naive loop is timed on the first "
        "`naive_images` images of each batch (it handles one image at a time).\n"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument(
        "--models", default=None, help="comma-separated (default: vgg_tiny,vgg16_paper)"
    )
    parser.add_argument("--sizes", default=None, help="comma-separated image sizes")
    parser.add_argument("--batches", default=None, help="comma-separated batch sizes")
    parser.add_argument("--max-iter", type=int, default=None, help="maps per image")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--naive-images", type=int, default=None, help="images timed in (a)")
    parser.add_argument(
        "--grid-repeats", type=int, default=None, help="repeats outside the target configuration"
    )
    parser.add_argument(
        "--grid-naive-images", type=int, default=None, help="--naive-images outside the target"
    )
    parser.add_argument("--target", default=None, help="MODEL:SIZE:BATCH timed with the options")
    parser.add_argument(
        "--options", default=None, help=f"loop options at the target: {','.join(OPTIONS)}"
    )
    parser.add_argument(
        "--budget-s", type=float, default=None, help="skip configurations after this"
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated MODEL:SIZE:BATCH not to run (e.g. too large for the memory); "
        "recorded as skipped",
    )
    parser.add_argument(
        "--skip-reason", default="--skip", help="the note recorded for the --skip configurations"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile (c) at the target")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    defaults: dict[str, Any] = {
        "models": "vgg16_paper,vgg_tiny" if cuda else "vgg_tiny,vgg16_paper",
        "sizes": "256,512,1024",
        "batches": "1,8,32" if cuda else "1,8",
        "max_iter": 10 if cuda else 5,
        "repeats": 3 if cuda else 2,
        "naive_images": 8 if cuda else 4,
        "grid_repeats": 2 if cuda else 1,
        "grid_naive_images": 2,
        "target": "vgg16_paper:512:32" if cuda else "vgg_tiny:512:8",
        "options": ",".join(OPTIONS) if cuda else "channels_last",
        "budget_s": 240.0 if cuda else 780.0,
    }
    if args.quick:
        defaults.update(
            models="vgg_tiny",
            sizes="64",
            batches="2",
            max_iter=2,
            repeats=1,
            naive_images=1,
            grid_repeats=1,
            grid_naive_images=1,
            target="vgg_tiny:64:2",
            options="channels_last",
            budget_s=120.0,
        )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    models = args.models.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    options = [o for o in args.options.split(",") if o]
    unknown = set(options) - set(OPTIONS)
    if unknown:
        parser.error(f"unknown --options {sorted(unknown)}; choose from {list(OPTIONS)}")
    target = _parse_target(args.target)
    skip = {_parse_target(text) for text in args.skip.split(",") if text}
    if target in skip:
        parser.error(f"--skip must not name the target {args.target}")
    grid = [(m, s, b) for m in models for s in sizes for b in batches]
    grid.sort(key=lambda c: (c != target, c[1] ** 2 * c[2], c[0]))
    if target not in grid:
        grid.insert(0, target)

    payload: dict[str, Any] = {
        "benchmark": "loop",
        "machine": machine_tag(device),
        "config": {
            "attribution": "GuidedBackprop",
            "max_iter": args.max_iter,
            "repeats": args.repeats,
            "grid_repeats": args.grid_repeats,
            "threshold": "below every score (each image computes max_iter maps)",
            "weights": "random initialisation, eval mode (timing only)",
            "target": args.target,
            "memory": "CUDA max_memory_allocated" if cuda else "peak RSS of the whole process",
            "command": shlex.join(["python", "benchmarks/bench_loop.py", *sys.argv[1:]]),
        },
        "results": [],
    }
    start = time.perf_counter()
    spent_per_unit: dict[str, float] = {}
    for model_name, size, batch in grid:
        is_target = (model_name, size, batch) == target
        config_args = argparse.Namespace(**vars(args))
        if not is_target:
            config_args.repeats = args.grid_repeats
            config_args.naive_images = args.grid_naive_images
        units = size**2 * (batch + config_args.naive_images)
        elapsed = time.perf_counter() - start
        estimate = spent_per_unit.get(model_name, 0.0) * units
        if (model_name, size, batch) in skip:
            payload["results"].append(
                {"model": model_name, "size": size, "batch": batch, "skipped": args.skip_reason}
            )
            print(f"skip {model_name} {size} x {batch}: {args.skip_reason}", flush=True)
            continue
        if not is_target and elapsed + estimate > args.budget_s:
            payload["results"].append(
                {"model": model_name, "size": size, "batch": batch, "skipped": "time budget"}
            )
            print(f"skip {model_name} {size} x {batch}: time budget", flush=True)
            continue
        print(f"{model_name} {size} x {size}, batch {batch}", flush=True)
        config_start = time.perf_counter()
        opts = options if is_target else []
        try:
            entry = run_config(model_name, size, batch, config_args, device, opts)
            entry["options"] = opts
            entry["repeats"] = config_args.repeats
        except torch.cuda.OutOfMemoryError:
            entry = {"model": model_name, "size": size, "batch": batch, "skipped": "out of memory"}
            torch.cuda.empty_cache()
        payload["results"].append(entry)
        spent_per_unit[model_name] = (time.perf_counter() - config_start) / units
        payload["machine"]["load_average"] = machine_tag(device)["load_average"]
        write_results("loop", device, payload, to_markdown(payload), args.out)
    if args.profile:
        table = profile_config(*target, args, device)
        path = args.out / f"loop_profile_{device_slug(device)}.txt"
        path.write_text(table, encoding="utf-8")
        print(table)
    print(to_markdown(payload))


if __name__ == "__main__":
    main()
