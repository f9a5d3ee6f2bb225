"""The bundle's numpy host code gives what the PyTorch Tasks give, and the numpy preprocessing gives the
evaluation loaders' inputs bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import batched_nms

from trainlab.data.augment import BatchPipeline
from trainlab.data.folder import read_image
from trainlab.deploy import host
from trainlab.deploy.preprocess import Preprocess
from trainlab.detection.model import YOLO
from trainlab.detection.task import decode
from trainlab.images import NORMALIZE_PIXELS, NORMALIZE_UNIT
from trainlab.ocr.ctc import ctc_greedy_decode
from trainlab.ocr.data import LinePipeline
from trainlab.ocr.decoding import attention_greedy_decode
from trainlab.ocr.models import AttentionOCR, Memory
from trainlab.ocr.text_lines import TextLineOptions, load_line


def test_nms_keeps_what_torchvision_keeps():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=gen) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=gen) * 20], 1)
    scores = torch.rand(200, generator=gen)
    labels = torch.randint(0, 3, (200,), generator=gen)
    expected = batched_nms(boxes, scores, labels, 0.5)
    kept = [idx[host.nms(boxes.numpy()[idx], scores.numpy()[idx], 0.5)]
            for k in range(3) for idx in [np.flatnonzero(labels.numpy() == k)]]
    kept = np.concatenate(kept)
    assert sorted(kept.tolist()) == sorted(expected.tolist())


def test_detection_answers_are_the_tasks_decoding():
    model = YOLO(num_classes=3, in_channels=1, width=8)
    gen = torch.Generator().manual_seed(1)
    raw = torch.randn(2, 84, 8, generator=gen) * 3  # 64×64 inputs: 8×8 + 4×4 + 2×2 anchor points
    centres, strides = model.anchors((64, 64))
    assert np.allclose(host.anchors((64, 64), [8, 16, 32])[0], centres.numpy())
    expected = decode(raw, model.decode_boxes(raw[..., :4], centres, strides), score_threshold=0.05,
                      iou_threshold=0.5, max_detections=10)
    got = host.detection_answers(raw.numpy(), (64, 64), {"strides": [8, 16, 32], "score_threshold": 0.05,
                                                         "iou_threshold": 0.5, "max_detections": 10})
    for i, answer in enumerate(got):
        rows = expected[expected[:, 0] == i]
        assert len(rows) == len(answer["scores"]) == 10
        assert np.allclose(answer["boxes"], rows[:, 1:5].numpy(), atol=1e-4)
        assert np.allclose(answer["scores"], rows[:, 5].numpy(), atol=1e-6)
        assert answer["labels"].tolist() == rows[:, 6].long().tolist()


def test_ctc_answers_are_the_greedy_decoders():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 20, 5, generator=gen) * 3
    widths = torch.tensor([80, 41, 7, 60])
    frames = torch.div(widths + 3, 4, rounding_mode="floor").clamp(1, 20)
    d = ctc_greedy_decode(logits.log_softmax(-1), frames)
    got = host.ctc_answers(logits.log_softmax(-1).numpy(), widths.numpy(), {"blank": 0, "width_stride": 4})
    for i, answer in enumerate(got):
        n = int(d.lengths[i])
        assert answer["tokens"].tolist() == d.tokens[i, :n].tolist()
        assert np.allclose(answer["confidence"], d.confidence[i, :n].numpy(), atol=1e-6)


@torch.no_grad()
def test_the_attention_loop_on_the_host_is_greedy_decoding():
    model = AttentionOCR(num_classes=4, in_channels=1, height=16, channels=4, hidden=8, max_length=5).eval()
    x, widths = torch.randn(3, 1, 16, 40), torch.tensor([40, 24, 12])
    expected = attention_greedy_decode(model, model.encode(x, widths))

    def encode(xs, ws):
        m = model.encode(torch.from_numpy(xs), torch.from_numpy(ws))
        return [m.values.numpy(), m.keys.numpy(), m.mask.numpy(), model.initial_state(m).numpy()]

    def step(tokens, state, values, keys, mask):
        memory = Memory(*(torch.from_numpy(a) for a in (values, keys, mask)))
        logits, state, _ = model.step(torch.from_numpy(tokens), torch.from_numpy(state), memory)
        return [logits.log_softmax(-1).numpy(), state.numpy()]

    got = host.attention_answers(encode, step, x.numpy(), widths.numpy(),
                                 {"start_token": model.start_token, "max_length": 5})
    for i, answer in enumerate(got):
        n = int(expected.lengths[i])
        assert answer["tokens"].tolist() == expected.tokens[i, :n].tolist()
        assert np.allclose(answer["confidence"], expected.confidence[i, :n].numpy(), atol=1e-5)


def test_stretched_images_are_the_folder_datasets_inputs_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 21, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 65536, (9, 13), dtype=np.uint16)).save(tmp_path / "b.png")  # 16-bit grey
    mean, std = [0.41], [0.27]
    p = Preprocess({"resize": "stretch", "size": [12, 10], "channels": 1, "mean": mean, "std": std,
                    "normalize": NORMALIZE_PIXELS})
    for name in ("a.png", "b.png"):
        expected = BatchPipeline(mean=mean, std=std)(read_image(tmp_path / name, image_size=(12, 10), channels=1)[None],
                                                     None)
        x, _ = p.batch([p.load(tmp_path / name)])
        assert np.array_equal(x, expected.numpy())


def test_lines_are_the_text_line_datasets_inputs_bit_for_bit(tmp_path):
    rng = np.random.default_rng(1)
    light = np.full((24, 70), 230, np.uint8)
    light[8:16, 5:60] = rng.integers(0, 80, (8, 55))  # dark ink on light paper: inverted
    Image.fromarray(light).save(tmp_path / "scan.png")
    Image.fromarray(255 - light).save(tmp_path / "ink.png")
    mean, std = [0.2], [0.3]
    p = Preprocess({"resize": "height", "height": 16, "max_width": 1024, "width_multiple": 4, "invert": "auto",
                    "channels": 1, "mean": mean, "std": std, "normalize": NORMALIZE_UNIT})
    items = [p.load(tmp_path / "scan.png"), p.load(tmp_path / "ink.png")]
    x, widths = p.batch(items)
    lines = [load_line(tmp_path / n, TextLineOptions(height=16)) for n in ("scan.png", "ink.png")]
    assert widths.tolist() == [line.shape[2] for line in lines] == [47, 47]
    padded = torch.zeros(2, 1, 16, 48, dtype=torch.uint8)
    for i, line in enumerate(lines):
        padded[i, :, :, : line.shape[2]] = line
    assert np.array_equal(x, LinePipeline(mean=mean, std=std)(padded, torch.tensor(widths), None).numpy())


@pytest.mark.parametrize("spec, message", [
    ({"resize": "crop"}, "resize is 'crop'"), ({"resize": "stretch", "channels": 2}, "channels is 2"),
    ({"resize": "stretch", "channels": 1, "mean": [0.1, 0.2], "std": [0.1], "normalize": NORMALIZE_UNIT}, "mean and std"),
    ({"resize": "stretch", "channels": 1}, "'mean' is missing"),
])
def test_a_damaged_preprocess_file_is_a_data_error(spec, message):
    from trainlab.errors import DataError

    with pytest.raises(DataError, match=message):
        Preprocess(spec)
