"""Detection splits in memory, batches of (images, box targets), and the DataBundle.

A split holds every image as uint8 (N, C, H, W) and its boxes padded to the split's largest count: boxes
float (N, K, 4) in pixels as (x1, y1, x2, y2), labels long (N, K) with -1 marking an empty slot. A batch
crops the padding to its own largest count. User code reads a batch's targets with
:meth:`DetectionTargets.as_list` (one dict of ``boxes`` and ``labels`` per image, as torchvision's
detection models take them); the padding stays inside this module and the loss.

Loaders follow :class:`trainlab.data.BatchLoader`: the order of epoch e and each batch's augmentation
are seeded by (seed, e, batch), so a run resumes mid-epoch exactly, and ``world_size`` > 1 shards the
images across processes.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..data import BatchLoader, DataBundle
from ..data.augment import Normalizing, channel_stats
from ..data.loaders import mix_seed
from ..errors import DataError
from .augment import BoxAugment


@dataclass
class DetectionSplit:
    """Images uint8 (N, C, H, W); boxes float (N, K, 4) xyxy pixels; labels long (N, K), -1 = no box.

    Datasets read from annotation files may add: ``crowd`` bool (N, K), COCO's ``iscrowd`` boxes (one box
    around a crowd of objects: left out of training, ignored by COCO mAP rather than counted as missed);
    ``image_ids`` long (N,) and ``sizes`` long (N, 2), each image's id and (H, W) in its annotation file;
    ``category_ids``, the file's category id of each class (what COCO results JSON names classes by).
    """

    images: Tensor
    boxes: Tensor
    labels: Tensor
    crowd: Tensor | None = None
    image_ids: Tensor | None = None
    sizes: Tensor | None = None
    category_ids: list[int] | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def take(self, idx: Tensor) -> DetectionSplit:
        """The images at ``idx`` (with their boxes)."""
        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[idx]

        return DetectionSplit(self.images[idx], self.boxes[idx], self.labels[idx], pick(self.crowd),
                              pick(self.image_ids), pick(self.sizes), self.category_ids)

    def without_crowd(self) -> DetectionSplit:
        """The split with its crowd boxes removed (what training sees: detectron2 and ultralytics drop them)."""
        if self.crowd is None:
            return self
        return DetectionSplit(self.images, self.boxes, self.labels.masked_fill(self.crowd, -1), None,
                              self.image_ids, self.sizes, self.category_ids)

    @property
    def counts(self) -> Tensor:
        """Boxes per image (N,)."""
        return (self.labels >= 0).sum(1)


def pad_boxes(boxes: list[Tensor], labels: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack per-image boxes (n_i, 4) and labels (n_i,) into (N, K, 4) and (N, K) with -1 labels as padding.

    Example:
        >>> b, l = pad_boxes([torch.ones(2, 4), torch.zeros(0, 4)], [torch.tensor([3, 1]), torch.zeros(0).long()])
        >>> b.shape, l.tolist()
        (torch.Size([2, 2, 4]), [[3, 1], [-1, -1]])
    """
    k = max([1, *(len(x) for x in labels)])
    out_boxes = torch.zeros(len(boxes), k, 4)
    out_labels = torch.full((len(boxes), k), -1, dtype=torch.long)
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        out_boxes[i, : len(lab)] = b.reshape(-1, 4)
        out_labels[i, : len(lab)] = lab
    return out_boxes, out_labels


def make_split(images: Tensor, boxes: list[Tensor], labels: list[Tensor], *, crowd: list[Tensor] | None = None,
               **info: Any) -> DetectionSplit:
    """A :class:`DetectionSplit` of uint8 images (N, C, H, W) and per-image box lists (xyxy pixels); ``crowd``:
    per-image bool flags beside the labels; ``info``: ``image_ids``, ``sizes``, ``category_ids``."""
    if len(images) == 0:
        raise DataError("a detection split has no images; check the folder or the number of scenes asked for.")
    if len(images) != len(boxes) or len(boxes) != len(labels):
        raise DataError(f"{len(images)} images but {len(boxes)} box lists and {len(labels)} label lists.")
    padded, padded_labels = pad_boxes(boxes, labels)
    flags = None if crowd is None else pad_boxes(boxes, [c.long() for c in crowd])[1] > 0
    return DetectionSplit(images, padded, padded_labels, flags, **info)


@dataclass
class DetectionTargets:
    """The true boxes of a batch: boxes (B, K, 4) xyxy pixels, labels (B, K) with -1 for "no box", and
    each image's index in its split (B,) (what metrics and predictions name the image by)."""

    boxes: Tensor
    labels: Tensor
    index: Tensor
    crowd: Tensor | None = None  # (B, K) bool: COCO crowd boxes, ignored by the loss and by mAP's matching

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def valid(self) -> Tensor:
        """(B, K) bool: the slots holding a box (crowd boxes included)."""
        return self.labels >= 0

    @property
    def objects(self) -> Tensor:
        """(B, K) labels with crowd boxes marked empty (-1): what the loss learns and counts as objects."""
        return self.labels if self.crowd is None else self.labels.masked_fill(self.crowd, -1)

    def to(self, device: torch.device | str) -> DetectionTargets:
        return DetectionTargets(self.boxes.to(device, non_blocking=True), self.labels.to(device, non_blocking=True),
                                self.index.to(device, non_blocking=True),
                                None if self.crowd is None else self.crowd.to(device, non_blocking=True))

    def as_list(self) -> list[dict[str, Tensor]]:
        """One ``{"boxes": (n, 4), "labels": (n,)}`` per image, padding removed.

        Example:
            >>> t = DetectionTargets(torch.ones(2, 2, 4), torch.tensor([[0, -1], [-1, -1]]), torch.arange(2))
            >>> [len(d["labels"]) for d in t.as_list()]
            [1, 0]
        """
        keep = self.valid
        return [{"boxes": self.boxes[i][keep[i]], "labels": self.labels[i][keep[i]]} for i in range(len(self))]

    def captions(self, class_names: list[str]) -> list[str]:
        """A short text per image naming its objects (e.g. "3 objects: 1, 4, 7")."""
        out = []
        for d in self.as_list():
            names = [class_names[int(k)] for k in d["labels"]]
            out.append(f"{len(names)} object{'s' if len(names) != 1 else ''}: {', '.join(names[:6])}"
                       + (" ..." if len(names) > 6 else ""))
        return out


