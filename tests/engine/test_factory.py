"""trainlab.engine.factory: a Config to a Learner."""
import pytest

from trainlab.config import parse_config
from trainlab.engine.factory import learner_from_config


def test_a_misspelled_keyword_argument_is_refused():
    cfg = parse_config({"data": {"name": "synthetic", "args": {"samples": 32, "image_size": 4}}, "model": {"name": "mlp"}})
    with pytest.raises(TypeError, match="unexpected keyword argument 'callback'"):
        learner_from_config(cfg, callback=[])  # callbacks=: a swallowed typo would drop the callbacks silently
