"""widen and deepen on torchvision classifiers (weights=None, small inputs): resnet18, vgg11_bn,
densenet121 in detail, a dozen modern ones for exactness, all 80 in a slow sweep."""
from __future__ import annotations

import warnings

import pytest
import torch
import torchvision
from torch import nn

from trainlab.errors import UnsupportedLayerError
from trainlab.morph import SkippedVolumesWarning, deepen, volumes, widen

SHAPE = (2, 3, 32, 32)
STAGES = ["layer1", "layer2", "layer3", "layer4"]


# Base models are built once per module (vgg11_bn's constructor alone takes seconds); every
# transform copies its input, and the tests below check that it does.
@pytest.fixture(scope="module")
def resnet18(kit) -> nn.Module:
    return kit.randomize_norms(torchvision.models.resnet18(weights=None, num_classes=10)).eval()


@pytest.fixture(scope="module")
def vgg11_bn(kit) -> nn.Module:
    model = torchvision.models.vgg11_bn(weights=None, num_classes=10)
    # The 25088 x 4096 classifier would cost gigabytes when widened; a small one keeps the
    # flatten-by-blocks path (avgpool to 7x7, then linear) and the test fast.
    model.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(),
                                     nn.Linear(32, 10))
    return kit.randomize_norms(model).eval()


@pytest.fixture(scope="module")
def densenet121(kit) -> nn.Module:
    return kit.randomize_norms(torchvision.models.densenet121(weights=None, num_classes=10)).eval()


@pytest.mark.parametrize("method", ["r2r", "net2net", "netmorph"])
def test_resnet18_every_volume_widened(kit, resnet18, method):
    model = resnet18
    state = {k: v.clone() for k, v in model.state_dict().items()}
    wide = widen(model, torch.randn(1, 3, 32, 32), factor=1.5, method=method)
    assert wide.conv1.out_channels == 96 and wide.layer4[1].conv2.out_channels == 768
    assert wide.fc.in_features == 768 and wide.fc.out_features == 10
    assert kit.max_delta(model, wide, SHAPE) < 1e-5
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # base untouched


def test_resnet18_random_padding_changes_outputs(kit, resnet18):
    model = resnet18
    wide = widen(model, torch.randn(1, 3, 32, 32), factor=1.5, method="random")
    assert kit.max_delta(model, wide, SHAPE) > 1e-3


@pytest.mark.parametrize("method", ["r2r", "net2net"])
def test_resnet18_each_stage_deepened(kit, resnet18, method):
    model = resnet18
    deep = deepen(model, torch.randn(1, 3, 32, 32), where=STAGES, method=method)
    assert [len(getattr(deep, s)) for s in STAGES] == [3, 3, 3, 3]
    if method == "r2r":  # a copy of the stage's own block, zeroed
        assert all(type(getattr(deep, s)[2]) is torchvision.models.resnet.BasicBlock for s in STAGES)
    assert kit.max_delta(model, deep, SHAPE) < 1e-5


def test_resnet18_widen_then_deepen_and_deepen_then_widen(kit, resnet18):
    model = resnet18
    x = torch.randn(1, 3, 32, 32)
    a = deepen(widen(model, x, factor=1.5), x, where=["layer1", "layer3"])
    b = widen(deepen(model, x, where=["layer2", "layer4"]), x, factor=1.5)
    assert a.layer1[2].conv1.out_channels == 96 and b.layer4[2].conv2.out_channels == 768
    assert kit.max_delta(model, a, SHAPE) < 1e-5
    assert kit.max_delta(model, b, SHAPE) < 1e-5


def test_resnet18_transformed_trains(kit, resnet18):
    model = resnet18
    x = torch.randn(1, 3, 32, 32)
    grown = deepen(widen(model, x, factor=1.5), x, where=["layer2"])
    first, last = kit.trains(grown, (4, 3, 32, 32), classes=10, steps=3, lr=0.02)
    assert last < first


def test_resnet50_bottleneck_stage_deepened(kit):
    model = kit.randomize_norms(torchvision.models.resnet50(weights=None, num_classes=10)).eval()
    deep = deepen(model, torch.randn(1, 3, 32, 32), where=["layer3"])
    assert type(deep.layer3[-1]) is torchvision.models.resnet.Bottleneck
    # 16 blocks with random BatchNorm statistics make activations of ~100s: float32 rounding in
    # the cancelling 1x1 conv then reaches ~1e-5 absolute, so this check is relative.
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        before, after = model(x), deep.eval()(x)
    assert (after - before).abs().max() < 1e-6 * before.abs().max().clamp_min(1.0)


@pytest.mark.parametrize("method", ["r2r", "net2net", "netmorph"])
def test_vgg11_bn_widened(kit, vgg11_bn, method):
    model = vgg11_bn
    wide = widen(model, torch.randn(1, 3, 32, 32), factor=1.5, method=method)
    assert wide.classifier[0].in_features == 768 * 49 and wide.classifier[0].out_features == 48
    assert kit.max_delta(model, wide, (1, 3, 32, 32)) < 1e-5


@pytest.mark.parametrize("method", ["r2r", "net2net"])
def test_vgg11_bn_features_deepened(kit, vgg11_bn, method):
    model = vgg11_bn
    deep = deepen(model, torch.randn(1, 3, 32, 32), where=["features", "features.10"], method=method)
    assert len(deep.features) == len(model.features) + 2
    assert kit.max_delta(model, deep, (1, 3, 32, 32)) < 1e-5


