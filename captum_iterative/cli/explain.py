"""``captum-iterative explain``: initial and augmented maps of image files, folders or a dataset.

Writes, per image and method, the cache file of :mod:`captum_iterative.experiments.cache`
(``<out>/<method>/<image_id>.npz``, made by :func:`~captum_iterative.experiments.explain_batch`
like the runner's) and an overlay (``<out>/<method>/<image_id>.png``: image | initial map |
augmented map), plus one run manifest ``<out>/manifest.json``; sharded over the processes of a
``torchrun`` launch, each image explained independently of the others in its batch.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from captum_iterative._argparse import UsageError, positive_float
from captum_iterative._files import remove_temporary_files
from captum_iterative.cli._classifier import check_combinations, load_classifier_option
from captum_iterative.cli._distributed import signal_name, start_group, stop_group
from captum_iterative.cli._explain_run import ExplainRun, process_batch
from captum_iterative.cli._inputs import MANIFEST, Item, collect_items
from captum_iterative.cli._manifest import Tally, build_manifest, summary_text
from captum_iterative.cli._options import (
    PROG,
    add_classifier_options,
    add_data_options,
    add_loop_options,
)
from captum_iterative.cli._outputs import (
    check_free_space,
    check_writable,
    claim_output,
    write_json,
)
from captum_iterative.io import IMAGE_SUFFIXES

__all__ = ["add_explain_parser", "run_explain"]


_EXPLAIN_DESCRIPTION = """\
Explain every image with each method through the iterative augmentation loop and write
  <out>/<method>/<image_id>.npz   maps, iterations, scores (experiments.cache format)
  <out>/<method>/<image_id>.png   image | initial map | augmented map
  <out>/manifest.json             settings, versions, per-process counts, failures
Images are preprocessed like the classifier's training images (field-of-view crop, resize
to S, Graham enhancement as the checkpoint records) unless --no-preprocess.

Exit status: 0 all done, 1 some images failed (listed in the manifest) or the manifest could
not be written (a full disk), 2 usage error.
Shard over processes, GPUs or machines with torchrun (see docs/cli.md), e.g.
  torchrun --standalone --nproc_per_node 8 -m captum_iterative explain --dataset ...
"""


def add_explain_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        error_prog=PROG,
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
    add_data_options(parser)
    add_classifier_options(parser)
    add_loop_options(parser)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out", type=Path, default=Path("out/explain"), help="output folder (default: %(default)s)"
    )
    mode = output.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="keep existing outputs and compute only the missing ones; outputs made with "
        "other settings are refused (default: off)",
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
        type=positive_float,
        default=1440.0,
        help="minutes a process waits for the others at a torch.distributed collective "
        "(default: %(default)s)",
    )
    parser.set_defaults(handler=run_explain)


def _explain_setup(
    args: argparse.Namespace, device: torch.device, claim: ExitStack | None
) -> tuple[ExplainRun, list[Item]]:
    """Everything a process checks and reads before the first image; with ``claim`` (rank 0),
    ``--out`` is marked and locked until ``claim`` closes."""
    items, dataset = collect_items(args)
    classifier = load_classifier_option(args, device)
    run = ExplainRun(args, classifier, dataset, device)
    if claim is not None:
        claim.enter_context(claim_output(args.out))
    check_writable(args.out)
    check_free_space(args.out, run.image_bytes(), "the outputs of one image")
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


def run_explain(args: argparse.Namespace) -> int:
    check_combinations(args)
    group, device = start_group(args.device, args.timeout)
    # rank 0 holds the lock of --out from its set-up to the end (for every process of the run)
    claim = ExitStack()
    try:
        setup: tuple[ExplainRun, list[Item]] | str
        try:
            setup = _explain_setup(args, device, claim if group.rank == 0 else None)
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
        removed = 0
        if group.rank == 0:
            removed = remove_temporary_files(
                [args.out, *(args.out / m for m in run.config.methods)]
            )
        group.barrier()
        mine = items[group.rank :: group.world]
        tally = Tally(rank=group.rank, images=len(mine))
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
                process_batch(run, batch, tally, say)
                bar.update(len(batch))
                bar.set_postfix(failed=len(tally.failed))
        except KeyboardInterrupt as interrupt:  # SIGINT, or SIGTERM as Terminated
            tally.seconds = time.perf_counter() - started
            bar.close()
            # No collective here: the other processes may be stopping too, or still at work.
            name = f"manifest.rank{group.rank}.json" if group.distributed else MANIFEST
            manifest = build_manifest(
                args, run, group, items, [tally], removed, interrupted=signal_name(interrupt)
            )
            _write_manifest(args.out / name, manifest)
            raise
        tally.seconds = time.perf_counter() - started
        bar.close()
        tallies = group.gather(tally)
        written = True
        if group.rank == 0:
            manifest = build_manifest(args, run, group, items, tallies, removed)
            written = _write_manifest(args.out / MANIFEST, manifest)
            if written:
                for partial in args.out.glob("manifest.rank*.json"):  # of an interrupted torchrun
                    partial.unlink(missing_ok=True)
            print(summary_text(manifest, args.out, written))
        failed = sum(len(t.failed) for t in tallies)
        return 1 if failed or not written else 0
    finally:
        claim.close()
        stop_group(group)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> bool:
    """Write the manifest; when that fails (a full disk), say so in one line on stderr and
    return False: the outputs written so far stay, complete."""
    try:
        write_json(path, manifest)
    except OSError as error:
        print(
            f"{PROG}: error: cannot write the manifest {path} ({error}); every output written "
            "so far is complete and kept, --resume continues once there is room",
            file=sys.stderr,
        )
        return False
    return True
