"""param_groups: explicit prefixes, the even split, frozen parameters, errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.errors import ModelError
from trainlab.models import build_model, freeze, head_name, param_groups


def _ids(params: list[nn.Parameter]) -> set[int]:
    return {id(p) for p in params}


def _count(params: list[nn.Parameter]) -> int:
    return sum(p.numel() for p in params)


class Chain(nn.Module):
    """Top-level children of chosen sizes, head last; handy to check the even split exactly."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        for i, w in enumerate(widths):
            self.add_module(f"b{i}", nn.Linear(w, 1, bias=False))  # w parameters
        self.act = nn.ReLU()  # no parameters
        self.head = nn.Linear(1, 1, bias=False)  # 1 parameter


def test_one_lr_is_one_group_with_every_trainable_parameter() -> None:
    model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28))
    (group,) = param_groups(model, [0.01])
    assert group["lr"] == 0.01 and group["name"] == "group0"
    assert _ids(group["params"]) == _ids(list(model.parameters()))


def test_explicit_groups_and_rest_in_last_group() -> None:
    model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28))
    groups = param_groups(model, [1e-4, 1e-3, 1e-2], [["stem", "stage1"], ["stage2"], ["head"]])
    assert [g["lr"] for g in groups] == [1e-4, 1e-3, 1e-2]
    assert _ids(groups[0]["params"]) == _ids([*model.stem.parameters(), *model.stage1.parameters()])
    assert _ids(groups[1]["params"]) == _ids(list(model.stage2.parameters()))
    # stage3 is named nowhere, so it joins the head in the last group.
    assert _ids(groups[2]["params"]) == _ids([*model.stage3.parameters(), *model.head.parameters()])
    # The groups work with a real optimizer.
    opt = torch.optim.SGD(groups, lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 1e-3, 1e-2]


def test_groups_may_omit_the_last_rest_group() -> None:
    model = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    first, rest = param_groups(model, [1e-4, 1e-3], [["stem"]])
    assert _ids(first["params"]) == _ids(list(model.stem.parameters()))
    assert _count(first["params"]) + _count(rest["params"]) == _count(list(model.parameters()))


def test_frozen_parameters_are_left_out() -> None:
    model = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    freeze(model, ["stem", "block1"])
    groups = param_groups(model, [1e-4, 1e-3], [["stem", "block1"], []])
    assert groups[0]["params"] == []  # prefixes of frozen modules are valid, their group just empty
    assert _ids(groups[1]["params"]) == _ids([p for p in model.parameters() if p.requires_grad])
    torch.optim.Adam(groups)  # an empty group is accepted by torch optimizers


@pytest.mark.parametrize(
    ("groups", "fragment"),
    [([["stem"], ["nothing"]], "'nothing'"), ([["stem"], ["stem.0"]], "stem.0.weight"),
     ([["stem"], ["block1"], ["head"], []], "lists of module-name prefixes"), ("stem", "lists")],
)
def test_bad_groups_raise(groups: object, fragment: str) -> None:
    model = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    with pytest.raises(ModelError, match=fragment):
        param_groups(model, [1e-4, 1e-3], groups)  # type: ignore[arg-type]


@pytest.mark.parametrize("lrs", [[], [0.1, -1.0], ["0.1"]])
def test_bad_lrs_raise(lrs: list) -> None:
    with pytest.raises(ModelError, match="lrs"):
        param_groups(build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8)), lrs)


def test_even_split_of_equal_blocks_is_exact() -> None:
    model = Chain([100, 100, 100, 100, 100, 100])  # 600 + head 1
    groups = param_groups(model, [1, 2, 3])
    assert [_count(g["params"]) for g in groups] == [200, 200, 201]
    assert _ids(groups[2]["params"]) >= _ids(list(model.head.parameters()))


def test_even_split_follows_parameter_counts_not_module_counts() -> None:
    model = Chain([10, 10, 10, 10, 960])  # the big block alone makes the second half
    first, second = param_groups(model, [1, 2])
    assert _count(first["params"]) == 40
    assert _ids(second["params"]) == _ids([model.b4.weight, model.head.weight])


@pytest.mark.parametrize("name", ["resnet18", "cnn_small", "mlp"])
@pytest.mark.parametrize("n", [2, 3])
def test_even_split_is_contiguous_complete_and_ends_with_head(name: str, n: int) -> None:
    size = (28, 28) if name != "resnet18" else (32, 32)
    model = build_model(name, num_classes=10, in_channels=1, input_size=size, hidden_sizes=[64, 32]) \
        if name == "mlp" else build_model(name, num_classes=10, in_channels=1, input_size=size)
    groups = param_groups(model, [10.0 ** -(n - i) for i in range(n)])
    assert len(groups) == n and all(g["params"] for g in groups)
    # Every trainable parameter exactly once, in model order: contiguous groups.
    flat = [id(p) for g in groups for p in g["params"]]
    assert flat == [id(p) for p in model.parameters()]
    assert _ids(list(model.get_submodule(head_name(model)).parameters())) <= _ids(groups[-1]["params"])
    # Lrs rise from the first (earliest layers) to the last (head) group.
    assert [g["lr"] for g in groups] == sorted(g["lr"] for g in groups)


def test_resnet18_three_groups_are_the_fastai_split() -> None:
    model = build_model("resnet18", num_classes=10, in_channels=3, input_size=(32, 32))
    early, middle, last = param_groups(model, [1e-5, 1e-4, 1e-3])
    assert _ids(early["params"]) == _ids([p for n, p in model.named_parameters() if not n.startswith(("layer4", "fc"))])
    assert _ids(middle["params"]) == _ids(list(model.layer4.parameters()))
    assert _ids(last["params"]) == _ids(list(model.fc.parameters()))


def test_too_many_lrs_for_the_model() -> None:
    model = build_model("mlp", num_classes=3, in_channels=1, input_size=(4, 4), hidden_sizes=[8])
    with pytest.raises(ModelError, match="only 2 top-level modules.*layer1, head"):
        param_groups(model, [1, 2, 3])
