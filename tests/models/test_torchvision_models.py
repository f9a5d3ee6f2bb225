"""torchvision models: the name list, in_channels / small_stem / dropout adaptation, and errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.errors import ModelError
from trainlab.models import build_model, head_name, list_models, summary
from trainlab.models.torchvision_models import TORCHVISION_MODEL_NAMES, family_of

# One (small) member of each family; built on the meta device, so no memory and no compute.
FAMILY_SAMPLES = [
    "alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "googlenet",
    "inception_v3", "maxvit_t", "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_small", "resnet18",
    "resnext50_32x4d", "shufflenet_v2_x0_5", "squeezenet1_1", "swin_t", "vgg11_bn", "vit_b_32",
    "wide_resnet50_2",
]
# The brief's representative sample, built for real and trained one step on a tiny input.
REAL_SAMPLES = ["resnet18", "vgg11_bn", "densenet121", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny"]
NO_SMALL_STEM = {"inception", "swin", "vit", "maxvit"}
IMAGENET_SIZE = 224  # every torchvision classifier takes ImageNet-size inputs (MaxViT needs multiples of 224)


def _final_layer_and_predecessor(model: nn.Module, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """The last module with parameters called in forward, and the leaf module called just before it."""
    calls: list[nn.Module] = []
    handles = [m.register_forward_hook(lambda m, i, o: calls.append(m)) for m in model.modules()
               if next(m.children(), None) is None]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(shape, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    last = max(i for i, m in enumerate(calls) if next(m.parameters(), None) is not None)
    return calls[last], calls[last - 1]


def test_name_list_matches_torchvision() -> None:
    torchvision = pytest.importorskip("torchvision")
    assert sorted(TORCHVISION_MODEL_NAMES) == sorted(torchvision.models.list_models(module=torchvision.models))
    assert set(TORCHVISION_MODEL_NAMES) <= set(list_models())


@pytest.mark.parametrize("name", TORCHVISION_MODEL_NAMES)
def test_every_name_has_a_family(name: str) -> None:
    assert family_of(name) in {
        "resnet", "regnet", "densenet", "vgg", "alexnet", "squeezenet", "googlenet", "inception", "mobilenet",
        "efficientnet", "mnasnet", "shufflenet", "convnext", "swin", "vit", "maxvit",
    }


def _check_structure(name: str, in_channels: int, dropout: float) -> None:
    size = IMAGENET_SIZE
    with torch.device("meta"):
        model = build_model(name, num_classes=7, in_channels=in_channels, input_size=(size, size), dropout=dropout)
        first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        assert first_conv.in_channels == in_channels
        head = head_name(model)
        head_module = model.get_submodule(head)
        final, before = _final_layer_and_predecessor(model, (1, in_channels, size, size))
        assert final in list(head_module.modules()), f"final layer {final} is not in the head {head!r}"
        out_features = final.out_features if isinstance(final, nn.Linear) else final.out_channels
        assert out_features == 7
        if dropout > 0 and family_of(name) == "alexnet":  # Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear
            assert [m.p for m in head_module.modules() if isinstance(m, nn.Dropout)] == [dropout, dropout]
        elif dropout > 0:
            assert isinstance(before, nn.Dropout) and before.p == dropout, f"{before} precedes {final}"
        rows = summary(model, (1, in_channels, size, size))
        assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", FAMILY_SAMPLES)
def test_family_sample_structure(name: str) -> None:
    _check_structure(name, in_channels=1, dropout=0.3)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TORCHVISION_MODEL_NAMES if not n.startswith("regnet")])
def test_every_torchvision_model_structure(name: str) -> None:
    # regnet computes its widths with tensors, which the meta device cannot read back: see the CPU test.
    _check_structure(name, in_channels=2, dropout=0.2)


@pytest.mark.parametrize("name", ["regnet_x_400mf", "regnet_y_400mf"])
def test_regnet_on_cpu(name: str) -> None:
    model = build_model(name, num_classes=5, in_channels=1, input_size=(32, 32), small_stem=True, dropout=0.1)
    assert model.stem[0].in_channels == 1 and model.stem[0].stride == (1, 1)
    assert isinstance(model.fc, nn.Sequential) and model.fc[0].p == 0.1 and model.fc[1].out_features == 5
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 5)


@pytest.mark.parametrize("name", REAL_SAMPLES)
def test_real_sample_small_stem_one_channel_trains(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=4, in_channels=1, input_size=(16, 16), small_stem=True, dropout=0.1)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1
    assert first_conv.stride == (1, 1)
    assert first_conv.kernel_size == (3, 3)
    x = torch.randn(2, 1, 16, 16)
    out = model(x)
    assert out.shape == (2, 4)
    out.logsumexp(1).mean().backward()
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


def test_resnet_small_stem_is_the_cifar_stem() -> None:
    plain = build_model("resnet18", num_classes=10, in_channels=3, input_size=(32, 32))
    small = build_model("resnet18", num_classes=10, in_channels=1, input_size=(32, 32), small_stem=True)
    assert plain.conv1.kernel_size == (7, 7) and plain.conv1.stride == (2, 2)
    assert isinstance(plain.maxpool, nn.MaxPool2d)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1) and small.conv1.in_channels == 1
    assert isinstance(small.maxpool, nn.Identity)
    # The stem keeps 32x32 resolution into layer1 instead of 8x8.
    rows = {r.name: r.output_shape for r in summary(small, (1, 1, 32, 32))}
    assert rows["layer1.0.conv1"] == (1, 64, 32, 32)
    rows = {r.name: r.output_shape for r in summary(plain, (1, 3, 32, 32))}
    assert rows["layer1.0.conv1"] == (1, 64, 8, 8)


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "convnext_tiny", "swin_t", "vit_b_32", "maxvit_t"])
def test_dropout_wraps_final_linear_only_when_asked(name: str) -> None:
    with torch.device("meta"):
        plain = build_model(name, num_classes=3, in_channels=3, input_size=(224, 224))
        dropped = build_model(name, num_classes=3, in_channels=3, input_size=(224, 224), dropout=0.4)
    assert not any(isinstance(m, nn.Dropout) and m.p == 0.4 for m in plain.modules())
    plain_keys, dropped_keys = set(plain.state_dict()), set(dropped.state_dict())
    assert len(plain_keys) == len(dropped_keys)
    changed = sorted(dropped_keys - plain_keys)
    assert changed and all(".1." in k or k.split(".")[-2] == "1" for k in changed)
    assert all(k.startswith(head_name(dropped) + ".") for k in changed)


@pytest.mark.parametrize(("name", "default"), [("vgg11", 0.5), ("mobilenet_v3_small", 0.2), ("efficientnet_b0", 0.2)])
def test_native_dropout_is_replaced_by_ours(name: str, default: float) -> None:
    with torch.device("meta"):
        model = build_model(name, num_classes=3, in_channels=3, input_size=(64, 64), dropout=0.05)
    ps = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert ps and all(p == 0.05 for p in ps) and default not in ps


def test_googlenet_returns_plain_logits_in_training() -> None:
    model = build_model("googlenet", num_classes=3, in_channels=1, input_size=(32, 32), small_stem=True)
    model.train()
    out = model(torch.zeros(2, 1, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3)


def test_vit_takes_image_size_from_input_size() -> None:
    with torch.device("meta"):
        model = build_model("vit_b_32", num_classes=3, in_channels=1, input_size=(64, 64))
    assert model.image_size == 64 and model.conv_proj.in_channels == 1
    with pytest.raises(ModelError, match="square"):
        build_model("vit_b_32", num_classes=3, in_channels=1, input_size=(64, 32))
    with pytest.raises(ModelError, match="vit_b_32"):
        build_model("vit_b_32", num_classes=3, in_channels=1, input_size=(40, 40))


@pytest.mark.parametrize("name", ["inception_v3", "swin_t", "vit_b_16", "maxvit_t"])
def test_small_stem_unsupported_families_raise(name: str) -> None:
    assert family_of(name) in NO_SMALL_STEM
    with pytest.raises(ModelError, match=f"small_stem=True is unsupported for {name}"):
        build_model(name, num_classes=3, in_channels=3, input_size=(224, 224), small_stem=True)


@pytest.mark.parametrize("option", ["weights", "progress", "image_size"])
def test_reserved_options_are_refused(option: str) -> None:
    with pytest.raises(ModelError, match=option):
        build_model("resnet18", num_classes=3, in_channels=3, input_size=(32, 32), **{option: None})


def test_unknown_torchvision_option_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="not_an_option") as info:
        build_model("resnet18", num_classes=3, in_channels=3, input_size=(32, 32), not_an_option=1)
    assert "Allowed options: zero_init_residual, groups, width_per_group" in str(info.value)
    with pytest.raises(ModelError, match="Allowed options: .*mlp_ratio") as info:
        build_model("swin_t", num_classes=3, in_channels=3, input_size=(32, 32), mlp_ration=4.0)
    assert "num_classes" not in str(info.value).split("Allowed options:")[1]


def test_torchvision_options_pass_through() -> None:
    model = build_model("resnet18", num_classes=3, in_channels=3, input_size=(32, 32), zero_init_residual=True)
    assert torch.all(model.layer1[0].bn2.weight == 0)
    with torch.device("meta"):
        wide = build_model("resnet50", num_classes=3, in_channels=3, input_size=(32, 32), width_per_group=32)
    assert wide.layer1[0].conv1.out_channels == 32
