"""The ``loss`` section in real (tiny) runs: the objective is installed, recorded, resumed, and refused where wrong."""
import pytest
import torch

from trainlab.config import parse_config
from trainlab.engine.factory import learner_from_config
from trainlab.errors import ConfigError
from trainlab.losses import ErrorReweighting, FocalLoss, GroupDRO, error_weights

from ..engine.helpers import tiny_learner


def from_params(loss, **train):
    cfg = parse_config({"data": {"name": "synthetic", "batch_size": 32,
                                 "args": {"samples": 256, "image_size": 8, "noise": 0.9}},
                        "model": {"name": "mlp", "args": {"hidden_sizes": [32]}},
                        "train": {"epochs": 2, "count_flops": False, **train},
                        "logging": {"tensorboard": False, "plot": False, "progress": "none"}, "loss": loss})
    return learner_from_config(cfg)


@pytest.mark.parametrize("loss,kind", [({"focal": {"gamma": 2}}, FocalLoss), ({"reweight": {}}, ErrorReweighting),
                                       ({"group_dro": {"step_size": 0.05}}, GroupDRO)])
def test_a_loss_section_installs_its_objective_and_records_class_weights(loss, kind):
    learner = from_params(loss)
    cb = learner.callbacks.find(kind)
    assert cb is not None and learner.objective == cb.objective
    learner.fit(2)
    rows = learner.history.rows
    if kind is FocalLoss:
        assert "loss.per_class.weight" not in rows[-1]  # no alpha, no weights
    else:
        weights = rows[-1]["loss.per_class.weight"]
        assert len(weights) == 4 and sum(weights) == pytest.approx(4 if kind is ErrorReweighting else 1, rel=1e-5)
    # metrics keep the plain cross-entropy: the recorded validation loss is the task's
    assert rows[-1]["valid.loss"] == pytest.approx(learner.evaluate("valid")["loss"], rel=1e-6)


def test_reweighting_follows_the_last_validation_error():
    learner = tiny_learner(callbacks=[ErrorReweighting(strength=1.0)], lr=0.003).fit(2)
    for row in learner.history.rows:
        errors = 1 - torch.tensor(row["valid.per_class.accuracy"])
        assert row["loss.per_class.weight"] == pytest.approx(error_weights(errors, strength=1.0).tolist(), rel=1e-5)


def test_group_dro_raises_the_weight_of_the_class_with_the_highest_training_loss(tmp_path):
    learner = tiny_learner(callbacks=[GroupDRO(step_size=0.5)], lr=0.001).fit(1)
    cb = learner.callbacks.find(GroupDRO)
    q = cb.weights.tolist()
    losses = learner.history.rows[0]["train.per_class.loss"]
    assert max(range(4), key=lambda c: q[c]) == max(range(4), key=lambda c: losses[c])
    learner.save(tmp_path / "ckpt.pt")
    resumed = tiny_learner(callbacks=[GroupDRO(step_size=0.5)]).load(tmp_path / "ckpt.pt")
    assert resumed.callbacks.find(GroupDRO).weights.tolist() == pytest.approx(q)


def test_wrong_settings_fail_when_the_learner_is_built():
    with pytest.raises(ConfigError, match="label_smoothing"):
        from_params({"focal": {"gamma": 2}}, label_smoothing=0.1)
    with pytest.raises(ConfigError, match="alpha has 2 values; the data has 4 classes"):
        from_params({"focal": {"alpha": [1, 2]}})
    with pytest.raises(ConfigError, match="already has a training objective"):
        tiny_learner(callbacks=[FocalLoss(), GroupDRO()])
    with pytest.raises(ConfigError, match="choose exactly one objective"):
        parse_config({"loss": {"focal": {}, "group_dro": {}}})
