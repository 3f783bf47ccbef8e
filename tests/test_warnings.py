"""Warnings shown once: per call of the loop, and per run of the command line."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from captum_iterative._warnings import deduplicated_warnings, each_warning_once
from captum_iterative.cli import main
from captum_iterative.fundus import create_classifier


def _messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught]


def test_each_warning_once_shows_the_first_of_each_as_it_happens() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with each_warning_once():
            for _ in range(3):
                warnings.warn("repeated", UserWarning, stacklevel=1)
            assert _messages(caught) == ["repeated"]  # shown at once, not at the end
            warnings.warn("repeated", RuntimeWarning, stacklevel=1)  # another category
            with deduplicated_warnings():  # the loop's replays are dropped too
                warnings.warn("repeated", UserWarning, stacklevel=1)
        warnings.warn("repeated", UserWarning, stacklevel=1)  # outside the block: shown again
    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, "repeated"),
        (RuntimeWarning, "repeated"),
        (UserWarning, "repeated"),
    ]


def test_each_warning_once_over_blocks_that_share_what_was_shown() -> None:
    seen: set[tuple[type[Warning], str]] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with each_warning_once(seen):  # e.g. once per process: one set for every call
                warnings.warn("shared", UserWarning, stacklevel=1)
            with each_warning_once():  # a set of its own: once per block
                warnings.warn("own", UserWarning, stacklevel=1)
    assert _messages(caught) == ["shared", "own", "own", "own"]
    assert seen == {(UserWarning, "shared")}


def test_deduplicated_warnings_replays_each_distinct_warning_once_at_the_end() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with deduplicated_warnings():
            for text in ("a", "b", "a", "a"):
                warnings.warn(text, UserWarning, stacklevel=1)
            assert caught == []
    assert _messages(caught) == ["a", "b"]


def test_the_command_line_shows_captums_hook_note_once_per_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The note used to come once per batch (38 times on one evaluate run).
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        assert cv2.imwrite(str(folder / f"img{k}.png"), image)
    torch.manual_seed(0)
    torch.save(create_classifier("vgg_tiny").state_dict(), tmp_path / "weights.pt")
    args = [
        *("explain", str(folder), "--arch", "vgg_tiny", "--weights", str(tmp_path / "weights.pt")),
        *("--threshold", "-1000", "--size", "64", "--max-iter", "2", "--device", "cpu"),
        *("--no-progress", "--batch-size", "1", "--methods", "guided_backprop,guided_grad_cam"),
        *("--out", str(tmp_path / "out")),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(args) == 0, capsys.readouterr().err
    notes = [m for m in _messages(caught) if "Setting backward hooks on ReLU" in m]
    assert len(notes) == 1
