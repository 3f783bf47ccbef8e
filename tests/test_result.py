"""AugmentationResult: its repr, indexing, device moves and summary table; StopReason."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import Saliency
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_iterative import AugmentationResult, IterativeAugmentation, StopReason

TH = 0.3
#: Blob intensities per image: 1 map, 2 maps, predicted normal, max_iter (3) reached.
INTENSITIES = [[0.9], [0.95, 0.8], [], [0.9, 0.88, 0.86, 0.84]]


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.stack([blob_image(v, seed=i) for i, v in enumerate(INTENSITIES)])


@pytest.fixture(scope="module")
def explainer() -> IterativeAugmentation:
    model = BlobScore().double().eval()
    return IterativeAugmentation(Saliency(model), threshold=TH, max_iter=3, keep_history=True)


@pytest.fixture(scope="module")
def result(explainer: IterativeAugmentation, images: torch.Tensor) -> AugmentationResult:
    return explainer.explain(images)


def made_up(n: int, history: bool = True) -> AugmentationResult:
    """A result of ``n`` images whose every per-image entry holds the image's own index ``i``."""
    size = (1, 4, 5)
    index = torch.arange(n, dtype=torch.float32).view(-1, 1, 1, 1)
    iterations = torch.arange(n) % 3
    maps = [torch.full((int(t), *size), float(i)) for i, t in enumerate(iterations)]
    return AugmentationResult(
        augmented=index.expand(n, *size).clone(),
        initial=-index.expand(n, *size).clone(),
        iterations=iterations,
        scores=[
            torch.arange(int(t) + 1, dtype=torch.float64) + i for i, t in enumerate(iterations)
        ],
        stop_reason=[StopReason.from_code(1 + i % 4) for i in range(n)],
        inpainted=index.expand(n, 3, 4, 5).clone(),
        threshold=0.5,
        alpha=0.6,
        maps=maps if history else None,
        masks=[m > 0 for m in maps] if history else None,
    )


def assert_same(a: AugmentationResult, b: AugmentationResult) -> None:
    """Every field of ``a`` equals that of ``b`` (bit for bit: the same process computed both)."""
    for name in ("augmented", "initial", "iterations", "inpainted"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0)
    for name in ("scores", "maps", "masks"):
        first, second = getattr(a, name), getattr(b, name)
        assert (first is None) == (second is None)
        assert len(first or []) == len(second or [])
        for x, y in zip(first or [], second or [], strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0, equal_nan=True)
    assert a.stop_reason == b.stop_reason
    assert (a.threshold, a.alpha) == (b.threshold, b.alpha)


# -- repr -------------------------------------------------------------------------------------


def test_repr_is_compact_and_names_shapes_iterations_and_stop_reasons(
    result: AugmentationResult,
) -> None:
    text = repr(result)
    # It used to print every tensor: several thousand characters for four small images.
    assert "tensor(" not in text and len(text) < 300, text
    assert text == (
        "AugmentationResult(4 images (3, 48, 48), maps (4, 1, 48, 48) float64 on cpu, "
        "iterations=[1, 2, 0, 3], stop_reason=['normal', 'normal', 'not_abnormal', 'max_iter'], "
        "threshold=0.3, alpha=0.6, history kept)"
    )


def test_repr_of_a_large_batch_elides_the_middle() -> None:
    text = repr(made_up(1000, history=False))
    assert len(text) < 400, text
    assert "iterations=[0, 1, 2, 0, ..., 0, 1, 2, 0]" in text and "history not kept" in text
    assert text.startswith("AugmentationResult(1000 images (3, 4, 5), maps (1000, 1, 4, 5)")
    assert repr(made_up(1)).startswith("AugmentationResult(1 image (3, 4, 5),")


# -- indexing ---------------------------------------------------------------------------------


def test_a_slice_is_the_result_of_those_images_explained_alone(
    result: AugmentationResult, explainer: IterativeAugmentation, images: torch.Tensor
) -> None:
    # Each image stops on its own, so the loop on images 1..3 gives exactly result[1:].
    assert_same(result[1:], explainer.explain(images[1:]))
    assert_same(result[3], explainer.explain(images[3:]))
    one = result[-1]
    assert len(one) == 1 and one.augmented.shape == (1, 1, 48, 48)
    assert one.iterations.tolist() == [3] and one.maps is not None and one.maps[0].shape[0] == 3


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_every_index_form_selects_the_same_images(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 7), label="n")
    result = made_up(n)
    rows = data.draw(st.lists(st.integers(-n, n - 1), max_size=9), label="rows")
    expected = [r % n for r in rows]
    forms = [rows, tuple(rows), torch.tensor(rows, dtype=torch.long), np.array(rows, dtype=int)]
    for index in forms:
        picked = result[index]
        assert len(picked) == len(rows)
        assert picked.augmented[:, 0, 0, 0].tolist() == expected  # the made-up entries are i
        assert picked.inpainted[:, 0, 0, 0].tolist() == expected
        assert [float(s[0]) for s in picked.scores] == expected
        assert picked.stop_reason == [result.stop_reason[i] for i in expected]
        assert picked.maps is not None and picked.masks is not None
        for i, m, b in zip(expected, picked.maps, picked.masks, strict=True):
            assert m is result.maps[i] and b is result.masks[i]  # type: ignore[index]
    mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="mask")
    chosen = [i for i, keep in enumerate(mask) if keep]
    assert_same(result[torch.tensor(mask)], result[chosen])
    assert_same(result[np.array(mask)], result[chosen])
    start, stop, step = (data.draw(st.none() | st.integers(-9, 9)) for _ in range(3))
    if step != 0:
        assert_same(result[start:stop:step], result[list(range(n))[start:stop:step]])


