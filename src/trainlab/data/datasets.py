"""Dataset sources, registered by name. Each returns raw splits: uint8 images or a file-backed Dataset."""
from __future__ import annotations

import gzip
import importlib.util
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DataError, echo
from ..registry import Registry
from .memory import check_memory
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


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``load_digits()`` gives them: images (N, 8, 8) with values 0-16, and labels (N,).

    Its bundled CSV is read directly: importing scikit-learn (and the scipy it pulls in) would cost about a
    second in every process that trains on digits. ``load_digits`` serves where the file is not found.

    Example:
        >>> images, labels = digits_arrays()
        >>> images.shape, float(images.max()), labels[:5].tolist()
        ((1797, 8, 8), 16.0, [0, 1, 2, 3, 4])
    """
    spec = importlib.util.find_spec("sklearn")  # where the package is, without importing it
    places = spec.submodule_search_locations if spec is not None else None
    path = Path(places[0], "datasets", "data", "digits.csv.gz") if places else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.images, d.target
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


@DATASETS.register("digits")
def digits(*, seed: int, test_fraction: float, args: dict[str, Any], **_: Any) -> RawData:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images); stratified train/test by seed."""
    _no_args("digits", args)
    pixels, labels = digits_arrays()
    images = torch.from_numpy(np.round(pixels * (255 / 16)).astype(np.uint8))[:, None]  # (N, 1, 8, 8)
    targets = torch.from_numpy(labels).long()
    train_idx, test_idx = stratified_split(targets, test_fraction, seed=seed)
    return RawData(ArraySplit(images[train_idx], targets[train_idx]), None,
                   ArraySplit(images[test_idx], targets[test_idx]), [str(i) for i in range(10)], flip=False)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz): the format of MNIST and Fashion-MNIST.

    The header is checked before the data is read: an unsigned-byte IDX file with 1 to 4 dimensions whose
    values fit in memory (a damaged header can claim terabytes); then the file must hold exactly that many.

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> read_idx(p)
        array([7, 8, 9], dtype=uint8)
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 8:
                raise DataError(f"{path} is not an unsigned-byte IDX file (its first bytes are {head.hex() or 'missing'}, "
                                "expected 00 00 08 and a dimension count); replace it with the original file.")
            ndim = head[3]
            if not 1 <= ndim <= 4:
                raise DataError(f"{path} is damaged: its IDX header declares {ndim} dimensions (images have 3, "
                                "labels 1); replace it with the original file.")
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path} is truncated inside its header; replace it with the original file.")
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            size = int(np.prod(shape, dtype=object))
            check_memory(size, f"{path.name} (shape {shape})", hint="Its header may be damaged: replace the file.")
            data = f.read(size + 1)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read {path}: {e}; replace it with the original file.") from None
    if len(data) != size:
        raise DataError(f"{path} is {'truncated' if len(data) < size else 'damaged'}: its header declares "
                        f"{size} values ({' × '.join(map(str, shape))}), the file holds "
                        f"{'fewer' if len(data) < size else 'more'}; replace it with the original file.")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


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
        images_path, labels_path = pick(f"{prefix}-images-idx3-ubyte"), pick(f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1:
            swapped = " (are the images and labels files swapped?)" if images.ndim == 1 and labels.ndim == 3 else ""
            raise DataError(f"fashion-mnist {prefix}: {images_path.name} has shape {images.shape} and "
                            f"{labels_path.name} {labels.shape}; expected (N, H, W) images and (N,) labels"
                            f"{swapped}. Replace the files with the original ones.")
        if len(images) != len(labels):
            raise DataError(f"fashion-mnist {prefix}: {len(images)} images but {len(labels)} labels.")
        if labels.size and labels.max() >= len(FASHION_CLASSES):
            raise DataError(f"fashion-mnist {prefix}: {labels_path.name} holds the label {int(labels.max())} at "
                            f"index {int(labels.argmax())}; Fashion-MNIST labels are 0-9. Replace the file.")
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
        raise DataError(f"synthetic: unknown data.args {echo(sorted(unknown), 80)}; allowed: {sorted(allowed)}.")
    o = {**allowed, **args}
    for name, low in (("num_classes", 2), ("samples", 1), ("image_size", 1), ("channels", 1)):
        if not isinstance(o[name], int) or isinstance(o[name], bool) or o[name] < low:
            raise DataError(f"synthetic: data.args.{name} is {echo(o[name], 40)}; it must be an integer >= {low}.")
    if not isinstance(o["noise"], int | float) or isinstance(o["noise"], bool) or not 0 <= o["noise"] < 1e6:
        raise DataError(f"synthetic: data.args.noise is {echo(o['noise'], 40)}; it must be a number >= 0, e.g. 0.35.")
    k, n, s, c = o["num_classes"], o["samples"], o["image_size"], o["channels"]
    check_memory(12 * (n + k) * c * s * s, f"synthetic data ({n} samples of {c}×{s}×{s}, made in float32)",
                 hint="Lower data.args.samples or data.args.image_size.")
    gen = torch.Generator().manual_seed(1234)  # templates fixed; the run's seed only decides the split
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
