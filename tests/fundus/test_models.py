"""Tests of the timm classifiers: the paper's surgery, Grad-CAM layers, weights, registry."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import timm
import torch
from captum.attr import GuidedBackprop, LayerGradCam, Saliency
from safetensors.torch import save_file
from torch import nn

from captum_iterative.fundus import models
from captum_iterative.fundus.activations import replace_activations
from captum_iterative.fundus.models import (
    FundusClassifier,
    create_classifier,
    gradcam_layer,
    list_classifiers,
    register_classifier,
)

#: The architectures defined here (the fifth registered one, inception_v3, is timm's own).
OURS = ("vgg16_narrow", "vgg16_paper", "vgg_small", "vgg_tiny")


@pytest.fixture(scope="module")
def vgg16() -> FundusClassifier:
    return create_classifier("vgg16_paper").eval()


@pytest.fixture(scope="module")
def inception() -> FundusClassifier:
    return create_classifier("inception_v3").eval()


@pytest.fixture()
def empty_weight_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the Hugging Face and torch hub caches at an empty folder."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch"))
    return tmp_path


def test_registry_names() -> None:
    assert list_classifiers() == [
        "inception_v3",
        "vgg16_narrow",
        "vgg16_paper",
        "vgg_small",
        "vgg_tiny",
    ]


def test_our_names_are_timm_models_and_collide_with_no_timm_builtin() -> None:
    builtin = {
        name
        for name in timm.list_models()
        if timm.models.model_entrypoint(name).__module__.startswith("timm.")
    }
    assert not builtin & set(OURS)
    assert "inception_v3" in builtin
    for name in OURS:
        assert name in timm.list_models()
        assert timm.models.model_entrypoint(name) is getattr(models, name)


@pytest.mark.parametrize(
    ("name", "size"), [("vgg_tiny", 64), ("vgg_small", 64), ("vgg16_narrow", 128)]
)
def test_timm_create_model_builds_the_classifiers_backbone(name: str, size: int) -> None:
    torch.manual_seed(0)
    ours = create_classifier(name, num_outputs=2, dropout=0.3).eval()
    torch.manual_seed(0)
    theirs = timm.create_model(name, num_classes=2, drop_rate=0.3).eval()
    assert str(theirs) == str(ours.backbone)
    mine, other = ours.backbone.state_dict(), theirs.state_dict()
    assert mine.keys() == other.keys()
    assert all(torch.equal(mine[key], other[key]) for key in mine)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(ours.normalize(x)))
    # timm's defaults are the classifier's: one output, dropout 0.5.
    torch.manual_seed(0)
    default = timm.create_model(name).eval()
    torch.manual_seed(0)
    assert str(default) == str(create_classifier(name).backbone)


def test_timm_create_model_builds_the_papers_vgg16(vgg16: FundusClassifier) -> None:
    theirs = timm.create_model("vgg16_paper", device="meta")
    assert str(theirs) == str(vgg16.backbone)
    assert [s["reduction"] for s in theirs.feature_info] == [2, 4, 8, 16, 32, 64]


def test_compact_vggs_have_no_pretrained_weights() -> None:
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("vgg_tiny", pretrained=True)


def test_register_classifier_refuses_taken_and_mismatched_names() -> None:
    with pytest.raises(ValueError, match="classifier name 'vgg_tiny' is already registered"):
        register_classifier("vgg_tiny", gradcam_layer="backbone.features.1")(models.vgg_tiny)
    with pytest.raises(ValueError, match="classifier name 'resnet18' is already a timm model"):

        def resnet18(pretrained: bool = False, **kwargs: object) -> nn.Module:
            return models.vgg_tiny(**kwargs)

        register_classifier("resnet18", gradcam_layer="backbone.features.7")(resnet18)
    with pytest.raises(ValueError, match="function name"):
        register_classifier("vgg_mini", gradcam_layer="backbone.features.7")(models.vgg_tiny)
    assert "vgg_mini" not in list_classifiers() and not timm.is_model("vgg_mini")
    # The same entrypoint again is no change.
    register_classifier("vgg_tiny", gradcam_layer="backbone.features.7")(models.vgg_tiny)


@pytest.fixture()
def scratch_classifier(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A name free for the test, unregistered here and from timm afterwards."""
    from timm.models import _registry as timm_registry

    name = "vgg_scratch"
    monkeypatch.setattr(models._CLASSIFIERS, "_entries", dict(models._CLASSIFIERS._entries))
    yield name
    # timm has no public unregister; these are the entries register_model adds.
    timm_registry._clear_model_entries(name)
    timm_registry._model_entrypoints.pop(name, None)


