"""head_name / head_parameters / freeze."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.errors import ModelError
from trainlab.models import build_model, freeze, head_name, head_parameters


def _tiny() -> nn.Module:
    return build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("cnn_small", "head"), ("mlp", "head"), ("resnet18", "fc"), ("vgg11", "classifier"), ("vit_b_32", "heads"),
     ("swin_t", "head"), ("densenet121", "classifier")],
)
def test_head_name(name: str, expected: str) -> None:
    with torch.device("meta"):
        model = build_model(name, num_classes=5, in_channels=3, input_size=(224, 224))
    assert head_name(model) == expected
    assert head_parameters(model) == list(model.get_submodule(expected).parameters())


def test_head_name_unknown_model_lists_children() -> None:
    model = nn.Sequential()
    model.add_module("body", nn.Linear(4, 4))
    model.add_module("out", nn.Linear(4, 2))
    with pytest.raises(ModelError, match="body, out"):
        head_name(model)


@pytest.mark.parametrize("spec", [True, "all_but_head"])
def test_freeze_all_but_head(spec: bool | str) -> None:
    model = _tiny()
    model.head.weight.requires_grad_(False)  # freezing "all but the head" makes the head trainable again
    freeze(model, spec)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
    # Only the head receives gradients now.
    model(torch.randn(2, 1, 8, 8)).sum().backward()
    assert model.stem[0].weight.grad is None and model.head.weight.grad is not None


@pytest.mark.parametrize("spec", [None, False])
def test_freeze_nothing(spec: None | bool) -> None:
    model = _tiny()
    freeze(model, spec)
    assert all(p.requires_grad for p in model.parameters())


def test_freeze_prefixes() -> None:
    model = _tiny()
    freeze(model, ["stem", "block1.0.1"])  # a whole block and one BN layer inside another
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"stem.0.weight", "stem.1.weight", "stem.1.bias", "block1.0.1.weight", "block1.0.1.bias"}
    freeze(model, "block2")
    assert not any(p.requires_grad for p in model.block2.parameters())


def test_freeze_prefix_does_not_match_partial_names() -> None:
    model = build_model("mlp", num_classes=3, in_channels=1, input_size=(4, 4), hidden_sizes=[8, 8])
    with pytest.raises(ModelError):
        freeze(model, ["layer"])  # "layer" is not a module, even though "layer1" starts with it


def test_freeze_unknown_prefix_lists_top_level_modules() -> None:
    model = _tiny()
    with pytest.raises(ModelError) as info:
        freeze(model, ["stem", "backbone"])
    message = str(info.value)
    assert "'backbone'" in message and "stem, block1, block2, pool, drop, head" in message
    assert all(p.requires_grad for p in model.parameters())  # nothing frozen on error


def test_freeze_rejects_other_types() -> None:
    with pytest.raises(ModelError, match="all_but_head"):
        freeze(_tiny(), 3)  # type: ignore[arg-type]
