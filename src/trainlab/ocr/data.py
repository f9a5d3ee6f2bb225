"""Text-line splits in memory, padded batches (optionally bucketed by width), and the DataBundle.

A split holds every line as uint8 (N, C, H, W_max), ink high and background 0, padded on the right with
background, plus each line's real width and its label ids. A batch is cropped to its widest line
(rounded up to the encoder's 4-pixel step), so with bucketing (lines of similar width batched
together) little compute goes to padding. Loaders follow :class:`trainlab.data.BatchLoader`: the order
of epoch e and each batch's augmentation are seeded by (seed, e, batch), so a run resumes mid-epoch
exactly, and ``world_size`` > 1 shards the lines across processes.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import BatchLoader, DataBundle
from ..data.augment import Normalizing
from ..data.loaders import mix_seed
from ..errors import DataError
from .alphabet import Alphabet
from .augment import LineAugment
from .models import WIDTH_STRIDE


@dataclass
class LineSplit:
    """Lines of one split: images uint8 (N, C, H, W) (right-padded with 0), widths (N,), labels (N, L)
    (ids 1..K, 0-padded), lengths (N,), and optionally where each character came from (N, L) (-1 pad)."""

    images: Tensor
    widths: Tensor
    labels: Tensor
    lengths: Tensor
    sources: Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def take(self, idx: Tensor) -> LineSplit:
        """The lines at ``idx``."""
        return LineSplit(self.images[idx], self.widths[idx], self.labels[idx], self.lengths[idx],
                         None if self.sources is None else self.sources[idx])

    def texts(self, alphabet: Alphabet) -> list[str]:
        return alphabet.decode_batch(self.labels, self.lengths)


def pad_lines(images: list[Tensor], texts: list[str], alphabet: Alphabet, sources: list[list[int]] | None = None
              ) -> LineSplit:
    """Stack lines of one height (each uint8 (C, H, w)) into a :class:`LineSplit`.

    Example:
        >>> s = pad_lines([torch.ones(1, 16, 5, dtype=torch.uint8), torch.ones(1, 16, 9, dtype=torch.uint8)],
        ...               ["1", "22"], Alphabet("12"))
        >>> s.images.shape, s.widths.tolist(), s.labels.tolist()
        (torch.Size([2, 1, 16, 12]), [5, 9], [[1, 0], [2, 2]])
    """
    if not images:
        raise DataError("a split has no lines; check the labels file or the number of lines asked for.")
    c, h = images[0].shape[:2]
    if any(im.shape[:2] != (c, h) for im in images):
        raise DataError("lines of one split must share channels and height; resize them to one height.")
    widths = torch.tensor([im.shape[2] for im in images], dtype=torch.long)
    width = math.ceil(int(widths.max()) / WIDTH_STRIDE) * WIDTH_STRIDE
    out = torch.zeros(len(images), c, h, width, dtype=torch.uint8)
    for i, im in enumerate(images):
        out[i, :, :, : im.shape[2]] = im
    labels, lengths = alphabet.encode_batch(texts)
    src = None
    if sources is not None:
        src = torch.full(labels.shape, -1, dtype=torch.long)
        for i, s in enumerate(sources):
            src[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return LineSplit(out, widths, labels, lengths, src)


@dataclass
class LineTargets:
    """What a batch of lines should read: labels (B, L) ids 0-padded, lengths (B,), and the lines' real
    pixel widths (B,) (models use them to ignore padding)."""

    labels: Tensor
    lengths: Tensor
    widths: Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> LineTargets:
        return LineTargets(self.labels.to(device, non_blocking=True), self.lengths.to(device, non_blocking=True),
                           self.widths.to(device, non_blocking=True))


class LinePipeline(Normalizing):
    """uint8 lines (B, C, H, W) → float, augmented when training, normalized with mean/std (in [0, 1] units)."""

    def __init__(self, *, mean: list[float], std: list[float], augment: LineAugment | None = None) -> None:
        super().__init__(mean, std, augment)

    def __call__(self, x: Tensor, widths: Tensor, gen: torch.Generator | None) -> Tensor:
        x = x.float() / 255
        if gen is not None and self.augment is not None:
            x = self.augment(x, widths, gen)
        return self.normalize(x)


class LineLoader(BatchLoader):
    """Batches (x float (B, C, H, W_batch), :class:`LineTargets`) of a :class:`LineSplit` on the device.

    ``bucket`` > 0 (training only): the epoch's shuffled lines are cut into chunks of ``bucket`` batches,
    each chunk is sorted by width and cut into batches, and the batches are shuffled: batches of similar
    widths, still a different mix every epoch. ``labels`` is None: a line has no class.
    """

    def __init__(self, split: LineSplit, *, batch_size: int, pipeline: LinePipeline, train: bool, seed: int = 0,
                 device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1, bucket: int = 0) -> None:
        super().__init__(len(split), batch_size=batch_size, pipeline=pipeline,
                         train=train, seed=seed, device=device, rank=rank, world_size=world_size)
        self.split, self.bucket = split, bucket

    def _identity(self) -> list[Tensor]:
        return [self.split.images, self.split.widths, self.split.labels]

    def index_batches(self, epoch: int) -> list[Tensor]:
        """The line indices of every batch of ``epoch`` on this rank, in order."""
        order = self.indices(epoch)
        if not (self.train and self.bucket):
            return list(order.split(self.batch_size))
        gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch, 2))
        batches = []
        for chunk in order.split(self.batch_size * self.bucket):
            chunk = chunk[torch.argsort(self.split.widths[chunk], stable=True)]
            batches += list(chunk.split(self.batch_size))
        return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]

    def batches(self, epoch: int = 0, start: int = 0) -> Iterator[tuple[Tensor, LineTargets]]:
        """Yield (x, targets) for ``epoch`` from batch ``start`` on."""
        s = self.split
        for i, idx in enumerate(self.index_batches(epoch)[start:], start=start):
            widths = s.widths[idx]
            width = min(math.ceil(int(widths.max()) / WIDTH_STRIDE) * WIDTH_STRIDE, s.images.shape[3])
            length = max(1, int(s.lengths[idx].max()))
            x = s.images[idx, :, :, :width].to(self.device, non_blocking=True)
            y = LineTargets(s.labels[idx, :length], s.lengths[idx], widths).to(self.device)
            gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch, i, 1)) if self.train else None
            yield self.pipeline(x, y.widths, gen), y

    def subset(self, indices: Tensor, *, train: bool | None = None) -> LineLoader:
        """A loader over some lines of this split (same pipeline)."""
        return LineLoader(self.split.take(indices), batch_size=self.batch_size, pipeline=self.pipeline,
                          train=self.train if train is None else train, seed=self.seed, device=self.device,
                          rank=self.rank, world_size=self.world_size, bucket=self.bucket)


def ink_stats(split: LineSplit) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (in [0, 1] units) over the lines' real pixels, padding excluded."""
    c, h, width = split.images.shape[1:]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    n = 0
    for start in range(0, len(split), 1024):
        imgs = split.images[start : start + 1024].double() / 255  # (b, C, H, W)
        mask = (torch.arange(width) < split.widths[start : start + 1024, None]).double()[:, None, None]  # (b,1,1,W)
        total += (imgs * mask).sum((0, 2, 3))
        total_sq += (imgs * imgs * mask).sum((0, 2, 3))
        n += int(mask.sum()) * h
    mean = total / max(n, 1)
    std = (total_sq / max(n, 1) - mean**2).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def line_bundle(train: LineSplit, valid: LineSplit, test: LineSplit | None, alphabet: Alphabet, *,
                batch_size: int, eval_batch_size: int | None = None, augment: str = "none", bucket: int = 0,
                seed: int = 0, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1,
                mean: list[float] | None = None, std: list[float] | None = None) -> DataBundle:
    """Loaders for three line splits, as the :class:`DataBundle` the Learner takes.

    ``class_names`` are the alphabet's symbols; ``input_shape`` is (C, H, mean training width rounded up
    to 4 pixels): the line a FLOPs count per sample stands for.

    Example:
        >>> s = pad_lines([torch.full((1, 16, 8), 255, dtype=torch.uint8)] * 4, ["1", "2", "12", "21"],
        ...               Alphabet("12"))
        >>> data = line_bundle(s, s, None, Alphabet("12"), batch_size=2)
        >>> x, y = list(data.valid.batches(0))[1]
        >>> data.class_names, data.input_shape, tuple(x.shape), y.labels.tolist()
        (['1', '2'], (1, 16, 8), (2, 1, 16, 8), [[1, 2], [2, 1]])
    """
    stats_mean, stats_std = ink_stats(train)
    mean, std = mean or stats_mean, std or stats_std
    train_pipe = LinePipeline(mean=mean, std=std, augment=LineAugment.preset(augment))
    eval_pipe = LinePipeline(mean=mean, std=std)
    common = dict(seed=seed, device=device, rank=rank, world_size=world_size)
    eval_bs = eval_batch_size or batch_size

    def loader(split: LineSplit | None, is_train: bool) -> LineLoader | None:
        if split is None:
            return None
        return LineLoader(split, batch_size=batch_size if is_train else eval_bs, bucket=bucket if is_train else 0,
                          pipeline=train_pipe if is_train else eval_pipe, train=is_train, **common)

    c, h = train.images.shape[1:3]
    width = max(WIDTH_STRIDE, math.ceil(float(train.widths.float().mean()) / WIDTH_STRIDE) * WIDTH_STRIDE)
    return DataBundle(train=loader(train, True), valid=loader(valid, False), test=loader(test, False),
                      class_names=list(alphabet.symbols), input_shape=(int(c), int(h), int(width)),
                      mean=list(mean), std=list(std), augmentation=train_pipe.describe())