def test_a_registered_classifier_is_a_timm_model_with_its_gradcam_layer(
    scratch_classifier: str,
) -> None:
    def vgg_scratch(pretrained: bool = False, **kwargs: object) -> nn.Module:
        return models.vgg_tiny(pretrained, **kwargs)

    register_classifier(scratch_classifier, gradcam_layer="backbone.features.4")(vgg_scratch)
    assert scratch_classifier in list_classifiers() and timm.is_model(scratch_classifier)
    model = create_classifier(scratch_classifier)
    assert isinstance(model, FundusClassifier) and model.arch == scratch_classifier
    assert gradcam_layer(model) is model.backbone.features[4]
    assert type(timm.create_model(scratch_classifier)) is type(model.backbone)


def test_vgg16_paper_surgery(vgg16: FundusClassifier) -> None:
    features = vgg16.backbone.features
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13
    assert features[0].stride == (2, 2)
    assert all(c.stride == (1, 1) for c in convs[1:])
    assert features[24].padding == (0, 0)
    assert all(c.padding == (1, 1) for c in convs if c is not features[24])
    assert sum(isinstance(m, nn.MaxPool2d) for m in features) == 5
    assert [s["reduction"] for s in vgg16.backbone.feature_info] == [2, 4, 8, 16, 32, 64]


def test_vgg16_paper_shapes_at_512(vgg16: FundusClassifier) -> None:
    x = torch.rand(1, 3, 512, 512)
    with torch.no_grad():
        feats = vgg16.backbone.forward_features(vgg16.normalize(x))
        out = vgg16(x)
    assert feats.shape == (1, 512, 7, 7)
    assert out.shape == (1, 1)


def test_vgg16_paper_head_fits_imagenet_weights(vgg16: FundusClassifier) -> None:
    reference = timm.create_model("vgg16", device="meta")
    ours = {k: v.shape for k, v in vgg16.backbone.state_dict().items()}
    theirs = {k: v.shape for k, v in reference.state_dict().items()}
    assert ours.keys() == theirs.keys()
    assert {k for k in ours if ours[k] != theirs[k]} == {"head.fc.weight", "head.fc.bias"}
    assert ours["pre_logits.fc1.weight"] == (4096, 512, 7, 7)
    assert ours["head.fc.weight"] == (1, 4096)


def test_vgg16_paper_dropout_between_fully_connected_layers(vgg16: FundusClassifier) -> None:
    head = vgg16.backbone
    assert isinstance(head.pre_logits.drop, nn.Dropout) and head.pre_logits.drop.p == 0.5
    assert isinstance(head.head.drop, nn.Dropout) and head.head.drop.p == 0.5
    names = [n for n, _ in head.pre_logits.named_children()]
    assert names == ["fc1", "act1", "drop", "fc2", "act2"]
    assert create_classifier("vgg_tiny", dropout=0.2).backbone.head.drop.p == 0.2


def test_vgg16_paper_gradcam_layer_is_block3_conv3_relu(vgg16: FundusClassifier) -> None:
    layer = gradcam_layer(vgg16)
    features = vgg16.backbone.features
    assert layer is features[15]
    assert isinstance(layer, nn.ReLU)
    conv3_3 = [m for m in features[:15] if isinstance(m, nn.Conv2d)][-1]
    assert conv3_3 is features[14] and conv3_3.out_channels == 256
    assert sum(isinstance(m, nn.MaxPool2d) for m in features[:15]) == 2


