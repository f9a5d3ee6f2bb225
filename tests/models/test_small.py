"""trainlab's own models: every one builds, trains a step, and cnn_tiny really learns digits."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from trainlab.errors import ModelError
from trainlab.models import build_model, head_name, list_models
from trainlab.models.torchvision_models import TORCHVISION_MODEL_NAMES

OCR_MODELS = {"crnn", "attention_ocr"}  # sequence models, tested in tests/ocr
DETECTION_MODELS = {"yolo"}  # detectors, tested in tests/detection
OWN_MODELS = [n for n in list_models() if n not in {*TORCHVISION_MODEL_NAMES, *OCR_MODELS, *DETECTION_MODELS}]
SIZES = {"mlp": (8, 8), "cnn_tiny": (8, 8), "cnn_small": (28, 28), "cnn_plain": (28, 28)}


def test_own_models_are_the_expected_ones() -> None:
    assert {"mlp", "cnn_tiny", "cnn_small"} <= set(OWN_MODELS)


@pytest.mark.parametrize("name", OWN_MODELS)
@pytest.mark.parametrize("in_channels", [1, 3])
def test_own_model_builds_runs_and_backprops(name: str, in_channels: int) -> None:
    size = SIZES.get(name, (28, 28))
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, in_channels=in_channels, input_size=size, dropout=0.25)
    x = torch.randn(4, in_channels, *size)
    out = model(x)
    assert out.shape == (4, 7)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert head_name(model) == "head"
    # The dropout sits right before the head, with the requested probability.
    children = list(model.children())
    assert isinstance(children[-2], nn.Dropout) and children[-2].p == 0.25
    assert children[-1] is model.head


@pytest.mark.parametrize("name", OWN_MODELS)
def test_state_dict_does_not_depend_on_dropout(name: str) -> None:
    size = SIZES.get(name, (28, 28))
    a = build_model(name, num_classes=3, in_channels=1, input_size=size, dropout=0.0)
    b = build_model(name, num_classes=3, in_channels=1, input_size=size, dropout=0.5)
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


@pytest.mark.parametrize(("height", "width"), [(8, 8), (12, 20), (28, 28)])
def test_mlp_flattens_any_input_size(height: int, width: int) -> None:
    model = build_model("mlp", num_classes=4, in_channels=2, input_size=(height, width), hidden_sizes=[16, 8])
    assert model.layer1[0].in_features == 2 * height * width
    assert [m.out_features for m in model.modules() if isinstance(m, nn.Linear)] == [16, 8, 4]
    assert model(torch.zeros(3, 2, height, width)).shape == (3, 4)


def test_mlp_without_hidden_layers_is_linear() -> None:
    model = build_model("mlp", num_classes=3, in_channels=1, input_size=(4, 4), hidden_sizes=[])
    assert [type(m) for m in model.children()] == [nn.Flatten, nn.Dropout, nn.Linear]


@pytest.mark.parametrize("width", [8, 32])
def test_cnn_small_width_and_size(width: int) -> None:
    model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), width=width)
    assert model.head.in_features == 4 * width
    if width == 32:  # the brief's size band for Fashion-MNIST: ~0.2-1 M parameters
        assert 200_000 <= sum(p.numel() for p in model.parameters()) <= 1_000_000
    deeper = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), width=width, blocks=2)
    assert len(deeper.stage2) == 2 and len(model.stage2) == 1


def test_cnn_small_residual_blocks_start_as_identity() -> None:
    model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28))
    block = model.stage1[0]
    assert torch.all(block.bn2.weight == 0)
    block.eval()
    x = torch.rand(2, 32, 14, 14)  # non-negative: ReLU(x + 0) == x
    assert torch.allclose(block(x), x)


@pytest.mark.parametrize(
    ("name", "options"),
    [("cnn_small", {"width": 0}), ("cnn_small", {"blocks": "2"}), ("cnn_tiny", {"width": -1}),
     ("mlp", {"hidden_sizes": "64"}), ("mlp", {"hidden_sizes": [0]}), ("cnn_plain", {"channels": [0, 4]}),
     ("cnn_plain", {"kernels": "53"}), ("cnn_plain", {"kernels": [5]})],
)
def test_bad_option_values_raise_model_error(name: str, options: dict) -> None:
    with pytest.raises(ModelError, match=next(iter(options))):
        build_model(name, num_classes=3, in_channels=1, input_size=SIZES[name], **options)


def test_cnn_plain_defaults_are_the_focus_studys_network() -> None:
    """Conv 100@5x5, pool, conv 200@3x3, pool, dense 100 x 3: about 930k parameters on CIFAR-10 (32x32x3)."""
    model = build_model("cnn_plain", num_classes=10, in_channels=3, input_size=(32, 32))
    assert sum(p.numel() for p in model.parameters()) == 929_110  # 7,600 + 180,200 + 720,100 + 2 * 10,100 + 1,010
    assert model.layer1[0].in_features == 200 * 6 * 6 and not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    small = build_model("cnn_plain", num_classes=10, in_channels=1, input_size=(28, 28), channels=[32, 64], hidden=[])
    assert small.head.in_features == 64 * 5 * 5  # 28 -5+1-> 24 -pool-> 12 -3+1-> 10 -pool-> 5
    with pytest.raises(ModelError, match="too small for kernels"):
        build_model("cnn_plain", num_classes=10, in_channels=1, input_size=(8, 8))


def test_cnn_tiny_learns_digits() -> None:
    """The brief's bar: >= 95% test accuracy on scikit-learn digits in 20 epochs of Adam, in seconds."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
    y = torch.tensor(digits.target)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=g)
    test_idx, train_idx = order[:360], order[360:]
    mean, std = x[train_idx].mean(), x[train_idx].std()
    x = (x - mean) / std
    torch.manual_seed(0)
    model = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(20):
        model.train()
        perm = train_idx[torch.randperm(len(train_idx), generator=g)]
        for i in range(0, len(perm), 64):
            batch = perm[i : i + 64]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        accuracy = (model(x[test_idx]).argmax(1) == y[test_idx]).float().mean().item()
    # ~3.5 s on 2 idle cores; no time assertion, since a shared machine can be many times slower.
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f} after 20 epochs ({seconds:.1f} s)"
