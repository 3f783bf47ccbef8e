"""Channel reduction and upsampling of attributions to one input-sized map."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from captum_iterative import reduce, reduce_attribution
from captum_iterative.reduce import (
    get_channel_reduction,
    list_channel_reductions,
    register_channel_reduction,
)

ATTR = torch.tensor([[[[1.0, -4.0]], [[-3.0, 2.0]], [[0.5, 0.5]]]])  # (1, 3, 1, 2)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("abs_max", [3.0, 4.0]),
        ("abs_sum", [4.5, 6.5]),
        ("sum", [-1.5, -1.5]),
        ("max", [1.0, 2.0]),
        ("mean", [-0.5, -0.5]),
    ],
)
def test_named_reductions_known_answers(name: str, expected: list[float]) -> None:
    out = reduce_attribution(ATTR, (1, 2), name)
    assert out.shape == (1, 1, 1, 2)
    assert out.flatten().tolist() == pytest.approx(expected)


def test_callable_reduction_and_tuple_output() -> None:
    out = reduce_attribution((ATTR,), (1, 2), lambda a: a[:, :1])
    assert out.flatten().tolist() == [1.0, -4.0]


def test_layer_maps_are_upsampled_bilinearly() -> None:
    cam = torch.rand(2, 1, 7, 5)
    out = reduce_attribution(cam, (28, 20), "sum")
    expected = F.interpolate(cam, (28, 20), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, expected)


def test_reduction_applies_before_upsampling() -> None:
    layer = torch.randn(1, 4, 3, 3)
    out = reduce_attribution(layer, (6, 6), "abs_max")
    expected = F.interpolate(layer.abs().amax(1, keepdim=True), (6, 6), mode="bilinear")
    torch.testing.assert_close(out, expected)


def test_input_is_not_modified() -> None:
    attr = torch.randn(2, 3, 4, 4)
    before = attr.clone()
    reduce_attribution(attr, (4, 4), "abs_max")
    assert torch.equal(attr, before)


def test_bad_shapes_and_names() -> None:
    with pytest.raises(ValueError, match="Token-shaped"):
        reduce_attribution(torch.rand(2, 17, 64), (16, 16))
    with pytest.raises(ValueError, match="tuple of 2"):
        reduce_attribution((torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)), (4, 4))
    with pytest.raises(ValueError, match="channel_reduction"):
        reduce_attribution(torch.rand(1, 3, 4, 4), (4, 4), lambda a: a)
    with pytest.raises(
        ValueError,
        match=r"`channel_reduction` must be one of \['abs_max', 'abs_sum', 'max', 'mean', 'sum'\] "
        r"or a callable, got 'median'",
    ):
        get_channel_reduction("median")
    with pytest.raises(TypeError, match="channel_reduction"):
        get_channel_reduction(7)  # type: ignore[arg-type]


def _to_grid(tokens: torch.Tensor) -> torch.Tensor:
    """ViT tokens (N, 1 + 4 * 3, D) without the class token, as (N, D, 4, 3)."""
    return tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], 4, 3)


def test_token_attributions_are_reshaped_before_the_reduction() -> None:
    tokens = torch.randn(2, 1 + 12, 5)
    out = reduce_attribution(tokens, (8, 6), "abs_max", reshape_transform=_to_grid)
    grid = tokens[:, 1:].reshape(2, 4, 3, 5).permute(0, 3, 1, 2)  # patch (r, c) -> pixel block
    expected = F.interpolate(grid.abs().amax(1, keepdim=True), (8, 6), mode="bilinear")
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="reshape_transform"):
        reduce_attribution(tokens, (8, 6), reshape_transform=lambda t: t)
    with pytest.raises(ValueError, match="reshape_transform=") as caught:
        reduce_attribution(tokens, (8, 6))
    assert "(N, 1 + h * w, D)" in str(caught.value)


def test_volume_layer_maps_are_upsampled_trilinearly() -> None:
    layer = torch.randn(2, 3, 3, 4, 5)
    out = reduce_attribution(layer, (6, 8, 10), "sum")
    expected = F.interpolate(layer.sum(1, keepdim=True), (6, 8, 10), mode="trilinear")
    torch.testing.assert_close(out, expected)
    assert reduce_attribution(layer, (3, 4, 5)).shape == (2, 1, 3, 4, 5)
    with pytest.raises(ValueError, match=r"\(N, C, D, H, W\)"):
        reduce_attribution(torch.rand(2, 3, 4, 5), (6, 8, 10))
    with pytest.raises(TypeError, match="input_size"):
        reduce_attribution(layer, (6, 8, 10, 12))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["abs_max", "abs_sum", "sum", "max", "mean"])
def test_which_reductions_keep_the_sign_for_captums_visualization(name: str) -> None:
    # What docs/integrations.md ("Signs") says, checked against Captum's own visualization.
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from captum.attr import visualization as viz

    signed = name in ("sum", "max", "mean")
    torch.manual_seed(0)
    attribution = torch.randn(1, 3, 16, 16, dtype=torch.float64)
    attribution[:, :, :4] = -1.0  # every channel negative there: even "max" is negative
    maps = reduce_attribution(attribution, (16, 16), name)
    assert bool((maps < 0).any()) == signed
    hwc = maps[0].permute(1, 2, 0).numpy()

    def draw(sign: str) -> None:
        viz.visualize_image_attr(hwc, method="heat_map", sign=sign, use_pyplot=False)

    for sign in ("absolute_value", "positive", *(("all", "negative") if signed else ())):
        draw(sign)
    if not signed:
        with pytest.raises(AssertionError, match="Cannot normalize by scale factor = 0"):
            draw("negative")


def test_register_channel_reduction(monkeypatch: pytest.MonkeyPatch) -> None:
    assert list_channel_reductions() == ["abs_max", "abs_sum", "max", "mean", "sum"]
    monkeypatch.setattr(
        reduce._CHANNEL_REDUCTIONS, "_entries", dict(reduce._CHANNEL_REDUCTIONS._entries)
    )

    @register_channel_reduction("median")
    def median(attr: torch.Tensor) -> torch.Tensor:
        return attr.median(dim=1, keepdim=True).values

    assert get_channel_reduction("median") is median
    assert get_channel_reduction(median) is median
    assert list_channel_reductions() == ["abs_max", "abs_sum", "max", "mean", "median", "sum"]
    attr = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(reduce_attribution(attr, (4, 4), "median"), median(attr))
    with pytest.raises(ValueError, match="channel reduction name 'sum' is already registered"):
        register_channel_reduction("sum")(median)
