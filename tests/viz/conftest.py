import pytest

from trainlab.cli import main

from ..conftest import write_exp

PARAMS = {
    "data": {"name": "digits", "batch_size": 128},
    "model": {"name": "cnn_tiny", "args": {"width": 4}},
    "optim": {"name": "adam", "lr": 0.01},
    "train": {"epochs": 1, "seed": 0, "num_threads": 1},
    "logging": {"tensorboard": False, "plot": False, "progress": "epoch"},
}


@pytest.fixture(scope="package")
def trained(tmp_path_factory):
    """A digits CNN trained for one epoch, shared by the viz tests that need an experiment folder."""
    exp = write_exp(tmp_path_factory.mktemp("viz") / "digits", PARAMS)
    assert main(["train", str(exp)]) == 0
    return exp