@pytest.mark.parametrize("size", [299, 512])
def test_inception_output(inception: FundusClassifier, size: int) -> None:
    with torch.no_grad():
        assert inception(torch.rand(1, 3, size, size)).shape == (1, 1)


def test_inception_head_and_gradcam_layer(inception: FundusClassifier) -> None:
    assert inception.backbone.head_drop.p == 0.5
    assert inception.backbone.fc.out_features == 1
    assert gradcam_layer(inception) is inception.backbone.Mixed_7a
    assert inception.normalize.mean.flatten().tolist() == [0.5, 0.5, 0.5]


def test_vgg_tiny_structure() -> None:
    model = create_classifier("vgg_tiny")
    n_params = sum(p.numel() for p in model.parameters())
    assert 100_000 < n_params < 1_000_000
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert buffer.tell() < 5 * 2**20
    features = model.backbone.features
    assert features[0].stride == (2, 2)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 5
    activations = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.SiLU, nn.GELU))]
    assert activations and all(type(m) is nn.ReLU and not m.inplace for m in activations)
    layer = gradcam_layer(model)
    assert layer is features[7]
    middle = model.backbone.feature_info[2]
    assert middle["module"] == "features.7" and middle["reduction"] == 8


@pytest.mark.parametrize("size", [64, 512])
def test_vgg_tiny_output_and_gradcam_resolution(size: int) -> None:
    model = create_classifier("vgg_tiny").eval()
    x = torch.rand(1, 3, size, size)
    assert model(x).shape == (1, 1)
    cam = LayerGradCam(model, gradcam_layer(model)).attribute(x, relu_attributions=True)
    assert cam.shape == (1, 1, size // 8, size // 8)
    assert bool((cam >= 0).all())


def test_vgg_small_structure() -> None:
    model = create_classifier("vgg_small")
    n_params = sum(p.numel() for p in model.parameters())
    assert 300_000 < n_params < 1_000_000
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert buffer.tell() < 5 * 2**20
    features = model.backbone.features
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 64, 128, 128, 128]
    assert all(c.stride == (1, 1) and c.padding == (1, 1) for c in convs)
    norms = [m for m in features if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == len(convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 5
    activations = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.SiLU, nn.GELU))]
    assert activations and all(type(m) is nn.ReLU and not m.inplace for m in activations)
    assert gradcam_layer(model) is features[13]
    assert isinstance(features[12], nn.BatchNorm2d) and isinstance(features[14], nn.MaxPool2d)
    middle = model.backbone.feature_info[2]
    assert middle["module"] == "features.13" and middle["reduction"] == 4


def test_vgg16_narrow_is_the_papers_layout_at_a_quarter_width() -> None:
    narrow = create_classifier("vgg16_narrow").eval()
    paper = create_classifier("vgg16_paper").eval()

    def convs(model: FundusClassifier) -> list[nn.Conv2d]:
        return [m for m in model.backbone.features if isinstance(m, nn.Conv2d)]

    # the paper's thirteen convolutions, strides and paddings, at a quarter of the channels
    assert [4 * c.out_channels for c in convs(narrow)] == [c.out_channels for c in convs(paper)]
    assert [(c.stride, c.padding) for c in convs(narrow)] == [
        (c.stride, c.padding) for c in convs(paper)
    ]
    assert convs(narrow)[0].stride == (2, 2) and convs(narrow)[10].padding == (0, 0)
    x = torch.rand(1, 3, 512, 512)
    assert narrow.backbone.forward_features(narrow.normalize(x)).shape == (1, 128, 7, 7)
    # Grad-CAM at the paper's layer: the ReLU after block 3 conv 3, 64 x 64 at 512 px
    layer = gradcam_layer(narrow)
    assert layer is narrow.backbone.features[22] and isinstance(layer, nn.ReLU)
    assert narrow.backbone.features[20] is convs(narrow)[6]
    cam = LayerGradCam(narrow, layer).attribute(x, relu_attributions=True)
    assert cam.shape == (1, 1, 64, 64)


