"""Shared small detection fixtures: tiny scene splits are made once per session (sklearn import ~1 s)."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from trainlab.detection.scenes import SceneOptions, scene_splits

from .helpers import TINY_ARGS


@pytest.fixture(scope="session")
def tiny_scenes():
    """(splits, class names): train/valid/test of 48/16/16 scenes of 64×64 with 1-3 digits."""
    return scene_splits(seed=3, valid_fraction=0.1, test_fraction=0.2, options=SceneOptions.from_args(TINY_ARGS))


@pytest.fixture
def fashion_root(tmp_path):
    """A stand-in Fashion-MNIST folder (random 28×28 items, IDX .gz files) with 200 train / 50 test images."""
    root = tmp_path / "fashion-mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 200), ("t10k", 50)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28))), ("labels-idx1", np.arange(n) % 10)):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
            with gzip.open(root / f"{prefix}-{kind}-ubyte.gz", "wb") as f:
                f.write(header + array.astype(np.uint8).tobytes())
    return root
