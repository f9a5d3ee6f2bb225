"""ops: which leaf modules are producers, per-channel followers, channel-wise or unsupported."""
from __future__ import annotations

import pytest
from torch import nn

from trainlab.morph.ops import module_kind


@pytest.mark.parametrize("module,kind", [
    (nn.Conv2d(3, 4, 3), "producer"), (nn.Conv1d(3, 4, 3), "producer"), (nn.Linear(3, 4), "producer"),
    (nn.BatchNorm2d(4), "follower"), (nn.InstanceNorm2d(4, affine=True), "follower"),
    (nn.InstanceNorm2d(4), "pointwise"), (nn.PReLU(4), "follower"), (nn.PReLU(), "pointwise"),
    (nn.ReLU(), "pointwise"), (nn.Dropout2d(), "pointwise"), (nn.MaxPool2d(2), "spatial"),
    (nn.AdaptiveAvgPool2d(1), "spatial"), (nn.Softmax(1), "softmax"), (nn.Flatten(), "flatten"),
    (nn.LayerNorm(4), "layernorm"), (nn.GroupNorm(2, 4), "unsupported"),
    (nn.Conv2d(4, 4, 3, groups=2), "unsupported"), (nn.ConvTranspose2d(4, 4, 3), "unsupported"),
    (nn.MaxPool2d(2, return_indices=True), "unsupported"), (nn.Embedding(5, 3), "unsupported"),
])
def test_module_kinds(module, kind):
    found, why = module_kind(module)
    assert found == kind
    assert bool(why) == (kind == "unsupported")
