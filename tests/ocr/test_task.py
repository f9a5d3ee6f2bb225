"""OCR Tasks: losses against torch's references, decoding modes, the model -> Task choice, and training
through the Learner (CRNN cuts the CER by more than half)."""
from __future__ import annotations

import time

import pytest
import torch

from trainlab.config import parse_config
from trainlab.engine import Callback, Learner
from trainlab.engine.factory import learner_from_config
from trainlab.errors import ConfigError
from trainlab.ocr.alphabet import Alphabet
from trainlab.ocr.ctc import ctc_beam_decode
from trainlab.ocr.data import LineTargets, pad_lines
from trainlab.ocr.lm import CharNGramLM
from trainlab.ocr.models import CRNN, AttentionOCR
from trainlab.ocr.task import AttentionTask, CTCTask, task_factory

SMALL = {"channels": 4, "hidden": 8}


def batch():
    y = LineTargets(torch.tensor([[1, 2, 2], [3, 0, 0], [2, 1, 0]]), torch.tensor([3, 1, 2]),
                    torch.tensor([48, 20, 33]))
    return torch.randn(3, 1, 16, 48), y


def test_ctc_loss_is_torch_ctc_mean_per_line() -> None:
    torch.manual_seed(0)
    model, (x, y) = CRNN(num_classes=3, in_channels=1, height=16, **SMALL), batch()
    task = CTCTask()
    out = task.forward(model, x, y)
    assert out.frames.tolist() == [12, 5, 9]  # ceil(width / 4)
    reference = torch.nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)(
        out.logits.log_softmax(-1).transpose(0, 1), y.labels, out.frames, y.lengths)
    assert float(task.loss(out, y).mean().detach()) == pytest.approx(float(reference.detach()), rel=1e-5)


def test_attention_loss_counts_each_symbol_and_the_end() -> None:
    torch.manual_seed(0)
    model, (x, y) = AttentionOCR(num_classes=3, in_channels=1, height=16, max_length=5, **SMALL), batch()
    task = AttentionTask()
    out = task.forward(model, x, y)
    assert out.logits.shape == (3, 4, 4)
    logp = out.logits.log_softmax(-1)
    wanted = [[1, 2, 2, 0], [3, 0], [2, 1, 0]]
    manual = torch.stack([-sum(logp[i, j, w] for j, w in enumerate(seq)) / len(seq) for i, seq in enumerate(wanted)])
    assert torch.allclose(task.loss(out, y), manual, atol=1e-5)
    smooth = AttentionTask(label_smoothing=0.1).loss(out, y)
    assert not torch.allclose(smooth, manual)


def test_training_decodes_greedily_evaluation_with_the_configured_beam() -> None:
    torch.manual_seed(0)
    model, (x, y) = CRNN(num_classes=3, in_channels=1, height=16, **SMALL), batch()
    lm = CharNGramLM.fit([[1, 2], [3]], order=2, num_symbols=3)
    task = CTCTask(decoder="beam", beam_width=3, lm=lm, lm_weight=0.5)
    model.eval()
    out = task.forward(model, x, y)
    expected = ctc_beam_decode(out.logits, out.frames, beam_width=3, lm=lm, lm_weight=0.5)
    assert out.tokens.tolist() == expected.tokens.tolist() and out.confidence is None
    model.train()
    assert task.forward(model, x, y).confidence is not None  # greedy while training
    with pytest.raises(ConfigError, match="beam"):
        CTCTask(decoder="greedy", lm=lm, lm_weight=0.5)


def test_task_factory_picks_the_task_from_the_model() -> None:
    split = pad_lines([torch.ones(1, 16, 8, dtype=torch.uint8)] * 2, ["a b", "ba"], Alphabet("ab "))
    make = task_factory(split, Alphabet("ab "), decoder="beam", lm_order=2, lm_weight=0.3, label_smoothing=0.1)
    ctc = make(CRNN(num_classes=3, in_channels=1, height=16, **SMALL))
    att = make(AttentionOCR(num_classes=3, in_channels=1, height=16, **SMALL))
    assert isinstance(ctc, CTCTask) and isinstance(att, AttentionTask)
    assert att.label_smoothing == 0.1 and ctc.lm is att.lm and ctc.space_id == 3
    with pytest.raises(ConfigError, match="lm_order"):
        task_factory(split, Alphabet("ab "), lm_weight=0.3)


