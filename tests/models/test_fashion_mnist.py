"""Slow: cnn_small reaches >= 92% test accuracy on real Fashion-MNIST with a plain recipe.

Needs the data: set TRAINLAB_DATA to a folder holding ``fashion-mnist/`` (or to that folder itself) with
the four IDX ``.gz`` files. Several minutes on 2 CPU cores; run with ``pytest -m slow``.
"""
from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainlab.models import build_model

pytestmark = pytest.mark.slow


def _root() -> Path:
    base = os.environ.get("TRAINLAB_DATA")
    if not base:
        pytest.skip("set TRAINLAB_DATA to the folder holding fashion-mnist/")
    for candidate in (Path(base) / "fashion-mnist", Path(base)):
        if (candidate / "train-images-idx3-ubyte.gz").is_file():
            return candidate
    pytest.skip(f"no Fashion-MNIST IDX files under {base}")


def _read_idx(path: Path) -> torch.Tensor:
    """An IDX file (big-endian dims after a 4-byte magic whose last byte is the rank) as a uint8 tensor."""
    data = gzip.decompress(path.read_bytes())
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return torch.from_numpy(np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims).copy())


def _augment(x: torch.Tensor, gen: torch.Generator, fill: float) -> torch.Tensor:
    """Random horizontal flips and one random 2-pixel shift per batch. x: (B, 1, 28, 28)."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = nn.functional.pad(x, (2, 2, 2, 2), value=fill)  # (B, 1, 32, 32)
    dy, dx = torch.randint(0, 5, (2,), generator=gen).tolist()
    return padded[:, :, dy : dy + 28, dx : dx + 28]


def test_cnn_small_reaches_92_percent_on_fashion_mnist() -> None:
    root = _root()
    mean, std = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics
    x_train = (_read_idx(root / "train-images-idx3-ubyte.gz").float() / 255 - mean).div(std).unsqueeze(1)
    y_train = _read_idx(root / "train-labels-idx1-ubyte.gz").long()
    x_test = (_read_idx(root / "t10k-images-idx3-ubyte.gz").float() / 255 - mean).div(std).unsqueeze(1)
    y_test = _read_idx(root / "t10k-labels-idx1-ubyte.gz").long()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), dropout=0.1)
    epochs, batch = 10, 128
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * math.ceil(len(y_train) / batch))
    fill = float(x_train.min())
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(y_train), generator=gen)
        for i in range(0, len(perm), batch):
            idx = perm[i : i + batch]
            loss = nn.functional.cross_entropy(model(_augment(x_train[idx], gen, fill)), y_train[idx],
                                               label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        correct = sum((model(x_test[i : i + 1000]).argmax(1) == y_test[i : i + 1000]).sum().item()
                      for i in range(0, len(y_test), 1000))
    accuracy = correct / len(y_test)
    assert accuracy >= 0.92, f"cnn_small test accuracy {accuracy:.4f} after {epochs} epochs"
