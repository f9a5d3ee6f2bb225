"""Two CPU processes with gloo: synced validation metrics equal one process evaluating the same checkpoint."""
import json
import os
import subprocess
import sys

import pytest
import torch

from trainlab.config import parse_config
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.engine.factory import learner_from_config

from ..conftest import write_exp

PARAMS = {
    "data": {"name": "digits", "batch_size": 32},
    "model": {"name": "cnn_tiny", "args": {"width": 8}},
    "optim": {"name": "adam", "lr": 0.003},
    "train": {"epochs": 2, "seed": 0, "num_threads": 1},
    "logging": {"tensorboard": False, "plot": False, "progress": "epoch"},
}


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_two_gloo_processes_match_single_process_evaluation(tmp_path):
    exp = write_exp(tmp_path / "ddp", PARAMS)
    proc = subprocess.run([sys.executable, "-m", "trainlab", "train", str(exp), "--nproc", "2"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("done: 2 epochs") == 1  # only rank 0 prints
    headers = [line for line in proc.stderr.splitlines() if line.startswith("training ")]
    assert len(headers) == 1 and headers[0].endswith("2 processes"), proc.stderr  # and only rank 0 logs
    resolved = json.loads((exp / "params.resolved.json").read_text())
    assert resolved["_run"]["world_size"] == 2
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    # each rank took half the batches: steps per epoch = ceil(ceil(1295 / 2) / 32) = 21
    assert state["loop"]["step"] == 2 * 21
    recorded = state["history"][-1]
    single = learner_from_config(parse_config(state["config"]), None, default_callbacks_on=False)
    single.load_state_dict(state, weights_only=True)
    metrics = single.evaluate("valid")
    # sharded and single-process evaluation batch the samples differently, so kernels may round differently:
    # counts of samples are exact, a prediction on a near-tie may flip, losses agree to float32 rounding
    n = single.data.valid.num_samples
    assert recorded["valid.per_class.support"] == metrics["per_class"]["support"]
    assert abs(recorded["valid.accuracy"] - metrics["accuracy"]) <= 1 / n
    assert recorded["valid.loss"] == pytest.approx(metrics["loss"], rel=1e-5)
    assert sum(metrics["per_class"]["support"]) == single.data.valid.num_samples


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
@pytest.mark.parametrize("wait", [True, False])
def test_shutdown_leaves_the_process_group(tmp_path, wait):
    from trainlab.engine.distributed import shutdown_distributed

    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    shutdown_distributed(wait=wait)  # a group torn down at exit instead can abort a rank (exit -6)
    assert not torch.distributed.is_initialized()
    shutdown_distributed()  # nothing to leave: a no-op
