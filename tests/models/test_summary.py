"""summary / format_summary."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.models import SummaryRow, build_model, format_summary, summary


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mlp", (2, 1, 8, 8)), ("cnn_tiny", (2, 3, 8, 8)), ("cnn_small", (1, 1, 28, 28)), ("resnet18", (1, 3, 32, 32)),
     ("vit_b_32", (1, 3, 32, 32)), ("swin_t", (1, 3, 32, 32)), ("convnext_tiny", (1, 3, 32, 32))],
)
def test_totals_equal_parameter_count(name: str, shape: tuple[int, ...]) -> None:
    kwargs = dict(num_classes=5, in_channels=shape[1], input_size=shape[2:])
    with torch.device("meta"):
        model = build_model(name, **kwargs)
    rows = summary(model, shape)
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    assert sum(r.trainable for r in rows) == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert rows[-1].output_shape == (shape[0], 5) or any(r.output_shape == (shape[0], 5) for r in rows)


def test_rows_in_call_order_with_shapes() -> None:
    model = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    rows = summary(model, (4, 1, 8, 8))
    assert [r.name for r in rows] == [
        "stem.0", "stem.1", "stem.2", "block1.0.0", "block1.0.1", "block1.0.2", "block1.1",
        "block2.0", "block2.1", "block2.2", "pool.0", "pool.1", "drop", "head",
    ]
    shapes = {r.name: r.output_shape for r in rows}
    assert shapes["stem.0"] == (4, 32, 8, 8) and shapes["block1.1"] == (4, 32, 4, 4)
    assert shapes["pool.1"] == (4, 64) and shapes["head"] == (4, 10)
    assert {r.name: r.type for r in rows}["stem.1"] == "BatchNorm2d"
    assert {r.name: r.params for r in rows}["head"] == 64 * 10 + 10


def test_frozen_parameters_and_train_flags_restored() -> None:
    model = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    model.stem.requires_grad_(False)
    model.train()
    model.drop.eval()  # a mixed state must come back as it was
    stats = model.stem[1].running_mean.clone()
    rows = summary(model, (2, 1, 8, 8))
    assert model.training and not model.drop.training and model.stem[1].training
    assert torch.equal(model.stem[1].running_mean, stats)  # eval mode: statistics untouched
    stem = [r for r in rows if r.name.startswith("stem")]
    assert sum(r.params for r in stem) == 32 * 9 + 64 and sum(r.trainable for r in stem) == 0
    assert not model.stem[0].weight.requires_grad and model.head.weight.grad is None


def test_reused_module_and_uncalled_module() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.shared = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 2)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.shared(self.shared(x)))

    rows = summary(Net(), (3, 4))
    assert [(r.name, r.params) for r in rows] == [("shared", 20), ("shared", 0), ("head", 10), ("unused", 10)]
    assert rows[-1].output_shape is None
    assert sum(r.params for r in rows) == 40


def test_tuple_outputs() -> None:
    model = nn.LSTM(3, 5, batch_first=True)
    (row,) = summary(model, (2, 7, 3))
    assert row.name == "LSTM" and row.output_shape == ((2, 7, 5), (1, 2, 5), (1, 2, 5))
    assert row.params == sum(p.numel() for p in model.parameters())


def test_format_summary_is_aligned_with_totals() -> None:
    rows = [SummaryRow("features.0", "Conv2d", (1, 8, 4, 4), 80, 80), SummaryRow("fc", "Linear", (1, 3), 1203, 0),
            SummaryRow("aux", "Linear", None, 6, 6)]
    text = format_summary(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["Layer", "Type", "Output", "shape", "Params", "Trainable"]
    assert len({len(line) for line in lines[:-1]}) == 1  # right-aligned numbers end in the same column
    assert "[1, 8, 4, 4]" in lines[1] and "1,203" in lines[2] and "(not called)" in lines[3]
    assert lines[-1] == "Total params: 1,289 | trainable: 86 | non-trainable: 1,203"
