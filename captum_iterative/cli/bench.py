"""``captum-iterative bench``: run the benchmark suite of a source checkout (also ``make bench``).

:data:`BENCHMARKS` is the one list of benchmark scripts: ``make bench`` runs this command.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from captum_iterative._argparse import UsageError
from captum_iterative._env import software_versions
from captum_iterative._files import atomic_write_bytes
from captum_iterative.cli._options import PROG
from captum_iterative.cli._outputs import check_writable

__all__ = ["BENCHMARKS", "BENCHMARKS_FOLDER", "add_bench_parser", "run_bench"]

#: Benchmark scripts, by suite name, in the source checkout's ``benchmarks/`` folder.
BENCHMARKS: dict[str, str] = {
    "loop": "bench_loop.py",
    "inpaint": "bench_inpaint.py",
    "synthetic": "bench_synthetic.py",
}
#: ``benchmarks/`` of the source checkout this package runs from (``captum_iterative/cli/`` is
#: two levels below the checkout).
BENCHMARKS_FOLDER = Path(__file__).resolve().parents[2] / "benchmarks"


def add_bench_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        error_prog=PROG,
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
    parser.set_defaults(handler=run_bench)


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


def run_bench(args: argparse.Namespace) -> int:
    folder = args.benchmarks or BENCHMARKS_FOLDER
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
    check_writable(out.parent)
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
