"""Dataset sources, registered by name. Each returns raw splits: uint8 images or a file-backed Dataset."""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DataError
from ..registry import Registry
from .splits import stratified_split


@dataclass
class ArraySplit:
    images: Tensor  # uint8 (N, C, H, W)
    targets: Tensor  # long (N,)


@dataclass
class FileSplit:
    dataset: Dataset  # yields (uint8 (C, H, W), label)
    targets: Tensor  # long (N,)


Split = ArraySplit | FileSplit


@dataclass
class RawData:
    train: Split
    valid: Split | None
    test: Split | None
    class_names: list[str]
    flip: bool  # whether a horizontal flip keeps the label meaningful


DATASETS: Registry = Registry("dataset")
# Datasets that bring their own Task (text lines, detection scenes): data.name -> builder(cfg, *, seed, device,
# rank, world_size) returning (DataBundle, model -> Task). Features register them (trainlab.ocr: digit-strings).
TASK_DATASETS: Registry = Registry("dataset", features=True)


def take(split: Split, idx: Tensor) -> Split:
    if isinstance(split, ArraySplit):
        return ArraySplit(split.images[idx], split.targets[idx])
    return FileSplit(torch.utils.data.Subset(split.dataset, idx.tolist()), split.targets[idx])


def _no_args(name: str, args: dict[str, Any]) -> None:
    if args:
        raise DataError(f"dataset {name!r} takes no data.args, got {sorted(args)}.")


def resolve_root(root: str | None, name: str, marker: str) -> Path:
    """data.root, else env TRAINLAB_DATA; accepts the folder itself or a parent holding ``name/``."""
    given = root or os.environ.get("TRAINLAB_DATA")
    if not given:
        raise DataError(f"dataset {name!r} reads files: set data.root (e.g. --set data.root=PATH) or the env "
                        f"variable TRAINLAB_DATA to the folder that holds {marker}.")
    base = Path(given).expanduser()
    for cand in (base, base / name, base / name.replace("-", "_"), base / "FashionMNIST" / "raw"):
        if any(cand.glob(marker + "*")):
            return cand
    raise DataError(f"dataset {name!r}: no {marker}[.gz] under {str(base)!r} (also looked in {name}/); "
                    "point data.root or TRAINLAB_DATA at the folder with the files.")


@DATASETS.register("digits")
def digits(*, seed: int, test_fraction: float, args: dict[str, Any], **_: Any) -> RawData:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images); stratified train/test by seed."""
    from sklearn.datasets import load_digits

    _no_args("digits", args)
    d = load_digits()
    images = torch.from_numpy(np.round(d.images * (255 / 16)).astype(np.uint8))[:, None]  # (N, 1, 8, 8)
    targets = torch.from_numpy(d.target).long()
    train_idx, test_idx = stratified_split(targets, test_fraction, seed=seed)
    return RawData(ArraySplit(images[train_idx], targets[train_idx]), None,
                   ArraySplit(images[test_idx], targets[test_idx]), [str(i) for i in range(10)], flip=False)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz): the format of MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise DataError(f"{path} is not an unsigned-byte IDX file.")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {body.size}.")
    return body.reshape(shape)


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@DATASETS.register("fashion-mnist")
def fashion_mnist(*, root: str | None, download: bool, args: dict[str, Any], **_: Any) -> RawData:
    """Fashion-MNIST from the standard IDX files (``.gz`` or not) under data.root / TRAINLAB_DATA."""
    _no_args("fashion-mnist", args)
    if download:  # explicit opt-in only; tests and CI never download
        from torchvision.datasets import FashionMNIST

        if not root:
            raise DataError("data.download needs data.root: the folder to download into.")
        FashionMNIST(root, train=True, download=True)
        FashionMNIST(root, train=False, download=True)
    folder = resolve_root(root, "fashion-mnist", "train-images-idx3-ubyte")

    def load(prefix: str) -> ArraySplit:
        def pick(stem: str) -> Path:
            for name in (stem + ".gz", stem):
                if (folder / name).is_file():
                    return folder / name
            raise DataError(f"fashion-mnist: {stem}[.gz] is missing in {folder}.")
        images = read_idx(pick(f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(pick(f"{prefix}-labels-idx1-ubyte"))
        if len(images) != len(labels):
            raise DataError(f"fashion-mnist {prefix}: {len(images)} images but {len(labels)} labels.")
        return ArraySplit(torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels.astype(np.int64)))

    return RawData(load("train"), None, load("t10k"), FASHION_CLASSES, flip=True)


@DATASETS.register("synthetic")
def synthetic(*, seed: int, test_fraction: float, args: dict[str, Any], **_: Any) -> RawData:
    """Class-conditional noisy templates: learnable, tiny, made on the fly (for tests and smoke runs).

    data.args: num_classes (4), samples (512), image_size (16), channels (1), noise (0.35).
    """
    allowed = {"num_classes": 4, "samples": 512, "image_size": 16, "channels": 1, "noise": 0.35}
    unknown = set(args) - set(allowed)
    if unknown:
        raise DataError(f"synthetic: unknown data.args {sorted(unknown)}; allowed: {sorted(allowed)}.")
    o = {**allowed, **args}
    gen = torch.Generator().manual_seed(1234)  # templates fixed; the run's seed only decides the split
    k, n, s, c = int(o["num_classes"]), int(o["samples"]), int(o["image_size"]), int(o["channels"])
    templates = torch.rand(k, c, s, s, generator=gen)
    targets = torch.arange(n) % k
    images = templates[targets] + float(o["noise"]) * torch.randn(n, c, s, s, generator=gen)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    train_idx, test_idx = stratified_split(targets, test_fraction, seed=seed)
    return RawData(ArraySplit(images[train_idx], targets[train_idx]), None,
                   ArraySplit(images[test_idx], targets[test_idx]), [f"class{i}" for i in range(k)], flip=True)


@DATASETS.register("folder")
def folder(*, root: str | None, image_size: tuple[int, int] | None, channels: int | None,
           args: dict[str, Any], **_: Any) -> RawData:
    """An image folder: ROOT/train/<class>/*, optional ROOT/valid/<class>/*, optional ROOT/test/<class>/*."""
    from .folder import ImageFolderDataset, find_classes

    _no_args("folder", args)
    if not root:
        raise DataError("dataset 'folder' needs data.root: a folder with train/<class>/ sub-folders.")
    base = Path(root).expanduser()
    if not (base / "train").is_dir():
        raise DataError(f"dataset 'folder': {str(base / 'train')!r} does not exist; expected ROOT/train/<class>/.")
    if image_size is None:
        raise DataError("dataset 'folder' needs data.image_size: [H, W] to resize every image to.")
    class_names = find_classes(base / "train")

    def split(name: str) -> FileSplit | None:
        if not (base / name).is_dir():
            return None
        ds = ImageFolderDataset(base / name, class_names, image_size=tuple(image_size), channels=channels or 3)
        return FileSplit(ds, torch.tensor(ds.targets, dtype=torch.long))

    return RawData(split("train"), split("valid"), split("test"), class_names, flip=True)
