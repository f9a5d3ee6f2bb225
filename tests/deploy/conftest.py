"""Tiny trained runs of each task, trained once per session (a few seconds each) through the CLI, and their
exported bundles."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainlab.cli import main

LOGGING = {"tensorboard": False, "plot": False, "progress": "none"}


def train(folder: Path, params: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps({**params, "logging": LOGGING}))
    assert main(["train", str(folder)]) == 0
    return folder


def export(exp: Path, *more: str | Path) -> Path:
    """``trainlab export EXP MORE...``; the bundle folder (``--out``'s, else EXP/export)."""
    more = [str(m) for m in more]
    assert main(["export", str(exp), *more]) == 0
    return Path(more[more.index("--out") + 1]) if "--out" in more else exp / "export"


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("digits") / "exp", {
        "data": {"name": "digits", "batch_size": 64}, "model": {"name": "cnn_tiny"},
        "optim": {"name": "adam", "lr": 0.01}, "train": {"epochs": 2, "seed": 0, "num_threads": 1}})


@pytest.fixture(scope="session")
def digits_bundle(digits_run) -> Path:
    return export(digits_run)  # the default exporter (dynamo)


def write_fashion_folder(root: Path, per_class: int = 8) -> Path:
    """A Fashion-MNIST-like image folder: 4 classes of 20×20 RGB PNGs (bright blobs in different places) in
    train/ and test/, to be read as 1-channel 16×16 (conversion and resizing both happen)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class * 3), ("test", per_class)):
        for k, name in enumerate(["bag", "coat", "dress", "shirt"]):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (20, 20, 3))
                y, x = divmod(k, 2)
                img[2 + 9 * y: 9 + 9 * y, 2 + 9 * x: 9 + 9 * x] += 180
                Image.fromarray(img.astype(np.uint8)).save(root / split / name / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def folder_run(tmp_path_factory) -> Path:
    root = write_fashion_folder(tmp_path_factory.mktemp("fashion") / "data")
    return train(root.parent / "exp", {
        "data": {"name": "folder", "root": str(root), "image_size": [16, 16], "channels": 1, "batch_size": 16},
        "model": {"name": "cnn_tiny"}, "optim": {"name": "adam", "lr": 0.01},
        "train": {"epochs": 2, "seed": 0, "num_threads": 1}})


@pytest.fixture(scope="session")
def detector_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("scenes") / "exp", {
        "data": {"name": "digit-scenes", "batch_size": 8,  # 3 epochs: scores above the prior's 1e-4, told apart
                 "args": {"size": 64, "scenes": [48, 16, 16], "objects": [1, 3], "object_size": [12, 24]}},
        "model": {"name": "yolo", "args": {"width": 8}}, "optim": {"name": "adamw", "lr": 0.01},
        "train": {"epochs": 3, "seed": 0, "num_threads": 1, "monitor": "valid.map50", "mode": "max"}})


OCR_DATA = {"name": "digit-strings", "batch_size": 16, "args": {"height": 16, "lines": [48, 16, 16], "max_length": 4}}


@pytest.fixture(scope="session")
def ctc_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("ctc") / "exp", {
        "data": OCR_DATA, "model": {"name": "crnn", "args": {"channels": 4, "hidden": 8, "layers": 1}},
        "train": {"epochs": 1, "seed": 0, "num_threads": 1, "monitor": "valid.cer"}})


@pytest.fixture(scope="session")
def attention_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("attention") / "exp", {
        "data": OCR_DATA, "model": {"name": "attention_ocr", "args": {
            "channels": 4, "hidden": 8, "decoder_hidden": 8, "attention": 8, "embedding": 4, "max_length": 6}},
        "train": {"epochs": 1, "seed": 0, "num_threads": 1, "monitor": "valid.cer"}})


def write_lines(folder: Path, count: int = 4) -> Path:
    """Line images of the digit-strings kind (ink high), and one dark-on-light scan of the first, larger."""
    from trainlab.ocr.digit_strings import DigitStringOptions, digit_string_splits

    s = digit_string_splits(seed=1, valid_fraction=0.1, test_fraction=0.2,
                            options=DigitStringOptions(height=16, lines=(4, 4, count), max_length=4))["test"]
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(s.images[i, 0, :, : int(s.widths[i])].numpy()).save(folder / f"{i}.png")
    first = s.images[0, 0, :, : int(s.widths[0])].numpy()
    Image.fromarray(255 - first).resize((first.shape[1] * 2, 32)).save(folder / "scan.png")
    return folder


def write_scenes(folder: Path, count: int = 3, size: tuple[int, int] = (96, 128)) -> Path:
    """Scenes of the digit-scenes kind, saved larger than the detector's 64×64 input (boxes scale back)."""
    from trainlab.detection.scenes import SceneOptions, scene_splits

    splits, _ = scene_splits(seed=3, valid_fraction=0.1, test_fraction=0.2, options=SceneOptions.from_args(
        {"size": 64, "scenes": [4, 4, count], "objects": [1, 3], "object_size": [12, 24]}))
    (folder / "sub").mkdir(parents=True)
    for i in range(count):
        Image.fromarray(splits["test"].images[i, 0].numpy()).resize(size[::-1]).save(folder / "sub" / f"{i}.png")
    return folder
