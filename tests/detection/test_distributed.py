"""Two CPU processes with gloo train a detector; the synced validation mAP counts every image once and equals
one process evaluating the same checkpoint."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from trainlab.config import parse_config
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.engine.factory import learner_from_config

from .helpers import scene_params, write_params


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_two_gloo_processes_match_single_process_evaluation(tmp_path) -> None:
    exp = write_params(tmp_path / "ddp", scene_params(data={"args": {"size": 64, "scenes": [48, 17, 8],
                                                                     "objects": [1, 3], "object_size": [12, 24]}}))
    proc = subprocess.run([sys.executable, "-m", "trainlab", "train", str(exp), "--nproc", "2"], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    recorded = state["history"][-1]
    single = learner_from_config(parse_config(state["config"]), None, default_callbacks_on=False)
    single.load_state_dict(state, weights_only=True)
    metrics = single.evaluate("valid")
    assert recorded["valid.images"] == metrics["images"] == 17  # 9 + 8 images, none twice
    assert recorded["valid.per_class.objects"] == metrics["per_class"]["objects"]
    # the shards ran other batch sizes than one process: the same boxes up to float rounding
    assert recorded["valid.map"] == pytest.approx(metrics["map"], abs=1e-3)