def test_vgg_small_initialisation() -> None:
    # Built on the meta device: every tensor must be materialised with real values.
    model = create_classifier("vgg_small")
    tensors = list(model.parameters()) + list(model.buffers())
    assert all(t.device.type == "cpu" and bool(torch.isfinite(t.float()).all()) for t in tensors)
    for norm in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert bool((norm.weight == 1).all()) and bool((norm.bias == 0).all())
        assert bool((norm.running_mean == 0).all()) and bool((norm.running_var == 1).all())
        assert int(norm.num_batches_tracked) == 0
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(float(c.weight.std()) > 0 and bool((c.bias == 0).all()) for c in convs)


@pytest.mark.parametrize("size", [64, 224])
def test_vgg_small_output_and_gradcam_resolution(size: int) -> None:
    model = create_classifier("vgg_small").eval()
    x = torch.rand(2, 3, size, size)
    assert model(x).shape == (2, 1)
    cam = LayerGradCam(model, gradcam_layer(model)).attribute(x, relu_attributions=True)
    assert cam.shape == (2, 1, size // 4, size // 4)
    assert bool((cam >= 0).all())


def test_vgg_small_eval_is_per_image() -> None:
    # Batch norm uses running statistics in eval mode: an image's score and guided
    # backpropagation map do not depend on the rest of the batch.
    torch.manual_seed(0)
    model = create_classifier("vgg_small").eval()
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:1], model(x[:1]))
    guided = GuidedBackprop(model)
    torch.testing.assert_close(guided.attribute(x)[:1], guided.attribute(x[:1]))


@pytest.mark.parametrize("name", ["vgg_tiny", "vgg_small"])
def test_guided_backprop_differs_from_gradient(name: str) -> None:
    torch.manual_seed(0)
    model = create_classifier(name).eval()
    x = torch.rand(1, 3, 64, 64)
    guided = GuidedBackprop(model).attribute(x)
    plain = Saliency(model).attribute(x, abs=False)
    assert guided.shape == x.shape
    assert not torch.allclose(guided, plain)


def test_replace_activations_in_nested_modules() -> None:
    shared = nn.ReLU6()
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU6(), nn.Sequential(nn.Linear(2, 2), shared))
    net.add_module("again", shared)
    assert replace_activations(net, nn.ReLU6) == 3
    assert not any(isinstance(m, nn.ReLU6) for m in net.modules())
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 3 and not any(m.inplace for m in relus)
    assert replace_activations(net, nn.ReLU6) == 0
    assert replace_activations(net, nn.ReLU, lambda: nn.LeakyReLU(0.1)) == 3
    with pytest.raises(ValueError, match="`model` itself"):
        replace_activations(nn.ReLU6(), nn.ReLU6)


def _lite0(**kwargs: object) -> FundusClassifier:
    torch.manual_seed(0)
    return create_classifier("efficientnet_lite0", **kwargs).eval()


def test_guided_backprop_needs_relu_modules() -> None:
    """EfficientNet-Lite's ReLU6 is not hooked: guided backpropagation is the plain gradient
    until the activations are nn.ReLU."""
    model = _lite0()
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == 33
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 64)
    plain = Saliency(model).attribute(x, abs=False)
    # Same process, same operations (no hook changes anything): bit-identical.
    assert torch.equal(GuidedBackprop(model).attribute(x), plain)

    assert replace_activations(model, nn.ReLU6) == 33
    assert not any(isinstance(m, nn.ReLU6) for m in model.modules())
    guided = GuidedBackprop(model).attribute(x)
    assert not torch.allclose(guided, Saliency(model).attribute(x, abs=False))

    # Built with act_layer="relu", the same weights give the same network as the swap.
    built = _lite0(act_layer="relu")
    assert sum(isinstance(m, nn.ReLU) for m in built.modules()) == 33
    assert not any(isinstance(m, nn.ReLU6) for m in built.modules())
    built.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(built(x), model(x))
    assert torch.equal(GuidedBackprop(built).attribute(x), guided)


