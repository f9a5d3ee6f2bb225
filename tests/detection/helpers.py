"""Small helpers for the detection tests."""
from __future__ import annotations

import json
from pathlib import Path

TINY_ARGS = {"size": 64, "scenes": [48, 16, 16], "objects": [1, 3], "object_size": [12, 24]}


def scene_params(**sections) -> dict:
    """A params dict that trains a small detector on tiny scenes in a few seconds."""
    params = {
        "data": {"name": "digit-scenes", "batch_size": 16, "args": TINY_ARGS},
        "model": {"name": "yolo", "args": {"width": 8}},
        "optim": {"name": "adamw", "lr": 0.003},
        "train": {"epochs": 2, "seed": 0, "num_threads": 1, "monitor": "valid.map50", "mode": "max"},
        "logging": {"tensorboard": False, "plot": False, "progress": "none"},
    }
    for name, values in sections.items():
        params[name] = {**params.get(name, {}), **values}
    return params


def write_params(folder: Path, params: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps(params))
    return folder
