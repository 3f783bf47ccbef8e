"""The Quantus adapter: numpy in and out, Quantus-only keywords, the model Quantus passes,
images predicted normal, and real Quantus metrics (skipped without the quantus extra)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import IntegratedGradients, LayerGradCam, Saliency
from torch import nn

from captum_iterative import AugmentationWarning, IterativeAugmentation
from captum_iterative.integrations import QUANTUS_ONLY_KEYWORDS, explain_func
from captum_iterative.integrations import quantus as quantus_adapter

TH = 0.3
INTENSITIES = [[0.9, 0.8], [0.95], []]  # the last image is predicted normal


def batch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, labels and blob masks as Quantus passes them: numpy, channel first."""
    images = torch.stack([blob_image(v, seed=i) for i, v in enumerate(INTENSITIES)])
    masks = images.mean(dim=1, keepdim=True) > 0.5
    return images.numpy(), np.zeros(len(INTENSITIES), dtype=np.int64), masks.numpy()


class SmallNet(nn.Module):
    """A small ReLU network with three layers that Quantus's MPRT can randomise."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).amax(dim=(2, 3)))


def test_numpy_in_numpy_out_and_quantus_keywords_are_not_passed_on(blob_model: BlobScore) -> None:
    x, y, _ = batch()
    # The trap: device= reaches Captum's attribute and raises TypeError.
    loop = IterativeAugmentation(Saliency(blob_model), threshold=TH)
    with pytest.raises(TypeError, match="device"):
        loop.explain(torch.from_numpy(x), device="cpu")
    quantus_kwargs = {name: None for name in QUANTUS_ONLY_KEYWORDS} | {"device": "cpu"}
    with pytest.warns(UserWarning, match="constant"):
        maps = explain_func(
            blob_model,
            x,
            y,
            method="Saliency",
            threshold=TH,
            explain_normal=False,
            **quantus_kwargs,
        )
    assert (
        isinstance(maps, np.ndarray) and maps.dtype == np.float32 and maps.shape == (3, 1, 48, 48)
    )
    expected = loop.attribute(torch.from_numpy(x), target=None)
    np.testing.assert_array_equal(maps, expected.float().numpy())
    initial = explain_func(blob_model, x, y, method=Saliency, threshold=TH, maps="initial")
    np.testing.assert_array_equal(
        initial[:2], loop.explain(torch.from_numpy(x)).initial[:2].float()
    )
    with pytest.raises(TypeError, match="max_itr"):
        explain_func(blob_model, x, y, threshold=TH, max_itr=3)  # a typo is not swallowed


def test_the_explainer_is_built_from_the_model_passed() -> None:
    x, y, _ = batch()
    first, second = SmallNet().eval(), SmallNet().eval()
    with torch.no_grad():
        second.features[0].weight.add_(torch.randn_like(second.features[0].weight))

    def grad_cam(model: SmallNet) -> LayerGradCam:
        return LayerGradCam(model, model.features[2])  # the layer of the model passed

    kwargs = {"method": grad_cam, "threshold": -1e9, "max_iter": 2, "device": "cpu"}
    a, b = explain_func(first, x, y, **kwargs), explain_func(second, x, y, **kwargs)
    assert not np.array_equal(a, b)
    expected = IterativeAugmentation(grad_cam(second), threshold=-1e9, max_iter=2).attribute(
        torch.from_numpy(x).float()
    )
    np.testing.assert_array_equal(b, expected.numpy())


def test_images_predicted_normal_get_their_first_map(blob_model: BlobScore) -> None:
    x, y, _ = batch()
    maps = explain_func(blob_model, x, y, threshold=TH)
    assert maps[2].max() > maps[2].min()  # the plain first map of the normal image
    first = Saliency(blob_model).attribute(torch.from_numpy(x[2:]).requires_grad_())
    np.testing.assert_allclose(maps[2, 0], first.abs().amax(1)[0].numpy(), rtol=1e-6)
    with pytest.warns(
        UserWarning, match=r"image\(s\) \[2\] are constant \(stop reason not_abnormal\)"
    ):
        explain_func(blob_model, x, y, threshold=TH, explain_normal=False)


def test_labels_of_a_single_output_model_are_not_class_indices(blob_model: BlobScore) -> None:
    x, _, _ = batch()
    grades = np.array([3, 1, 0])  # e.g. Quantus's y_batch of grades
    np.testing.assert_array_equal(
        explain_func(blob_model, x, grades, threshold=TH),
        explain_func(blob_model, x, None, threshold=TH),
    )


def test_bad_arguments(blob_model: BlobScore) -> None:
    x, y, _ = batch()
    with pytest.raises(ValueError, match="maps"):
        explain_func(blob_model, x, y, threshold=TH, maps="final")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        explain_func(blob_model, x, y, threshold=TH, method="NoSuchMethod")
    with pytest.raises(TypeError, match="model"):
        explain_func(lambda t: t, x, y, threshold=TH)  # type: ignore[arg-type]


def test_xai_lib_kwargs_are_the_constructor_keywords_as_in_quantus_explain(
    blob_model: BlobScore,
) -> None:
    x, y, _ = batch()
    first, second = SmallNet().eval(), SmallNet().eval()
    with torch.no_grad():
        second.features[0].weight.add_(torch.randn_like(second.features[0].weight))
    common = {"threshold": -1e9, "max_iter": 2}
    for model in (first, second):  # second: a randomised copy, as MPRT passes
        factory = explain_func(
            model, x, y, method=lambda m: LayerGradCam(m, m.features[2]), **common
        )
        # xai_lib_kwargs were dropped, so LayerGradCam(model) failed: missing `layer`.
        for layer in ("features.2", "model.features[2]", model.features[2]):
            by_name = explain_func(
                model, x, y, method="LayerGradCam", xai_lib_kwargs={"layer": layer}, **common
            )
            np.testing.assert_array_equal(by_name, factory)
    # A constructor keyword that changes the maps: Captum's own result, not the default's.
    ig = {"threshold": TH, "max_iter": 2, "attribute_kwargs": {"n_steps": 4}}
    plain = explain_func(
        blob_model,
        x,
        y,
        method="IntegratedGradients",
        xai_lib_kwargs={"multiply_by_inputs": False},
        **ig,
    )
    expected = explain_func(
        blob_model,
        x,
        y,
        method=lambda m: IntegratedGradients(m, multiply_by_inputs=False),
        **ig,
    )
    np.testing.assert_array_equal(plain, expected)
    default = explain_func(blob_model, x, y, method="IntegratedGradients", **ig)
    assert not np.allclose(plain, default)


def test_keywords_in_the_wrong_place_name_the_right_one(blob_model: BlobScore) -> None:
    x, y, _ = batch()
    ig = {"method": "IntegratedGradients", "threshold": TH}
    # It failed with "__init__() got an unexpected keyword argument 'n_steps'".
    with pytest.raises(
        TypeError, match=r"'n_steps'.*IntegratedGradients\.attribute.*`attribute_kwargs`"
    ):
        explain_func(blob_model, x, y, n_steps=5, **ig)
    with pytest.raises(TypeError, match=r"'multiply_by_inputs'.*constructor.*`xai_lib_kwargs`"):
        explain_func(blob_model, x, y, multiply_by_inputs=False, **ig)
    with pytest.raises(TypeError, match=r"constructor: pass it in the factory"):
        explain_func(
            blob_model,
            x,
            y,
            threshold=TH,
            method=lambda m: IntegratedGradients(m),
            multiply_by_inputs=False,
        )
    with pytest.raises(TypeError, match=r"`xai_lib_kwargs` holds 'n_steps'.*`attribute_kwargs`"):
        explain_func(blob_model, x, y, xai_lib_kwargs={"n_steps": 5}, **ig)
    with pytest.raises(TypeError, match=r"'max_itr'.*IterativeAugmentation: .*max_iter"):
        explain_func(blob_model, x, y, max_itr=3, **ig)
    with pytest.raises(ValueError, match="a factory `method` builds its explainer itself"):
        explain_func(
            blob_model,
            x,
            y,
            threshold=TH,
            method=lambda m: Saliency(m),
            xai_lib_kwargs={"layer": "conv"},
        )
    net = SmallNet()
    grad_cam = {"method": "LayerGradCam", "threshold": TH}
    with pytest.raises(ValueError, match="not a module of the model Quantus passed"):
        explain_func(net, x, y, xai_lib_kwargs={"layer": SmallNet().features[2]}, **grad_cam)
    with pytest.raises(ValueError, match=r"'features\.9' names no module of the model"):
        explain_func(net, x, y, xai_lib_kwargs={"layer": "features.9"}, **grad_cam)


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """explain_func shows each warning once per process: start this test with none shown."""
    monkeypatch.setattr(quantus_adapter, "_SHOWN_WARNINGS", set())


def test_quantus_settings_the_loop_does_not_apply_are_named(
    blob_model: BlobScore, fresh_warnings: None
) -> None:
    x, y, _ = batch()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explain_func(blob_model, x, y, threshold=TH, softmax=False, xai_lib="captum")
        explain_func(blob_model, x, y, threshold=TH, channel_first=True, reduce_axes=None)
    # The batch's normal image is reported by the loop itself (AugmentationWarning, its own
    # test); no Quantus setting is named.
    settings = [w for w in caught if not issubclass(w.category, AugmentationWarning)]
    assert [str(w.message) for w in settings] == []
    with pytest.warns(UserWarning, match=r"`softmax=True` is not applied.*score='softmax'"):
        explain_func(blob_model, x, y, threshold=TH, softmax=True)
    with pytest.warns(UserWarning, match=r"`reduce_axes=\(1,\)` is not applied.*channel_reduction"):
        explain_func(blob_model, x, y, threshold=TH, reduce_axes=(1,))


def _hook_notes(caught: list[warnings.WarningMessage]) -> int:
    return sum("Setting backward hooks on ReLU" in str(w.message) for w in caught)


def test_the_loops_warnings_show_once_per_process(fresh_warnings: None) -> None:
    x, y, _ = batch()
    net = SmallNet().eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):  # as Quantus calls it: once per batch
            explain_func(net, x, y, method="GuidedBackprop", threshold=-1e9, max_iter=2)
    assert _hook_notes(caught) == 1  # it was once per call


# -- with Quantus -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quantus():  # type: ignore[no-untyped-def]
    return pytest.importorskip("quantus", reason="needs the quantus extra")


def _metric(quantus, name: str):  # type: ignore[no-untyped-def]
    return getattr(quantus, name)(disable_warnings=True, display_progressbar=False)


@pytest.mark.parametrize(
    "name", ["PointingGame", "AttributionLocalisation", "RelevanceRankAccuracy"]
)
def test_quantus_localisation_metrics_find_the_blobs(
    quantus, blob_model: BlobScore, name: str
) -> None:  # type: ignore[no-untyped-def]
    x, y, s = batch()
    scores = _metric(quantus, name)(
        model=blob_model,
        x_batch=x[:2],
        y_batch=y[:2],
        s_batch=s[:2],
        explain_func=explain_func,
        explain_func_kwargs={"method": "Saliency", "threshold": TH},
        device="cpu",
    )
    assert len(scores) == 2 and all(score > 0.5 for score in scores)


def test_quantus_scores_images_predicted_normal(quantus, blob_model: BlobScore) -> None:  # type: ignore[no-untyped-def]
    x, y, s = batch()
    s[2, 0, 20:30, 20:30] = True  # a region to point at in the image without blobs
    kwargs = {
        "model": blob_model,
        "x_batch": x[2:],
        "y_batch": y[2:],
        "s_batch": s[2:],
        "device": "cpu",
    }
    metric = _metric(quantus, "AttributionLocalisation")
    # With all-zero maps Quantus refuses a batch of one (and scores larger batches 0).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AssertionError, match="all equal to zero"):
            metric(
                **kwargs,
                explain_func=explain_func,
                explain_func_kwargs={"threshold": TH, "explain_normal": False},
            )
    (score,) = metric(**kwargs, explain_func=explain_func, explain_func_kwargs={"threshold": TH})
    assert 0.0 < score < 1.0


def test_mprt_sees_the_randomised_model(quantus) -> None:  # type: ignore[no-untyped-def]
    x, y, _ = batch()
    model = SmallNet().eval()
    metric = quantus.MPRT(layer_order="bottom_up", disable_warnings=True, display_progressbar=False)
    call = {"model": model, "x_batch": x[:2], "y_batch": y[:2], "a_batch": None, "device": "cpu"}
    ours = metric(
        **call,
        explain_func=explain_func,
        explain_func_kwargs={"method": "Saliency", "threshold": -1e9, "max_iter": 2},
    )
    layers = [k for k in ours if k != "original"]
    assert layers == ["features.0", "features.2", "head"]
    assert all(max(ours[k]) < 0.99 for k in layers)
    # Glue closing over an explainer built once explains the original model every time: 1.0.
    fixed = IterativeAugmentation(Saliency(model), threshold=-1e9, max_iter=2)

    def closed_over(
        model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **kwargs: object
    ) -> np.ndarray:
        return fixed.attribute(torch.from_numpy(inputs).float()).numpy()

    trapped = metric(**call, explain_func=closed_over)
    assert all(v == pytest.approx(1.0) for k in layers for v in trapped[k])


def test_captums_hook_note_shows_once_under_a_quantus_metric(quantus, fresh_warnings: None) -> None:  # type: ignore[no-untyped-def]
    x, y, s = batch()
    metric = _metric(quantus, "AttributionLocalisation")
    kwargs = {"method": "GuidedBackprop", "threshold": -1e9, "max_iter": 2}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for maps in ("initial", "augmented"):
            metric(
                model=SmallNet().eval(),
                x_batch=x,
                y_batch=y,
                s_batch=s,
                device="cpu",
                batch_size=1,
                explain_func=explain_func,
                explain_func_kwargs={**kwargs, "maps": maps},
            )
    assert _hook_notes(caught) == 1  # it was once per batch: 6 here
