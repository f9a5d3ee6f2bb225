import json
import os
from pathlib import Path

import pytest
import torch

# Tests run beside other work on 2 cores and small models are fastest on one thread: trainings built here
# and the trainlab processes tests start take OMP_NUM_THREADS as their most (docs/threads.md).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)


def write_exp(folder: Path, params: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps(params))
    return folder


@pytest.fixture
def tiny_params() -> dict:
    """A seconds-long run: synthetic 4-class data, an MLP, no TensorBoard or plot."""
    return {
        "data": {"name": "synthetic", "batch_size": 32, "args": {"samples": 256, "image_size": 8}},
        "model": {"name": "mlp"},
        "optim": {"name": "adam", "lr": 0.01},
        "train": {"epochs": 3, "seed": 0},
        "logging": {"tensorboard": False, "plot": False, "progress": "epoch"},
    }