@pytest.mark.slow
def test_vgg11_bn_full_classifier_widened(kit):
    model = kit.randomize_norms(torchvision.models.vgg11_bn(weights=None)).eval()
    wide = widen(model, torch.randn(1, 3, 32, 32), factor=1.5)
    assert kit.max_delta(model, wide, SHAPE) < 1e-5


@pytest.mark.parametrize("method", ["r2r", "net2net", "netmorph"])
def test_densenet121_concatenations_widened(kit, densenet121, method):
    model = densenet121
    x = torch.randn(1, 3, 32, 32)
    vols = volumes(model, x)
    assert sum(v.widenable for v in vols) == 120
    wide = widen(model, x, factor=1.5, method=method)
    layer = wide.features.denseblock1.denselayer2
    assert layer.norm1.num_features == 96 + 48 and layer.conv2.out_channels == 48
    assert wide.classifier.in_features == 1536
    assert kit.max_delta(model, wide, (1, 3, 32, 32)) < 1e-5


def frozen_train_mode(model: nn.Module) -> nn.Module:
    """Training mode (aux heads run) with BatchNorm and dropout as in eval: deterministic."""
    model.train()
    for m in model.modules():
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)):
            m.eval()
    return model


def test_googlenet_aux_heads_are_widened_with_the_volumes_they_read(kit):
    # the aux heads run only in training mode: an eval-mode trace missed them, and the widened
    # model failed in training mode ("expected input ... to have 512 channels, but got 768")
    model = kit.randomize_norms(torchvision.models.googlenet(weights=None, init_weights=False)).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedVolumesWarning)  # every hidden volume widens
        wide = widen(model, x[:1], factor=1.5)
    assert wide.aux1.conv.conv.in_channels == 768 and wide.aux1.fc1.out_features == 1536
    assert not model.training and not wide.training  # modes restored after the training trace
    with torch.no_grad():
        before, after = frozen_train_mode(model)(x), frozen_train_mode(wide)(x)
    for old, new in zip(before, after):  # logits, aux2, aux1
        assert (new - old).abs().max() < 1e-5 * old.abs().max()  # float32 rounding, relative


# One of each family the issue-16 sweep covers (docs/morph.md has all 80): depthwise and grouped
# convolutions, squeeze-and-excitation, stochastic depth, channel shuffles, aux heads; swin_t is
# refused (its volumes are permuted and normalised across channels).
DOZEN = ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_v2_s", "mnasnet0_5",
         "regnet_x_400mf", "regnet_y_400mf", "resnext50_32x4d", "shufflenet_v2_x0_5", "squeezenet1_1",
         "googlenet", "swin_t"]
_BUILT: dict[str, nn.Module] = {}


def classifier(kit, name: str) -> nn.Module:
    if name not in _BUILT:
        _BUILT.clear()  # one model at a time: they are large
        torch.manual_seed(0)
        fast = {"init_weights": False} if name in ("googlenet", "inception_v3") else {}  # no scipy
        _BUILT[name] = kit.randomize_norms(torchvision.models.get_model(name, weights=None, **fast)).eval()
    return _BUILT[name]


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; small models gain little from threads
    yield
    torch.set_num_threads(before)


def relative_change(kit, model: nn.Module, method: str, size: int) -> float:
    """max |widened(x) - model(x)| / max |model(x)| on fresh inputs, after widen(where=None)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedVolumesWarning)
        wide = widen(model, torch.randn(1, 3, size, size), factor=1.5, method=method)
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in model.parameters())
    x = torch.rand(2, 3, size, size) * 2 - 1
    with torch.no_grad():
        before = model(x)
        return float((wide.eval()(x) - before).abs().max() / before.abs().max())


@pytest.mark.parametrize("method", ["r2r", "net2net", "netmorph"])
@pytest.mark.parametrize("name", DOZEN)
def test_torchvision_classifiers_widened_exactly(kit, name, method, one_thread):
    model = classifier(kit, name)
    if name == "swin_t":
        with pytest.raises(UnsupportedLayerError, match="none of its .* hidden volume.*permute"):
            widen(model, torch.randn(1, 3, 32, 32), method=method)
        return
    # the criterion: float32 rounding grows with the output scale (random BatchNorm
    # statistics give outputs from ~1 to ~1e3), so the bound is relative to it
    assert relative_change(kit, model, method, 32) < 1e-4


@pytest.mark.slow
def test_at_least_60_of_the_80_torchvision_classifiers_widen_exactly(kit, one_thread):
    """The sweep of docs/morph.md (benchmarks/morph_coverage.py prints the table): ~20 minutes and
    ~10 GB of memory on one CPU core."""
    sizes = {"inception_v3": 299, "maxvit_t": 224, **{n: 224 for n in torchvision.models.list_models(
        module=torchvision.models) if n.startswith("vit_")}}
    preserved = dict.fromkeys(["r2r", "net2net", "netmorph"], 0)
    for name in torchvision.models.list_models(module=torchvision.models):
        model = classifier(kit, name)
        for method in preserved:
            try:
                preserved[method] += relative_change(kit, model, method, sizes.get(name, 64)) < 1e-4
            except UnsupportedLayerError:
                pass  # refused: nothing in the model can be widened
    assert min(preserved.values()) >= 60, preserved
