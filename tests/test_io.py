"""captum_iterative.io: reading user images and masks, listing folders (OpenCV/Pillow references)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from captum_iterative.io import IMAGE_SUFFIXES, image_id, list_images, read_image, read_mask


def _rgb(height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _write_rgb(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


# -- read_image: known answers --------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".ppm"])
def test_lossless_formats_round_trip_rgb(tmp_path: Path, suffix: str) -> None:
    rgb = _rgb()
    out = read_image(_write_rgb(tmp_path / f"a{suffix}", rgb))
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    np.testing.assert_array_equal(out, rgb)


def test_jpeg_equals_opencv_decoding_in_rgb_order(tmp_path: Path) -> None:
    path = _write_rgb(tmp_path / "a.JPG", _rgb())
    reference = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(read_image(path), reference)


def test_grey_is_replicated_to_three_channels(tmp_path: Path) -> None:
    grey = _rgb()[..., 0]
    path = tmp_path / "g.png"
    assert cv2.imwrite(str(path), grey)
    out = read_image(path)
    assert out.shape == (*grey.shape, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], grey)


def test_sixteen_bit_is_scaled_by_257(tmp_path: Path) -> None:
    values = np.array([[0, 128, 257, 65535], [1000, 30000, 65534, 12345]], dtype=np.uint16)
    rgb16 = np.stack([values, values[::-1], values[:, ::-1]], axis=-1)
    path = tmp_path / "w.png"
    assert cv2.imwrite(str(path), rgb16[..., ::-1])
    out = read_image(path)
    np.testing.assert_array_equal(out, np.rint(rgb16 / 257.0).astype(np.uint8))
    assert out[0, 3, 0] == 255 and out[0, 2, 0] == 1


def test_rgba_drops_alpha_without_compositing(tmp_path: Path) -> None:
    rgb = _rgb()
    alpha = np.zeros(rgb.shape[:2], np.uint8)  # fully transparent: compositing would give black
    path = tmp_path / "a.png"
    Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA").save(path)
    np.testing.assert_array_equal(read_image(path), rgb)


def test_palette_image_is_expanded_like_pillow(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    Image.fromarray(_rgb()).convert("P").save(path)
    with Image.open(path) as image:
        reference = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(read_image(path), reference)


@given(arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3))))
@settings(max_examples=25, deadline=None)
def test_png_round_trip_property(tmp_path_factory: pytest.TempPathFactory, rgb: np.ndarray) -> None:
    path = _write_rgb(tmp_path_factory.mktemp("png") / "x.png", rgb)
    out = read_image(path)
    np.testing.assert_array_equal(out, rgb)
    out[...] = 0  # a new array: the next read is unaffected
    np.testing.assert_array_equal(read_image(path), rgb)


# -- read_image: bad input ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file_is_refused(tmp_path: Path, suffix: str) -> None:
    whole = _write_rgb(tmp_path / f"whole{suffix}", _rgb(64, 64))
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_image(cut)


def test_truncated_jpeg_is_what_opencv_alone_accepts(tmp_path: Path) -> None:
    """The reason for the Pillow check: OpenCV decodes half a JPEG without an error."""
    whole = _write_rgb(tmp_path / "whole.jpg", _rgb(64, 64))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert cv2.imread(str(cut)) is not None
    with pytest.raises(ValueError, match=str(cut)):
        read_image(cut)


def test_not_an_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "text.png"
    path.write_text("not an image")
    with pytest.raises(ValueError, match=r"text\.png"):
        read_image(path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.jpg"):
        read_image(path)


@pytest.mark.parametrize("name", ["notes.txt", "scan.dcm", "noextension"])
def test_unsupported_extension_is_refused_before_decoding(tmp_path: Path, name: str) -> None:
    path = _write_rgb(tmp_path / "a.png", _rgb()).rename(tmp_path / name)
    with pytest.raises(ValueError, match="unsupported image format"):
        read_image(path)


def test_float_tiff_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.tif"
    assert cv2.imwrite(str(path), np.random.default_rng(0).random((8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="pixel type"):
        read_image(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        read_image(tmp_path / "missing.png")


# -- read_mask --------------------------------------------------------------------------------


def test_read_mask_is_pillow_grey_above_zero(tmp_path: Path) -> None:
    grey = np.array([[0, 1, 255], [0, 0, 7]], dtype=np.uint8)
    path = tmp_path / "m.png"
    Image.fromarray(grey).save(path)
    mask = read_mask(path, shape=(2, 3))
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, grey > 0)


def test_mask_of_another_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"12x10 \(W x H\) but its image is 13x10"):
        read_mask(path, shape=(10, 13))


def test_truncated_mask_is_refused(tmp_path: Path) -> None:
    whole = tmp_path / "whole.png"
    Image.fromarray(_rgb(64, 64)[..., 0]).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"cut\.png"):
        read_mask(cut)


# -- list_images ------------------------------------------------------------------------------


def test_list_images_sorted_skipping_others_and_hidden(tmp_path: Path) -> None:
    for name in ["b.png", "a.JPG", "c.tiff", ".d.png", "notes.txt", ".img.x.tmp.png"]:
        _write_rgb(tmp_path / "tmp.png", _rgb(4, 4)).rename(tmp_path / name)
    (tmp_path / "sub").mkdir()
    _write_rgb(tmp_path / "sub" / "e.png", _rgb(4, 4))
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "c.tiff"]
    found = list_images(tmp_path, recursive=True)
    assert [image_id(p, tmp_path) for p in found] == ["a", "b", "c", "sub/e"]


def test_list_images_empty_folder(tmp_path: Path) -> None:
    assert list_images(tmp_path) == []


def test_list_images_refuses_two_images_with_one_id(tmp_path: Path) -> None:
    _write_rgb(tmp_path / "a.png", _rgb(4, 4))
    _write_rgb(tmp_path / "a.jpg", _rgb(4, 4))
    with pytest.raises(ValueError, match="share the identifier 'a'"):
        list_images(tmp_path)


def test_list_images_bad_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "nope")
    file = _write_rgb(tmp_path / "a.png", _rgb(4, 4))
    with pytest.raises(NotADirectoryError):
        list_images(file)


def test_suffixes_are_lower_case_with_dot() -> None:
    assert all(s.startswith(".") and s == s.lower() for s in IMAGE_SUFFIXES)


# -- pixel rules (shared by the dataset loaders) ------------------------------------------------


def _rgb_file(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


def _gray_file(path: Path, grey: np.ndarray) -> Path:
    cv2.imwrite(str(path), grey)
    return path


def _text_file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_read_image_keeps_channel_order(tmp_path: Path) -> None:
    image = np.zeros((5, 6, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 100, 7
    np.testing.assert_array_equal(read_image(_rgb_file(tmp_path / "a.png", image)), image)


def test_read_image_converts_grey_alpha_and_16_bit(tmp_path: Path) -> None:
    grey = np.arange(30, dtype=np.uint8).reshape(5, 6)
    out = read_image(_gray_file(tmp_path / "grey.png", grey))
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=2))
    rgba = np.random.default_rng(0).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgba[..., :3])
    deep = np.array([[0, 128, 256, 385], [65535, 65407, 30000, 1]], np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    expected = np.array([[0, 0, 1, 1], [255, 255, 117, 0]], np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png")[..., 1], expected)


def test_read_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.png"):
        read_image(tmp_path / "nope.png")
    _text_file(tmp_path / "broken.png", "not an image")
    with pytest.raises(ValueError, match=r"broken\.png"):
        read_image(tmp_path / "broken.png")
    cv2.imwrite(str(tmp_path / "float.tiff"), np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"float32 .*float.tiff"):
        read_image(tmp_path / "float.tiff")


def test_read_mask_follows_pil_luminance(tmp_path: Path) -> None:
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)  # IDRiD-style red annotation
    rgb[1, 1] = (1, 0, 0)  # luminance rounds to 0
    _rgb_file(tmp_path / "m.tif", rgb)
    expected = np.zeros((3, 4), bool)
    expected[0, 0] = True
    np.testing.assert_array_equal(read_mask(tmp_path / "m.tif"), expected)
    with pytest.raises(ValueError, match=r"junk\.tif"):
        read_mask(_text_file(tmp_path / "junk.tif", "junk"))
