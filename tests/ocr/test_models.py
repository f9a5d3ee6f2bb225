"""CRNN and the attention model: shapes, registry, teacher forcing, blank prior, FLOPs with the LSTM."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.errors import ModelError
from trainlab.models import build_model, list_models
from trainlab.ocr.models import CRNN, AttentionOCR, frame_lengths
from trainlab.profile import count

SMALL = {"channels": 4, "hidden": 8}


@pytest.mark.parametrize("name", ["crnn", "attention_ocr"])
def test_registered_and_built_by_name(name: str) -> None:
    assert name in list_models()
    model = build_model(name, num_classes=10, in_channels=1, input_size=(32, 60), dropout=0.1, **SMALL)
    assert model.head.out_features == 11  # K symbols + blank / end
    with pytest.raises(ModelError, match="hiden"):
        build_model(name, num_classes=10, in_channels=1, input_size=(32, 60), hiden=4)
    with pytest.raises(ModelError, match="at least 16"):
        build_model(name, num_classes=10, in_channels=1, input_size=(8, 60))


@pytest.mark.parametrize(("height", "width"), [(16, 40), (32, 97), (48, 16)])
def test_crnn_one_step_per_four_columns(height: int, width: int) -> None:
    model = CRNN(num_classes=5, in_channels=3, height=height, **SMALL)
    out = model(torch.randn(2, 3, height, width))
    assert out.shape == (2, width // 4, 6)
    out.logsumexp(-1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_crnn_blank_starts_as_likely_as_all_symbols() -> None:
    torch.manual_seed(0)
    model = CRNN(num_classes=10, in_channels=1, height=16, **SMALL).eval()
    with torch.no_grad():
        p = model(torch.randn(8, 1, 16, 64)).softmax(-1)
    assert 0.35 < float(p[..., 0].mean()) < 0.65  # ~1/11 without the prior


def test_frame_lengths_cover_the_real_width() -> None:
    assert frame_lengths(torch.tensor([1, 4, 5, 100]), 20).tolist() == [1, 1, 2, 20]


def test_teacher_forcing_equals_stepping_with_the_targets() -> None:
    torch.manual_seed(0)
    model = AttentionOCR(num_classes=6, in_channels=1, height=16, max_length=5, **SMALL).eval()
    x, targets, widths = torch.randn(2, 1, 16, 48), torch.tensor([[3, 1, 2], [5, 0, 0]]), torch.tensor([48, 20])
    forced = model(x, targets, widths)
    memory = model.encode(x, widths)
    state = model.initial_state(memory)
    prev = torch.full((2,), model.start_token)
    for j in range(4):
        logits, state, attn = model.step(prev, state, memory)
        assert torch.allclose(logits, forced[:, j], atol=1e-5)
        assert bool((attn[1, 5:] == 0).all())  # line 1 is 20 px wide: 5 frames, the rest is padding
        prev = targets[:, j] if j < 3 else prev


def test_attention_forward_without_targets_runs_max_length_steps() -> None:
    model = AttentionOCR(num_classes=3, in_channels=1, height=16, max_length=7, **SMALL)
    assert model(torch.zeros(1, 1, 16, 32)).shape == (1, 8, 4)
    logits, values, keys, mask = model(torch.zeros(1, 1, 16, 32), torch.tensor([[1, 2]]), return_memory=True)
    assert logits.shape == (1, 3, 4) and values.shape[:2] == mask.shape == (1, 8)


def test_crnn_flops_include_the_lstm() -> None:
    model = CRNN(num_classes=10, in_channels=1, height=32, channels=8, hidden=64, layers=1)
    p = count(model, torch.zeros(2, 1, 32, 88))
    rows = {r.name: r for r in p.by_module}
    lstm = rows["encoder.rnn"]
    assert lstm.type == "LSTM"
    # 2 directions x 22 steps x 2 lines x 4 gates x (128·64 + 64·64) MACs, 2 FLOPs per MAC
    assert lstm.forward_flops == 2 * 22 * 2 * 4 * (128 * 64 + 64 * 64) * 2
    assert lstm.backward_flops > 0
    assert p.forward_flops == sum(r.forward_flops for r in p.by_module if r.depth == 1 and r.calls)


def test_head_is_the_last_layer_for_freezing() -> None:
    for model in (CRNN(num_classes=3, in_channels=1, height=16, **SMALL),
                  AttentionOCR(num_classes=3, in_channels=1, height=16, **SMALL)):
        assert isinstance(model.head, nn.Linear) and model.head.out_features == 4
