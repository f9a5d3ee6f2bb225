"""Test-time augmentation: the views, a flip-symmetric model, the files that say so, where it is refused."""
import json
import warnings

import pytest
import torch
from torch import nn

from trainlab.cli import main
from trainlab.config import parse_config
from trainlab.engine.factory import learner_from_config
from trainlab.errors import ConfigError
from trainlab.recipes import TestTimeAugmentation, ViewAverage, views
from trainlab.recipes.tta import shift
from trainlab.runs import evaluate_checkpoint, run_experiment

from ..conftest import write_exp
from ..engine.helpers import tiny_learner


class Symmetric(nn.Module):
    """A classifier of the image plus its mirror: the same output for an image and its mirror."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x + x.flip(-1))


def test_views_are_the_image_its_mirror_and_their_shifts():
    x = torch.arange(32.).view(1, 2, 4, 4)
    plain, mirrored = views(x, "flip")
    assert torch.equal(plain, x) and torch.equal(mirrored, x.flip(-1))
    four = views(x, "flip+shift")
    assert len(four) == 4 and torch.equal(four[2], shift(x, 1, 1)) and torch.equal(four[3], shift(x.flip(-1), -1, -1))
    moved = shift(x, 1, 1)
    assert torch.equal(moved[..., 1:, 1:], x[..., :-1, :-1]) and torch.equal(moved[..., 0, 1:], x[..., 0, :-1])


def test_a_flip_symmetric_model_scores_the_same_with_and_without_flip_tta():
    learner = tiny_learner()
    learner.set_model(Symmetric())
    plain = learner.evaluate("test")
    learner.eval_wrap = TestTimeAugmentation("flip").wrap
    tta = learner.evaluate("test")
    assert tta["per_class"]["support"] == plain["per_class"]["support"]
    assert tta["confusion_matrix"] == plain["confusion_matrix"]
    assert tta["loss"] == pytest.approx(plain["loss"], rel=1e-6)
    logits = learner.model(torch.randn(5, 1, 8, 8))
    torch.testing.assert_close(ViewAverage(learner.model, "flip")(torch.randn(5, 1, 8, 8) * 0 + 1).exp().sum(1),
                               torch.ones(5))
    assert logits.shape == (5, 4)


def test_tta_changes_an_asymmetric_models_outputs_and_returns_log_probabilities():
    learner = tiny_learner().fit(1)
    x = next(learner.data.test.batches(0))[0]
    out = ViewAverage(learner.model.eval(), "flip+shift")(x)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(len(x)))
    assert not torch.allclose(out, learner.model(x).log_softmax(1))


def test_history_and_metrics_files_say_tta_was_used(tmp_path, tiny_params):
    params = {**tiny_params, "data": {**tiny_params["data"], "tta": "flip", "augment": "flip"}}
    exp = write_exp(tmp_path / "exp", params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # trained with flips: no warning
        run_experiment(exp, parse_config(params))
    rows = json.loads((exp / "history.json").read_text())["rows"]
    assert all(r["tta"] == "flip" for r in rows)
    assert json.loads((exp / "metrics_val_best.json").read_text())["tta"] == "flip"
    ev = evaluate_checkpoint(exp / "checkpoints" / "best.pt", exp)
    assert ev.notes["tta"] == "flip" and json.loads(ev.metrics_path.read_text())["tta"] == "flip"
    off = evaluate_checkpoint(exp / "checkpoints" / "best.pt", exp, overrides=["data.tta=none"])
    assert "tta" not in off.notes and off.metrics["loss"] != ev.metrics["loss"]


def test_refused_where_a_mirror_changes_the_label_and_for_other_tasks():
    base = {"model": {"name": "mlp"}, "train": {"num_threads": 1, "count_flops": False},
            "logging": {"tensorboard": False, "plot": False, "progress": "none"}}
    with pytest.raises(ConfigError, match="'digits' says a mirrored image does not keep its label") as err:
        learner_from_config(parse_config({**base, "data": {"name": "digits", "tta": "flip"}}), None)
    assert "\n" not in str(err.value)
    ocr = {**base, "data": {"name": "digit-strings", "tta": "flip", "args": {"height": 16, "lines": [32, 8, 8]}},
           "model": {"name": "crnn", "args": {"channels": 4, "hidden": 8, "layers": 1}}}
    with pytest.raises(ConfigError, match="averages class probabilities; this run's task is CTCTask"):
        learner_from_config(parse_config(ocr), None)


def test_the_cli_evaluates_with_tta_and_refuses_it_on_digits_in_one_line(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config(tiny_params))
    assert main(["evaluate", str(exp), "--tta", "flip+shift"]) == 0
    out, err = capsys.readouterr()
    assert "evaluated with weights raw, tta flip+shift" in out
    assert "trainlab: warning: " in err and "trained without flips" in err  # tiny_params do not augment
    assert json.loads((exp / "metrics_test.json").read_text())["tta"] == "flip+shift"
    digits = {**tiny_params, "data": {"name": "digits"}}
    exp = write_exp(tmp_path / "digits", digits)
    run_experiment(exp, parse_config(digits))
    assert main(["evaluate", str(exp), "--tta", "flip"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mirrored" in err, err
