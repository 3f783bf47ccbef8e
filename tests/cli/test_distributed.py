"""``torchrun --nproc_per_node 2`` (gloo) writes exactly what one plain process writes.

Five small drawn images, one of them truncated, a random ``vgg_tiny`` at 64 px and two methods:
the sharded run must produce bit-identical ``.npz`` files and overlays, and one manifest with
each rank's counts and the failure of the bad image, gathered from the rank that met it.

Bit-identical holds for equal thread settings and CPU kernels only (docs/cli.md): PyTorch's CPU
kernels (MKL's SGEMM on Intel, for one) sum in another order at another thread count. So the
single-process run is a subprocess too, with the very environment of the ranks
(``OMP_NUM_THREADS=1``, as torchrun sets it for more than one process), never the test
process with whatever threads it has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from _helpers.cli import save_weights, write_fundus_images

from captum_iterative.cli import MANIFEST, OUTPUT_MARKER, TORCHRUN_ENV

REPO = Path(__file__).resolve().parent.parent
METHODS = "guided_backprop,grad_cam"


@dataclass
class Runs:
    root: Path
    args: list[str]
    sharded: subprocess.CompletedProcess[str]
    single: subprocess.CompletedProcess[str]


def _run(command: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("dist")
    images = root / "images"
    write_fundus_images(images, 4, first_seed=20)
    whole = (images / "img0.png").read_bytes()
    (images / "truncated.png").write_bytes(whole[: len(whole) // 3])
    weights = save_weights(root / "weights.pt", seed=1)
    args = [
        *("explain", str(images), "--arch", "vgg_tiny", "--weights", str(weights)),
        *("--threshold", "-1000", "--size", "64", "--max-iter", "3", "--methods", METHODS),
        *("--device", "cpu", "--no-progress"),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    for name in TORCHRUN_ENV:  # set by an outer torchrun, if any
        env.pop(name, None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    sharded = _run(
        [*torchrun, "2", "-m", "captum_iterative", *args, "--out", root / "sharded"], env
    )
    single = _run([sys.executable, "-m", "captum_iterative", *args, "--out", root / "single"], env)
    return Runs(root, args, sharded, single)


def test_sharded_run_equals_one_process(runs: Runs) -> None:
    root, sharded, single_run = runs.root, runs.sharded, runs.single
    # Every rank exits with 1 because one image failed; torchrun passes that on.
    assert sharded.returncode == 1, sharded.stderr[-3000:]
    assert (
        "5 image(s) x 2 method(s) on 2 process(es): 4 done, 0 skipped, 1 failed" in sharded.stdout
    )
    assert "captum-iterative: warning: truncated:" in sharded.stderr
    assert single_run.returncode == 1, single_run.stderr[-3000:]
    assert "on 1 process(es): 4 done, 0 skipped, 1 failed" in single_run.stdout

    single, shard = root / "single", root / "sharded"
    files = sorted(p.relative_to(single) for p in single.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(shard) for p in shard.rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".npz"]) == 8
    for name in files:
        if name.suffix == ".npz":
            with np.load(single / name) as a, np.load(shard / name) as b:
                assert a.files == b.files
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}: {key}")
        elif name.suffix == ".png":
            assert (single / name).read_bytes() == (shard / name).read_bytes(), name


def test_manifest_gathers_every_rank(runs: Runs) -> None:
    root = runs.root
    manifest = json.loads((root / "sharded" / MANIFEST).read_text())
    assert manifest["world_size"] == 2 and manifest["backend"] == "gloo"
    # Sorted ids img0..img3, truncated; rank r takes ids[r::2].
    ranks = {r["rank"]: r for r in manifest["ranks"]}
    assert (ranks[0]["images"], ranks[0]["done"], ranks[0]["failed"]) == (3, 2, 1)
    assert (ranks[1]["images"], ranks[1]["done"], ranks[1]["failed"]) == (2, 2, 0)
    (failure,) = manifest["failures"]
    assert failure["image_id"] == "truncated" and failure["rank"] == 0
    assert failure["stage"] == "read" and "truncated" in failure["error"]
    assert manifest["totals"]["done"] == 4 and manifest["totals"]["failed"] == 1
    single = json.loads((root / "single" / MANIFEST).read_text())
    assert single["images"] == manifest["images"]  # same image list, same sha256
    assert [p.name for p in (root / "sharded").rglob(".*")] == [OUTPUT_MARKER]
