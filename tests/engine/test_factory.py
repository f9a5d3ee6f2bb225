"""trainlab.engine.factory: a Config to a Learner."""
import pytest

from trainlab.config import parse_config
from trainlab.engine.factory import learner_from_config
from trainlab.errors import TrainingError


def test_a_misspelled_keyword_argument_is_refused():
    cfg = parse_config({"data": {"name": "synthetic", "args": {"samples": 32, "image_size": 4}}, "model": {"name": "mlp"}})
    with pytest.raises(TypeError, match="unexpected keyword argument 'callback'"):
        learner_from_config(cfg, callback=[])  # callbacks=: a swallowed typo would drop the callbacks silently


def test_an_evaluation_learner_has_no_optimizer_evaluates_and_refuses_to_train():
    cfg = parse_config({"data": {"name": "synthetic", "args": {"samples": 32, "image_size": 4}}, "model": {"name": "mlp"}})
    learner = learner_from_config(cfg, training=False)
    assert learner.optimizer is None
    assert set(learner.evaluate("valid")) >= {"loss", "accuracy"}
    for train in (lambda: learner.fit(1), lambda: learner.train_pass(learner.data.train), learner.state_dict):
        with pytest.raises(TrainingError, match="built to evaluate only"):
            train()
