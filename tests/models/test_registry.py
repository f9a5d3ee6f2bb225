"""build_model / list_models: argument checks, option checks, unknown names, import cost."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from trainlab.errors import ModelError, UnknownNameError
from trainlab.models import MODELS, build_model, list_models
from trainlab.models.registry import take_options

COMMON = dict(num_classes=10, in_channels=1, input_size=(8, 8))


def test_list_models_has_own_and_torchvision_models() -> None:
    names = list_models()
    assert names == sorted(names)
    assert {"mlp", "cnn_tiny", "cnn_small", "resnet18", "vit_b_16", "convnext_tiny"} <= set(names)
    assert len(names) == len(MODELS) >= 83


def test_unknown_model_name_suggests_close_matches() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_model("resnet81", **COMMON)
    message = str(info.value)
    assert "resnet81" in message and "resnet18" in message


def test_unknown_option_names_allowed_ones() -> None:
    with pytest.raises(ModelError) as info:
        build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), widht=16)
    message = str(info.value)
    assert "widht" in message and "width" in message and "blocks" in message


def test_take_options_merges_defaults() -> None:
    assert take_options("m", {"a": 5}, {"a": 1, "b": 2}) == {"a": 5, "b": 2}
    with pytest.raises(ModelError, match="Allowed options: a, b"):
        take_options("m", {"c": 1}, {"a": 1, "b": 2})


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 2.5}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"in_channels": 0}, "in_channels"),
        ({"input_size": (8,)}, "input_size"),
        ({"input_size": (8, -1)}, "input_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"small_stem": "yes"}, "small_stem"),
    ],
)
def test_bad_common_arguments_raise_model_error(override: dict, fragment: str) -> None:
    with pytest.raises(ModelError, match=fragment):
        build_model("cnn_tiny", **{**COMMON, **override})


def test_numpy_integers_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    model = build_model("mlp", num_classes=np.int64(4), in_channels=np.int64(1), input_size=(np.int64(8), 8),
                        dropout=np.float32(0.25), hidden_sizes=[8])
    assert model.head.out_features == 4 and model.layer1[0].in_features == 64
    assert type(model.head.out_features) is int


def test_input_too_small_is_caught_at_build_time() -> None:
    with pytest.raises(ModelError, match="cannot take inputs of 1x16x16.*small_stem"):
        build_model("squeezenet1_1", num_classes=10, in_channels=1, input_size=(16, 16))
    # The same architecture with the small stem fits.
    model = build_model("squeezenet1_1", num_classes=10, in_channels=1, input_size=(16, 16), small_stem=True)
    assert model(torch.zeros(1, 1, 16, 16)).shape == (1, 10)


def test_build_check_leaves_model_state_alone() -> None:
    model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28))
    assert model.training and all(m.training for m in model.modules())
    assert int(model.stem[0][1].num_batches_tracked) == 0
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_import_is_cheap_and_does_not_import_torchvision() -> None:
    code = (
        "import sys, time, torch; t = time.perf_counter(); import trainlab.models as m; "
        "print(time.perf_counter() - t, 'torchvision' in sys.modules, len(m.list_models()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    seconds, imported, count = float(out[0]), out[1], int(out[2])
    assert imported == "False"
    assert count >= 83
    assert seconds < 0.5
