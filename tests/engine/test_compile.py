"""train.compile: the training step runs a torch.compile'd model; saving, evaluation and results are unchanged."""
import pytest
import torch

from .helpers import tiny_learner


def test_compile_wraps_only_the_training_model():
    learner = tiny_learner(compile=True)
    assert hasattr(learner.net, "_orig_mod") and learner.net._orig_mod is learner.model
    assert not hasattr(learner.model, "_orig_mod")  # saved and evaluated as the plain module
    assert not any(k.startswith("_orig_mod") for k in learner.model.state_dict())


@pytest.mark.slow  # inductor compiles C++ kernels on CPU: about 30 s on 2 cores
def test_compiled_training_matches_eager_training():
    eager, compiled = tiny_learner().fit(2), tiny_learner(compile=True).fit(2)
    # Fused kernels round differently; after 16 Adam steps at lr 0.01 weights differ by ~1.5e-4 at most.
    for a, b in zip(eager.model.state_dict().values(), compiled.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-3)
    assert compiled.evaluate("test")["accuracy"] == pytest.approx(eager.evaluate("test")["accuracy"], abs=0.01)
