"""Loaders that yield (x, y) batches on the device, resumable mid-epoch and shardable across processes.

The order of epoch ``e`` is a permutation drawn from a generator seeded with (seed, e), and each batch's
augmentation from (seed, e, batch index): a loader can start at any batch of any epoch and produce
exactly the batches an uninterrupted run would have produced. With ``world_size > 1`` each process
takes every world_size-th index (training pads the permutation so all ranks get equal batch counts,
as ``DistributedSampler`` does; evaluation does not pad, so synced metrics count every sample once).
"""
from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .augment import BatchPipeline


def digest(*parts: Tensor | str | Sequence[str]) -> str:
    """The first 16 hex digits of the sha256 of tensors (dtype, shape and bytes), texts and lists of texts, in
    order: what a split's fingerprint is made of.

    Example:
        >>> digest(torch.arange(3), ["a.png", "b.png"]) == digest(torch.arange(3), ["b.png", "a.png"])
        False
    """
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Tensor):
            t = part.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(part, str):
            h.update(part.encode())
        else:
            for text in part:
                h.update(text.encode() + b"\n")
        h.update(b"\0")
    return h.hexdigest()[:16]


def sample_ids(dataset: Dataset) -> list[str]:
    """What identifies each sample of a file-backed dataset: its ``sample_ids`` (an image folder's relative
    paths), through any ``Subset``; the item index for a dataset that names none."""
    if isinstance(dataset, torch.utils.data.Subset):
        ids = sample_ids(dataset.dataset)
        return [ids[i] for i in dataset.indices]
    ids = getattr(dataset, "sample_ids", None)
    return list(ids) if ids is not None else [str(i) for i in range(len(dataset))]


def mix_seed(*parts: int) -> int:
    """A deterministic 63-bit seed from several integers."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (p + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2))) & 0x7FFFFFFFFFFFFFFF
    return h


class BatchLoader:
    """Base: index order, sharding, resuming. Subclasses turn index batches into uint8 tensors."""

    def __init__(self, num_samples: int, *, labels: Tensor | None = None, batch_size: int, pipeline: BatchPipeline,
                 train: bool, seed: int = 0, device: torch.device | str = "cpu", rank: int = 0,
                 world_size: int = 1) -> None:
        self.num_samples = num_samples  # every sample of this split (all ranks)
        # (N,) the class of each sample, or None where a sample has no single class (detection, text lines)
        self.labels = None if labels is None else labels.long()
        self.batch_size, self.pipeline, self.train, self.seed = batch_size, pipeline, train, seed
        self.device = torch.device(device)
        self.rank, self.world_size = rank, world_size

    @functools.cached_property
    def fingerprint(self) -> str:
        """The identity of this split (every rank's samples, in order): a digest of its samples' content, or
        of their file paths for file-backed splits. A run records it, so a resume, an evaluation or a paired
        comparison can tell when a split is not the one the run trained against."""
        return digest(*self._identity())

    def _identity(self) -> list[Tensor | str | Sequence[str]]:
        raise NotImplementedError

    def indices(self, epoch: int) -> Tensor:
        """The sample indices this rank visits in ``epoch``, in order."""
        n = self.num_samples
        if self.train:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(mix_seed(self.seed, epoch)))
        else:
            order = torch.arange(n)
        if self.world_size == 1:
            return order
        if self.train:  # pad so every rank runs the same number of steps
            total = math.ceil(n / self.world_size) * self.world_size
            order = torch.cat([order, order[: total - n]])
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        n = len(self.indices(0)) if self.world_size > 1 else self.num_samples
        return math.ceil(n / self.batch_size)

    def batches(self, epoch: int = 0, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (x float (B, C, H, W) normalized, y long (B,)) for ``epoch``, from batch ``start`` on."""
        order = self.indices(epoch)
        index_batches = [b for b in order.split(self.batch_size) if len(b)][start:]  # no empty batch of no sample
        for i, (images, labels) in enumerate(self._fetch(index_batches), start=start):
            gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch, i, 1)) if self.train else None
            x = images.to(self.device, non_blocking=True)
            yield self.pipeline(x, gen), labels.to(self.device, non_blocking=True)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.batches(0)

    def _fetch(self, index_batches: list[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
        raise NotImplementedError

    def subset(self, indices: Tensor, *, train: bool | None = None) -> BatchLoader:
        raise NotImplementedError


class TensorLoader(BatchLoader):
    """A split held in memory as uint8 (N, C, H, W); batches are gathered by indexing, no workers."""

    def __init__(self, images: Tensor, labels: Tensor, **kwargs) -> None:
        super().__init__(len(labels), labels=labels, **kwargs)
        self.images = images

    def _identity(self) -> list[Tensor]:
        return [self.images, self.labels]

    def _fetch(self, index_batches: list[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in index_batches:
            yield self.images[idx], self.labels[idx]

    def subset(self, indices: Tensor, *, train: bool | None = None) -> TensorLoader:
        """A loader over some samples of this split (e.g. the classes Focus Learning trains on)."""
        return TensorLoader(self.images[indices], self.labels[indices], batch_size=self.batch_size,
                            pipeline=self.pipeline, train=self.train if train is None else train, seed=self.seed,
                            device=self.device, rank=self.rank, world_size=self.world_size)


class StreamLoader(BatchLoader):
    """A split read from files by DataLoader workers (e.g. an image folder); same order and RNG rules."""

    def __init__(self, dataset: Dataset, labels: Tensor, *, num_workers: int = 0, **kwargs) -> None:
        super().__init__(len(labels), labels=labels, **kwargs)
        self.dataset, self.num_workers = dataset, num_workers

    def _identity(self) -> list[Tensor | list[str]]:
        return [sample_ids(self.dataset), self.labels]

    def _fetch(self, index_batches: list[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
        loader = DataLoader(self.dataset, batch_sampler=[b.tolist() for b in index_batches],
                            num_workers=self.num_workers, pin_memory=self.device.type == "cuda")
        for images, labels in loader:
            yield images, torch.as_tensor(labels)

    def subset(self, indices: Tensor, *, train: bool | None = None) -> StreamLoader:
        return StreamLoader(torch.utils.data.Subset(self.dataset, indices.tolist()), self.labels[indices],
                            num_workers=self.num_workers, batch_size=self.batch_size, pipeline=self.pipeline,
                            train=self.train if train is None else train, seed=self.seed, device=self.device,
                            rank=self.rank, world_size=self.world_size)