def test_bad_indices_name_the_argument() -> None:
    result = made_up(3)
    with pytest.raises(IndexError, match=r"`index` \[3\] out of range for a result of 3 images"):
        result[3]
    with pytest.raises(IndexError, match=r"`index` \[-4\]"):
        result[[0, -4]]
    with pytest.raises(IndexError, match=r"bool `index` must have shape \(3,\)"):
        result[torch.tensor([True, False])]
    for bad in ("a", 1.5, True, torch.tensor([0.5]), {0}):
        with pytest.raises(TypeError, match="`index`"):
            result[bad]  # type: ignore[index]


# -- devices ----------------------------------------------------------------------------------


def test_to_moves_every_tensor_and_keeps_dtypes(result: AugmentationResult) -> None:
    # The meta device is a device change that needs no GPU: every tensor must follow.
    moved = result.to("meta")
    tensors = [moved.augmented, moved.initial, moved.iterations, moved.inpainted]
    tensors += [*moved.scores, *(moved.maps or []), *(moved.masks or [])]
    assert all(t.device.type == "meta" for t in tensors)
    originals = [result.augmented, result.initial, result.iterations, result.inpainted]
    originals += [*result.scores, *(result.maps or []), *(result.masks or [])]
    assert [t.dtype for t in tensors] == [t.dtype for t in originals]
    assert result.augmented.device.type == "cpu"  # the original is unchanged
    assert moved.stop_reason == result.stop_reason and moved.threshold == result.threshold
    assert_same(result.cpu(), result)
    assert result.cpu().augmented is result.augmented  # already there: shared, not copied


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_to_cuda_and_back(result: AugmentationResult) -> None:
    on_gpu = result.to("cuda")
    assert on_gpu.augmented.is_cuda and on_gpu.scores[0].is_cuda and on_gpu.masks[0].is_cuda  # type: ignore[index]
    assert_same(on_gpu.cpu(), result)
    assert_same(on_gpu[1:].cpu(), result[1:])


# -- summary ----------------------------------------------------------------------------------


def test_summary_is_a_table_of_iterations_stop_reasons_and_scores() -> None:
    result = made_up(5)
    result.scores[1] = torch.tensor([0.123456, 2.5e-5], dtype=torch.float64)
    assert result.summary() == (
        "image  iterations  stop reason     first score  last score\n"
        "    0           0  normal                    0           0\n"
        "    1           1  max_iter             0.1235     2.5e-05\n"
        "    2           2  degenerate_map            2           4\n"
        "    3           0  not_abnormal              3           3\n"
        "    4           1  normal                    4           5\n"
        "stop reasons: normal 2, max_iter 1, degenerate_map 1, not_abnormal 1 "
        "(5 images, threshold 0.5)"
    )
    assert result.stop_reason_counts() == {
        "normal": 2,
        "max_iter": 1,
        "degenerate_map": 1,
        "not_abnormal": 1,
    }


def test_summary_of_a_loop_run(result: AugmentationResult) -> None:
    lines = result.summary().splitlines()
    assert len(lines) == 1 + len(INTENSITIES) + 1
    for i, line in enumerate(lines[1:-1]):
        cells = line.split()
        assert cells[:3] == [str(i), str(int(result.iterations[i])), result.stop_reason[i]]
        assert float(cells[3]) == pytest.approx(float(result.scores[i][0]), rel=1e-3)
        assert float(cells[4]) == pytest.approx(float(result.scores[i][-1]), rel=1e-3)
    assert (
        lines[-1] == "stop reasons: normal 2, max_iter 1, not_abnormal 1 (4 images, threshold 0.3)"
    )


# -- StopReason -------------------------------------------------------------------------------


def test_stop_reasons_and_their_device_codes() -> None:
    # The codes are the members' order; reasons are only ever appended.
    assert [r.value for r in StopReason] == [
        "running",
        "normal",
        "max_iter",
        "degenerate_map",
        "not_abnormal",
        "nan_score",
    ]
    for code, reason in enumerate(StopReason):
        assert reason.code == code and StopReason.from_code(code) is reason
    with pytest.raises(IndexError):
        StopReason.from_code(len(StopReason))


def test_a_stop_reason_is_written_as_its_plain_string(tmp_path: Path) -> None:
    reason = StopReason.DEGENERATE_MAP
    assert reason == "degenerate_map" and StopReason("degenerate_map") is reason
    assert {"degenerate_map": 1}[reason] == 1 and {reason: 1}["degenerate_map"] == 1
    assert str(reason) == f"{reason}" == f"{reason:>14}".strip()
    assert json.dumps({reason: [reason]}) == '{"degenerate_map": ["degenerate_map"]}'
    np.savez(tmp_path / "r.npz", reason=np.str_(reason), reasons=np.asarray([reason]))
    with np.load(tmp_path / "r.npz") as data:
        assert data["reason"].dtype.kind == data["reasons"].dtype.kind == "U"
        assert data["reason"].item() == "degenerate_map"
        assert data["reasons"].tolist() == ["degenerate_map"]
    with (tmp_path / "r.csv").open("w", newline="") as handle:
        csv.writer(handle).writerow([reason, 1])
    assert (tmp_path / "r.csv").read_text() == "degenerate_map,1\n"


def test_the_loop_returns_stop_reason_members(result: AugmentationResult) -> None:
    assert all(type(r) is StopReason for r in result.stop_reason)
    assert result.stop_reason == ["normal", "normal", "not_abnormal", "max_iter"]
    assert list(result.stop_reason_counts()) == [StopReason.NORMAL, "max_iter", "not_abnormal"]