class StopAt(Callback):
    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_train_batch_end(self, learner) -> None:
        if learner.loop.step >= self.steps:
            learner.should_stop = True


def crnn_learner(height: int, lines: list[int], steps: int, batch_size: int = 16) -> Learner:
    cfg = parse_config({
        "data": {"name": "digit-strings", "batch_size": batch_size, "eval_batch_size": 100,
                 "args": {"height": height, "lines": lines}},
        "model": {"name": "crnn", "args": {"channels": 8, "hidden": 64, "layers": 1}},
        "optim": {"name": "adam", "lr": 3e-3},
        "train": {"epochs": 1000, "seed": 0, "device": "cpu", "count_flops": False},
        "logging": {"progress": "none", "tensorboard": False, "plot": False},
    })
    return learner_from_config(cfg, None, default_callbacks_on=False, callbacks=[StopAt(steps)])


def test_a_hundred_crnn_steps_halve_the_cer_on_small_lines() -> None:
    learner = crnn_learner(height=16, lines=[1600, 200, 10], steps=100)
    before = learner.evaluate("valid")["cer"]
    start = time.perf_counter()
    learner.fit(1000)
    after = learner.history.rows[-1]["valid.cer"]
    assert learner.loop.step == 100 and time.perf_counter() - start < 40
    assert after < 0.5 * before, (before, after)
    assert {"valid.cer", "valid.wer", "valid.seq_accuracy", "train.cer"} <= set(learner.history.rows[-1])


@pytest.mark.slow
def test_a_few_hundred_crnn_steps_cut_the_cer_by_more_than_half() -> None:
    learner = crnn_learner(height=32, lines=[4000, 300, 10], steps=300)
    before = learner.evaluate("valid")["cer"]
    learner.fit(1000)
    after = learner.evaluate("valid")["cer"]
    assert after < 0.5 * before and after < 0.15, (before, after)


def test_attention_model_trains_through_the_learner() -> None:
    cfg = parse_config({
        "data": {"name": "digit-strings", "batch_size": 16, "args": {"height": 16, "lines": [64, 32, 8],
                                                                      "max_length": 4}},
        "model": {"name": "attention_ocr", "args": {"channels": 4, "hidden": 16, "decoder_hidden": 16,
                                                    "attention": 16, "max_length": 6}},
        "optim": {"name": "adam", "lr": 1e-2},
        "train": {"epochs": 4, "seed": 0, "device": "cpu", "count_flops": False},
        "ocr": {"decoder": "beam", "beam_width": 3, "lm_order": 2, "lm_weight": 0.2},
        "logging": {"progress": "none", "tensorboard": False, "plot": False},
    })
    learner = learner_from_config(cfg, None, default_callbacks_on=False)
    assert isinstance(learner.task, AttentionTask) and learner.task.lm is not None
    learner.fit(4)
    losses = [r["train.loss"] for r in learner.history.rows]
    assert losses[-1] < losses[0] and all(torch.isfinite(torch.tensor(losses)))
    assert 0 <= learner.history.rows[-1]["valid.cer"] and "valid.wer" in learner.history.rows[-1]


def test_predictions_give_per_line_edits_for_paired_tests() -> None:
    torch.manual_seed(0)
    model, (x, y) = CRNN(num_classes=3, in_channels=1, height=16, **SMALL).eval(), batch()
    task = CTCTask()
    out = task.forward(model, x, y)
    rows = task.predictions(out, y)
    hyps = [out.tokens[i, : out.lengths[i]].tolist() for i in range(3)]
    refs = [y.labels[i, : y.lengths[i]].tolist() for i in range(3)]
    from trainlab.ocr.metrics import edit_distance

    assert rows["edits"].tolist() == [edit_distance(h, r) for h, r in zip(hyps, refs)]
    assert rows["correct"].tolist() == [h == r for h, r in zip(hyps, refs)] and rows["chars"].tolist() == [3, 1, 2]
