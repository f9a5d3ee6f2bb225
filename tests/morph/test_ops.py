"""ops: which leaf modules are producers, per-channel followers, channel-wise or unsupported."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from trainlab.morph.ops import is_pointwise_function, module_kind


@pytest.mark.parametrize("module,kind", [
    (nn.Conv2d(3, 4, 3), "producer"), (nn.Conv1d(3, 4, 3), "producer"), (nn.Linear(3, 4), "producer"),
    (nn.BatchNorm2d(4), "follower"), (nn.InstanceNorm2d(4, affine=True), "follower"),
    (nn.InstanceNorm2d(4), "pointwise"), (nn.PReLU(4), "follower"), (nn.PReLU(), "pointwise"),
    (nn.ReLU(), "pointwise"), (nn.Dropout2d(), "pointwise"), (nn.MaxPool2d(2), "spatial"),
    (nn.AdaptiveAvgPool2d(1), "spatial"), (nn.Softmax(1), "softmax"), (nn.Flatten(), "flatten"),
    (nn.LayerNorm(4), "layernorm"), (nn.GroupNorm(2, 4), "unsupported"),
    (nn.Conv2d(4, 4, 3, groups=2), "grouped"), (nn.Conv2d(4, 8, 3, groups=4), "unsupported"),
    (nn.ConvTranspose2d(4, 4, 3), "unsupported"),
    (nn.MaxPool2d(2, return_indices=True), "unsupported"), (nn.Embedding(5, 3), "unsupported"),
])
def test_module_kinds(module, kind):
    found, why = module_kind(module)
    assert found == kind
    assert bool(why) == (kind == "unsupported")


def test_stochastic_depth_is_pointwise_and_unknown_functions_are_not():
    # it multiplies whole samples by 0 or 1/(1-p): every channel of a sample alike
    assert is_pointwise_function(torchvision.ops.stochastic_depth)
    assert is_pointwise_function(torch.relu) and not is_pointwise_function(torch.roll)
