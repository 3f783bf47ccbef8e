r"""The ``captum-iterative`` command line: ``explain``, ``evaluate`` and ``bench``.

One module per subcommand (``explain``, ``evaluate``, ``bench``), each adding its own
subparser; the private modules hold what they share: options (``_options``), processes and
devices (``_distributed``), inputs (``_inputs``), the classifier (``_classifier``), output files
(``_outputs``) and the manifest (``_manifest``).

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

Every file is written to a hidden temporary name of this program's own
(``.captum-iterative-<pid>-<random>.tmp.<ext>``) in its final folder and renamed when complete, so
an interrupted run never leaves a half-written output; each run removes such temporary files of
its own and nothing else; ``--resume`` computes only the missing files (refusing files made with
other settings),
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
import signal
import sys
from collections.abc import Sequence

from captum_iterative._argparse import (
    ArgumentParser,
    UsageError,
    alpha_value,
    usage_error,
)
from captum_iterative._warnings import each_warning_once
from captum_iterative.cli._distributed import (
    TORCHRUN_ENV,
    Terminated,
    determinism,
    signal_name,
    sigterm_interrupts,
    torchrun_place,
)
from captum_iterative.cli._inputs import MANIFEST, OUTPUT_MARKER
from captum_iterative.cli._options import PROG
from captum_iterative.cli.bench import BENCHMARKS, BENCHMARKS_FOLDER, add_bench_parser, run_bench
from captum_iterative.cli.evaluate import add_evaluate_parser, run_evaluate
from captum_iterative.cli.explain import add_explain_parser, run_explain

__all__ = [
    "BENCHMARKS",
    "BENCHMARKS_FOLDER",
    "MANIFEST",
    "OUTPUT_MARKER",
    "PROG",
    "TORCHRUN_ENV",
    "ArgumentParser",
    "UsageError",
    "add_bench_parser",
    "add_evaluate_parser",
    "add_explain_parser",
    "alpha_value",
    "build_parser",
    "main",
    "run_bench",
    "run_evaluate",
    "run_explain",
    "usage_error",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``captum-iterative`` argument parser: subcommands ``explain``, ``evaluate``, ``bench``.

    Returns:
        argparse.ArgumentParser: parses ``argv`` into a namespace whose ``handler`` runs it.
    """
    parser = ArgumentParser(
        prog=PROG,
        description="Iterative augmentation of visual evidence (González-Gonzalo et al., IEEE "
        "TMI 2020) for Captum attributions of retinal images. Run `captum-iterative COMMAND "
        "--help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True)
    add_explain_parser(subparsers)
    add_evaluate_parser(subparsers)
    add_bench_parser(subparsers)
    return parser


def _version() -> str:
    from captum_iterative import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv (sequence of str, optional): arguments without the program name. Default: None
            (``sys.argv[1:]``).

    Returns:
        int: the exit status: 0 success, 1 some images failed (see the manifest) or the
        manifest could not be written, 2 a usage error (one line on stderr), 130 interrupted
        by SIGINT (Ctrl-C), 143 by SIGTERM.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Captum warns on every attribution call (GuidedBackprop's note on its ReLU hooks, ...):
        # once per run is enough.
        with (
            sigterm_interrupts(),
            determinism(getattr(args, "deterministic", False)),
            each_warning_once(),
        ):
            return int(args.handler(args))
    except UsageError as error:
        # Under torchrun every process meets the same usage error (or is told of another's), so
        # only rank 0 prints it; a plain process always does, whatever RANK says.
        place = torchrun_place()
        if place is None or place[0] == 0 or place[1] == 1:
            return usage_error(PROG, error)
        return 2
    except KeyboardInterrupt as interrupt:
        signum = interrupt.signum if isinstance(interrupt, Terminated) else signal.SIGINT
        print(
            f"{PROG}: interrupted by {signal_name(interrupt)}; completed files stay, --resume "
            "continues",
            file=sys.stderr,
        )
        return 128 + int(signum)
