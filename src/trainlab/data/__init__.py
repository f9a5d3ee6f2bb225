"""Data: dataset sources, splits, batched augmentation and resumable loaders.

Example:
    >>> from trainlab.config import DataConfig
    >>> from trainlab.data import data_from_config
    >>> data = data_from_config(DataConfig(name="digits"), seed=0)
    >>> data.num_classes, data.input_shape
    (10, (1, 8, 8))
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import DataError
from .augment import BatchPipeline, channel_stats
from .datasets import DATASETS, TASK_DATASETS, ArraySplit, FileSplit, RawData, Split, take
from .loaders import BatchLoader, StreamLoader, TensorLoader
from .memory import check_memory
from .splits import stratified_split, stratified_subset

__all__ = ["DATASETS", "TASK_DATASETS", "DataBundle", "BatchLoader", "TensorLoader", "StreamLoader", "BatchPipeline",
           "data_from_config", "stratified_split"]


@dataclass
class DataBundle:
    train: BatchLoader
    valid: BatchLoader
    test: BatchLoader | None
    class_names: list[str]
    input_shape: tuple[int, int, int]  # (C, H, W)
    mean: list[float]
    std: list[float]
    augmentation: str  # human-readable, saved in params.resolved.json
    flip_keeps_label: bool = False  # the dataset says a horizontally mirrored image keeps its label

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def fingerprints(self) -> dict[str, str]:
        """Each split's :attr:`BatchLoader.fingerprint` (recorded in params.resolved.json and checkpoints)."""
        return {name: loader.fingerprint for name, loader in
                (("train", self.train), ("valid", self.valid), ("test", self.test)) if loader is not None}

    def split(self, name: str) -> BatchLoader:
        loader = {"train": self.train, "valid": self.valid, "test": self.test}.get(name)
        if loader is None:
            raise DataError(f"split {name!r} is not available; choose train, valid" + (", test." if self.test else "."))
        return loader


def _item_shape(split: Split) -> tuple[int, ...] | None:
    """(C, H, W) of one sample, known before any is decoded (None when the dataset does not say)."""
    if isinstance(split, ArraySplit):
        return tuple(split.images.shape[1:])
    dataset = split.dataset
    while isinstance(dataset, torch.utils.data.Subset):
        dataset = dataset.dataset
    size, channels = getattr(dataset, "image_size", None), getattr(dataset, "channels", None)
    return (channels, *size) if size and channels else None


def _check_resizing(cfg, split: Split) -> None:
    """Refuse data.image_size / data.channels where the dataset keeps its own (fashion-mnist is 28×28)."""
    shape = _item_shape(split)
    if shape is None:
        return
    if cfg.image_size is not None and tuple(shape[1:]) != tuple(cfg.image_size):
        raise DataError(f"data.image_size is {list(cfg.image_size)}, but dataset {cfg.name!r} does not resize: its "
                        f"images are {shape[1]}×{shape[2]}. Remove data.image_size (datasets that read image "
                        "files, e.g. folder, resize to it).")
    if cfg.channels is not None and shape[0] != cfg.channels:
        raise DataError(f"data.channels is {cfg.channels}, but dataset {cfg.name!r} does not convert: its images "
                        f"have {shape[0]} channel(s). Remove data.channels (datasets that read image files, e.g. "
                        "folder, convert to it).")


def _check_memory(cfg, split: Split, stats_samples: int, *, statistics: bool = True) -> None:
    """Refuse, before decoding anything, settings whose statistics sample (``statistics``: computed, not
    given as data.mean/std) or batches would not fit in memory."""
    shape = _item_shape(split)
    if shape is None:
        return
    per_item = math.prod(shape)
    size = "×".join(map(str, shape))
    hint = "Lower data.image_size." if cfg.image_size else "Use smaller images."
    if isinstance(split, FileSplit) and statistics:
        check_memory(stats_samples * per_item, f"the normalization statistics ({stats_samples} images of {size})",
                     hint=hint + (" Or set data.mean and data.std." if cfg.mean is None else ""))
    # a batch on its way to the model: uint8 images, then float32 (normalized, augmented)
    batch = max(cfg.batch_size, cfg.eval_batch_size or 0)
    check_memory(9 * batch * per_item, f"a batch of {batch} images of {size}", hint=hint + " Or lower data.batch_size.")


def _stats_sample(split: Split, n: int) -> torch.Tensor:
    if isinstance(split, ArraySplit):
        return split.images if n > 1 else split.images[:1]
    return torch.stack([split.dataset[i][0] for i in range(n)])  # file-backed: estimate from a sample