def test_registered_vggs_take_an_activation_name() -> None:
    model = create_classifier("vgg_tiny", act_layer="relu6")
    # Five stages and the two 1 x 1 convolutions of the head.
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == 7
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    assert create_classifier("vgg_small", act_layer="relu").backbone.features[2].inplace is False
    with pytest.raises(ValueError, match="act_layer"):
        create_classifier("vgg_tiny", act_layer="no_such_activation")


def test_normalisation_inside_the_model() -> None:
    torch.manual_seed(0)
    model = create_classifier("test_resnet").eval()
    x = torch.rand(2, 3, 64, 64)
    cfg = model.backbone.pretrained_cfg
    mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.backbone((x - mean) / std))
    x_before = x.clone()
    model(x)
    assert torch.equal(x, x_before)


def test_resnet() -> None:
    model = create_classifier("test_resnet", dropout=0.3)
    assert isinstance(model, FundusClassifier) and model.arch == "test_resnet"
    assert model.eval()(torch.rand(2, 3, 64, 64)).shape == (2, 1)
    assert model.backbone.drop_rate == 0.3
    assert gradcam_layer(model) is model.backbone.layer2
    assert all(not m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    bare = timm.create_model("test_resnet")
    assert gradcam_layer(bare) is bare.layer2


def test_num_outputs() -> None:
    model = create_classifier("vgg_tiny", num_outputs=3).eval()
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 3)


def test_bad_name_lists_choices() -> None:
    with pytest.raises(
        ValueError,
        match=r"`name` must be one of \['inception_v3', 'vgg16_narrow', 'vgg16_paper', "
        r"'vgg_small', 'vgg_tiny'\] or a timm model name \(timm.list_models\(\)\), "
        r"got 'no_such_net'",
    ):
        create_classifier("no_such_net")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"num_outputs": 0}, "num_outputs"), ({"dropout": 1.0}, "dropout")],
)
def test_bad_arguments(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_classifier("vgg_tiny", **kwargs)


def test_gradcam_layer_needs_feature_info() -> None:
    with pytest.raises(ValueError, match="feature_info"):
        gradcam_layer(nn.Sequential(nn.Conv2d(3, 1, 3)))


@pytest.mark.usefixtures("empty_weight_caches")
@pytest.mark.parametrize("name", ["vgg16_paper", "inception_v3", "test_resnet"])
def test_pretrained_without_local_weights_raises(name: str) -> None:
    with pytest.raises(FileNotFoundError, match=r"never downloads.*weights=PATH"):
        create_classifier(name, pretrained=True)


def test_pretrained_missing_file_and_tiny() -> None:
    with pytest.raises(FileNotFoundError, match="weights"):
        create_classifier("test_resnet", weights="/nonexistent/weights.pth")
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_classifier("vgg_tiny", pretrained=True)


def _assert_same_body(model: nn.Module, source: nn.Module) -> None:
    """Every tensor but the classifier's equals the source's."""
    ours, theirs = model.state_dict(), source.state_dict()
    body = [k for k in theirs if not k.startswith("fc.")]
    assert len(body) > 10 and set(body) <= set(ours)
    for key in body:
        torch.testing.assert_close(ours[key], theirs[key])


def test_pretrained_from_weights_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = timm.create_model("test_resnet")
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    model = create_classifier("test_resnet", weights=path)
    _assert_same_body(model.backbone, source)
    assert model.backbone.fc.weight.shape == (1, source.fc.in_features)


def test_pretrained_from_hf_cache(empty_weight_caches: Path) -> None:
    torch.manual_seed(2)
    source = timm.create_model("test_resnet")
    hub_id = source.pretrained_cfg["hf_hub_id"]
    repo = empty_weight_caches / "hf" / f"models--{hub_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file(source.state_dict(), str(snapshot / "model.safetensors"))
    model = create_classifier("test_resnet", pretrained=True)
    _assert_same_body(model.backbone, source)