class DetectionPipeline(Normalizing):
    """uint8 images (B, C, H, W) and their targets → float images, augmented with their boxes when training,
    normalized with mean/std (in [0, 1] units)."""

    def __init__(self, *, mean: list[float], std: list[float], augment: BoxAugment | None = None) -> None:
        super().__init__(mean, std, augment)

    def __call__(self, x: Tensor, y: DetectionTargets, gen: torch.Generator | None
                 ) -> tuple[Tensor, DetectionTargets]:
        x = x.float() / 255
        if gen is not None and self.augment is not None:
            x, boxes, labels = self.augment(x, y.boxes, y.objects, gen)  # training splits hold no crowd boxes
            y = DetectionTargets(boxes, labels, y.index)
        return self.normalize(x), y


class DetectionLoader(BatchLoader):
    """Batches (x float (B, C, H, W), :class:`DetectionTargets`) of a :class:`DetectionSplit` on the device.

    ``labels`` is None: an image has boxes of several classes, not one class.
    """

    def __init__(self, split: DetectionSplit, *, batch_size: int, pipeline: DetectionPipeline, train: bool,
                 seed: int = 0, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1,
                 index: Tensor | None = None) -> None:
        super().__init__(len(split), batch_size=batch_size, pipeline=pipeline, train=train, seed=seed,
                         device=device, rank=rank, world_size=world_size)
        self.split = split
        self.index = torch.arange(len(split)) if index is None else index  # image ids in the original split

    def _identity(self) -> list[Tensor]:
        return [self.split.images, self.split.boxes, self.split.labels]

    def batches(self, epoch: int = 0, start: int = 0) -> Iterator[tuple[Tensor, DetectionTargets]]:
        """Yield (x, targets) for ``epoch`` from batch ``start`` on."""
        s = self.split
        for i, idx in enumerate(list(self.indices(epoch).split(self.batch_size))[start:], start=start):
            k = max(1, int(s.counts[idx].max()))
            order = torch.argsort((s.labels[idx] < 0).long(), dim=1, stable=True)[:, :k]  # boxes first
            y = DetectionTargets(s.boxes[idx].gather(1, order[..., None].expand(-1, -1, 4)),
                                 s.labels[idx].gather(1, order), self.index[idx],
                                 None if s.crowd is None else s.crowd[idx].gather(1, order)).to(self.device)
            x = s.images[idx].to(self.device, non_blocking=True)
            gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch, i, 1)) if self.train else None
            yield self.pipeline(x, y, gen)

    def subset(self, indices: Tensor, *, train: bool | None = None) -> DetectionLoader:
        """A loader over some images of this split (same pipeline; images keep their ids)."""
        return DetectionLoader(self.split.take(indices), batch_size=self.batch_size, pipeline=self.pipeline,
                               train=self.train if train is None else train, seed=self.seed, device=self.device,
                               rank=self.rank, world_size=self.world_size, index=self.index[indices])


def detection_bundle(train: DetectionSplit, valid: DetectionSplit, test: DetectionSplit | None,
                     class_names: list[str], *, batch_size: int, eval_batch_size: int | None = None,
                     augment: BoxAugment | None = None, seed: int = 0, device: torch.device | str = "cpu",
                     rank: int = 0, world_size: int = 1, mean: list[float] | None = None,
                     std: list[float] | None = None) -> DataBundle:
    """Loaders for three detection splits, as the :class:`DataBundle` the Learner takes.

    Example:
        >>> s = make_split(torch.zeros(4, 1, 32, 32, dtype=torch.uint8), [torch.tensor([[1., 2, 9, 12]])] * 4,
        ...                [torch.tensor([1])] * 4)
        >>> data = detection_bundle(s, s, None, ["a", "b"], batch_size=2)
        >>> x, y = next(data.valid.batches(0))
        >>> data.input_shape, tuple(x.shape), y.as_list()[0]["labels"].tolist()
        ((1, 32, 32), (2, 1, 32, 32), [1])
    """
    stats_mean, stats_std = channel_stats(train.images[:2000])
    mean, std = mean or stats_mean, std or stats_std
    train_pipe = DetectionPipeline(mean=mean, std=std, augment=augment)
    eval_pipe = DetectionPipeline(mean=mean, std=std)
    common = dict(seed=seed, device=device, rank=rank, world_size=world_size)
    eval_bs = eval_batch_size or batch_size

    def loader(split: DetectionSplit | None, is_train: bool) -> DetectionLoader | None:
        if split is None:
            return None
        return DetectionLoader(split, batch_size=batch_size if is_train else eval_bs,
                               pipeline=train_pipe if is_train else eval_pipe, train=is_train, **common)

    return DataBundle(train=loader(train, True), valid=loader(valid, False), test=loader(test, False),
                      class_names=list(class_names), input_shape=tuple(int(v) for v in train.images.shape[1:]),
                      mean=list(mean), std=list(std), augmentation=train_pipe.describe())