def _check_labels(name: str, splits: dict[str, Split | None], num_classes: int) -> None:
    for split_name, split in splits.items():
        if split is None or not len(split.targets):
            continue
        low, high = int(split.targets.min()), int(split.targets.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise DataError(f"dataset {name!r}: the {split_name} split has the label {bad}, but there are "
                            f"{num_classes} classes (labels 0-{num_classes - 1}); fix the labels file.")


def data_from_config(cfg, *, seed: int, device: str | torch.device = "cpu", rank: int = 0,
                     world_size: int = 1) -> DataBundle:
    """Build the train/valid/test loaders described by a :class:`trainlab.config.DataConfig`.

    ``seed`` (the run's ``train.seed``) orders the batches and draws the augmentation; the splits are carved
    with ``cfg.split_seed`` when set, else with ``seed``.
    """
    builder = DATASETS.get(cfg.name)
    split_seed = cfg.seed_for_splits(seed)
    raw: RawData = builder(root=cfg.root, seed=split_seed, test_fraction=cfg.test_fraction, download=cfg.download,
                           image_size=cfg.image_size, channels=cfg.channels, args=dict(cfg.args))
    train, valid = raw.train, raw.valid
    if valid is None:  # carve an exact stratified fraction of train; never the test split
        keep, carved = stratified_split(train.targets, cfg.valid_fraction, seed=split_seed)
        train, valid = take(train, keep), take(train, carved)
    if cfg.max_train_samples and cfg.max_train_samples < len(train.targets):
        train = take(train, stratified_subset(train.targets, cfg.max_train_samples, seed=split_seed))
    if len(train.targets) == 0:
        raise DataError(f"dataset {cfg.name!r} has no training samples.")
    for split_name, split in (("valid", valid), ("test", raw.test)):
        if split is not None and len(split.targets) == 0:  # metrics of no sample would read 0, not "missing"
            raise DataError(f"dataset {cfg.name!r}: the {split_name} split has no samples ({len(train.targets)} "
                            f"train samples in {len(raw.class_names)} classes); use more data"
                            + (", or raise data.valid_fraction." if split_name == "valid" else "."))
    _check_labels(cfg.name, {"train": train, "valid": valid, "test": raw.test}, len(raw.class_names))
    _check_resizing(cfg, train)
    given = cfg.mean is not None and cfg.std is not None  # then one image tells the channels; no statistics
    stats_samples = 1 if given else min(len(train.targets), 2000)
    _check_memory(cfg, train, stats_samples, statistics=not given)
    sample = _stats_sample(train, stats_samples)
    mean, std = (cfg.mean, cfg.std) if given else channel_stats(sample)
    mean, std = cfg.mean or mean, cfg.std or std
    if len(mean) != sample.shape[1] or len(std) != sample.shape[1]:
        raise DataError(f"data.mean/std have {len(mean)}/{len(std)} values but the images have "
                        f"{sample.shape[1]} channels.")
    if cfg.augment == "flip" and not raw.flip:
        raise DataError(f"data.augment flip: dataset {cfg.name!r} says a mirrored image does not keep its label "
                        "(a mirrored digit is not a digit); use none, light or standard (they flip only where "
                        "it keeps the label).")
    train_pipe = BatchPipeline(mean=mean, std=std, augment=cfg.augment, flip=raw.flip)
    eval_pipe = BatchPipeline(mean=mean, std=std, augment="none")
    common = dict(seed=seed, device=device, rank=rank, world_size=world_size)
    eval_bs = cfg.eval_batch_size or cfg.batch_size

    def loader(split: Split | None, *, is_train: bool) -> BatchLoader | None:
        if split is None:
            return None
        kw = dict(batch_size=cfg.batch_size if is_train else eval_bs,
                  pipeline=train_pipe if is_train else eval_pipe, train=is_train, **common)
        if isinstance(split, ArraySplit):
            return TensorLoader(split.images, split.targets, **kw)
        return StreamLoader(split.dataset, split.targets, num_workers=cfg.num_workers, **kw)

    return DataBundle(train=loader(train, is_train=True), valid=loader(valid, is_train=False),
                      test=loader(raw.test, is_train=False), class_names=raw.class_names,
                      input_shape=tuple(sample.shape[1:]), mean=mean, std=std,
                      augmentation=train_pipe.describe(), flip_keeps_label=raw.flip)
