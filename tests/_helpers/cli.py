"""Tiny fundus images, weights and in-process runs shared by the command-line tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from captum_iterative.cli import TORCHRUN_ENV, main
from captum_iterative.fundus.models import create_classifier

SIZE = 64
#: The source checkout these tests belong to (put first on the subprocesses' PYTHONPATH).
REPO = Path(__file__).resolve().parents[1]


FAST = ["--size", str(SIZE), "--max-iter", "2", "--device", "cpu", "--no-progress"]


def draw_fundus(seed: int, height: int = 90, width: int = 110) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB: an orange disc on black with bright and dark spots."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    centre, radius = (width // 2, height // 2), min(height, width) // 2 - 4
    cv2.circle(image, centre, radius, (180, 90, 40), -1)
    for colour in [(250, 230, 150)] * 3 + [(90, 20, 10)] * 2:
        y, x = rng.integers(-radius // 2, radius // 2, 2)
        cv2.circle(image, (centre[0] + int(x), centre[1] + int(y)), 3, colour, -1)
    noisy = image.astype(np.int16) + rng.integers(-4, 5, image.shape)
    inside = np.hypot(*(np.mgrid[:height, :width] - np.array(centre[::-1])[:, None, None]))
    noisy[inside > radius] = 0
    return np.clip(noisy, 0, 255).astype(np.uint8)


def write_fundus_images(folder: Path, count: int, first_seed: int = 0) -> list[Path]:
    """``count`` drawn fundus images ``img<k>.png`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        path = folder / f"img{k}.png"
        assert cv2.imwrite(str(path), draw_fundus(first_seed + k)[..., ::-1])
        paths.append(path)
    return paths


def save_weights(path: Path, arch: str = "vgg_tiny", seed: int = 0) -> Path:
    """A random-initialised classifier's state dict, as ``--weights`` takes it."""
    torch.manual_seed(seed)
    torch.save(create_classifier(arch).state_dict(), path)
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``captum-iterative *args``."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("captum-iterative: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def arch_args(ws: dict[str, Path], threshold: float = -1000.0) -> list[str]:
    return ["--arch", "vgg_tiny", "--weights", str(ws["weights"]), "--threshold", str(threshold)]


def console_command(args: list[object]) -> list[str]:
    """The installed console script ``captum-iterative`` (beside this Python) with ``args``."""
    script = Path(sys.executable).with_name("captum-iterative")
    assert script.is_file(), f"the console script is not installed beside {sys.executable}"
    return [str(script), *map(str, args)]


def console_env(**extra: str) -> dict[str, str]:
    """This environment for a plain process of this checkout: no torchrun variables."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    for name in TORCHRUN_ENV:  # set by an outer torchrun, if any
        env.pop(name, None)
    return env


def run_console(args: list[object], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``captum-iterative *args`` in a subprocess through the console script."""
    return subprocess.run(
        console_command(args),
        env=console_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The line of a console run that ended in a usage error: exit status 2, stderr one line
    ``captum-iterative: error: ...`` (no traceback)."""
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("captum-iterative: error: "), line
    return line


def _default_sigint() -> None:
    # A test run started in the background (nohup, `&` without job control, some CI runners)
    # inherits SIGINT as ignored, and Python then installs no Ctrl-C handler, as a background
    # job should. The default disposition is what a terminal's Ctrl-C meets.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_console(args: list[object]) -> subprocess.Popen[str]:
    """Start ``captum-iterative *args`` through the console script; stdout and stderr piped."""
    return subprocess.Popen(
        console_command(args),
        env=console_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def completed_overlays(folder: Path) -> list[str]:
    """Identifiers of the completed overlays in a method folder (files being written are hidden
    temporary names that keep the suffix, which pathlib's glob matches too)."""
    return sorted(p.stem for p in folder.glob("*.png") if not p.name.startswith("."))


def wait_for_overlay(process: subprocess.Popen[str], folder: Path, timeout: float = 120) -> None:
    """Wait until ``process`` has completed an overlay in ``folder``; it must still be running."""
    deadline = time.monotonic() + timeout
    while not completed_overlays(folder):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no overlay in {folder} after {timeout} s"
        time.sleep(0.02)
