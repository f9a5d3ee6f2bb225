"""The images and image patches that excite a channel most, over a whole dataset.

After Zeiler & Fergus 2014 ("Visualizing and Understanding Convolutional Networks",
https://arxiv.org/abs/1311.2901, Fig. 2): for a channel, find the inputs with the highest
activations and show the part of each input the activating unit can see. The dataset is streamed;
only the current best ``k`` images are held, so memory does not grow with the dataset. Boxes come
from :func:`trainlab.viz.receptive_fields` (gradient support), so they are right at image borders
and for any architecture, and they are half-open: ``image[:, top:bottom, left:right]`` is the patch.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..errors import DataError, ModelError
from .hooks import capture, eval_mode
from .receptive_field import receptive_fields


@dataclass(frozen=True)
class Patch:
    """One of the top activations: its value, which image, which unit, and the unit's receptive field."""

    value: float
    index: int  # position of the image in the dataset stream
    position: tuple[int, ...]  # the unit's (y, x) in the layer's output; () for a layer without space
    box: tuple[int, int, int, int] | None  # (top, left, bottom, right) in input pixels, bottom/right exclusive
    image: Tensor  # (C, H, W) as given to the model
    label: int | None = None

    @property
    def patch(self) -> Tensor:
        """The part of the image inside ``box``: ``(C, bottom - top, right - left)``."""
        if self.box is None:
            return self.image[:, :0, :0]
        top, left, bottom, right = self.box
        return self.image[:, top:bottom, left:right]


@dataclass
class TopPatches:
    """The ``k`` highest activations of ``channel`` of ``layer``, best first."""

    layer: str
    channel: int
    patches: list[Patch] = field(default_factory=list)
    images_seen: int = 0


def _batches(dataset: object, batch_size: int) -> Iterator[tuple[Tensor, Tensor | None]]:
    """(x, y-or-None) batches from a tensor, a trainlab loader, a DataLoader-like iterable or a map-style dataset."""
    if isinstance(dataset, Tensor):
        for x in dataset.split(batch_size):
            yield x, None
        return
    if hasattr(dataset, "batches") and hasattr(dataset, "subset"):  # trainlab loaders: no shuffling or augmenting
        loader = dataset.subset(torch.arange(dataset.num_samples), train=False) if dataset.train else dataset
        yield from loader.batches(0)
        return
    if hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__") and not isinstance(dataset, (list, tuple)):
        dataset = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    if not isinstance(dataset, Iterable):
        raise DataError(f"top_patches needs images: a (N, C, H, W) tensor, a loader or a dataset; got "
                        f"{type(dataset).__name__}.")
    for item in dataset:
        if isinstance(item, Tensor):
            yield item, None
        elif isinstance(item, (tuple, list)) and item and isinstance(item[0], Tensor):
            yield item[0], item[1] if len(item) > 1 and isinstance(item[1], Tensor) else None
        else:
            raise DataError(f"the dataset yielded {type(item).__name__}; expected a tensor or (images, labels).")


def top_patches(model: nn.Module, layer: str, channel: int, dataset: object, k: int = 9, *,
                one_per_image: bool = True, batch_size: int = 256, max_images: int | None = None) -> TopPatches:
    """Stream ``dataset`` and keep the ``k`` highest activations of ``channel`` of ``layer``, with their patches.

    Args:
        model: any ``nn.Module`` (run in eval mode, unchanged).
        layer: qualified module name; its output is ``(B, C, H', W')`` (or ``(B, C)``).
        channel: which output channel.
        dataset: a ``(N, C, H, W)`` tensor, a trainlab loader (read in order, without augmentation),
            an iterable of ``images`` or ``(images, labels)`` batches, or a map-style dataset.
        k: how many to keep.
        one_per_image: rank each image by its best position (k different images); False ranks
            every position of every image, so one image can appear several times.
        max_images: stop after this many images (default: the whole dataset).

    Returns:
        :class:`TopPatches`, best first, each with the image, the unit position and its box.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
        >>> result = top_patches(net, "1", channel=0, dataset=torch.randn(20, 1, 8, 8), k=3)
        >>> len(result.patches), result.patches[0].value >= result.patches[-1].value
        (3, True)
    """
    if k < 1:
        raise ModelError(f"k must be >= 1, got {k}.")
    best_values = torch.empty(0)
    best: list[tuple[int, tuple[int, ...], Tensor, int | None]] = []  # (index, position, image, label)
    seen = 0
    input_shape: tuple[int, ...] | None = None
    with eval_mode(model):
        for x, y in _batches(dataset, batch_size):
            if max_images is not None and seen >= max_images:
                break
            if max_images is not None:
                x, y = x[: max_images - seen], None if y is None else y[: max_images - seen]
            if x.shape[0] == 0:
                continue
            input_shape = tuple(x.shape[1:])
            out = capture(model, x, [layer])[layer]  # (B, C, *spatial)
            if out.dim() < 2 or not 0 <= channel < out.shape[1]:
                raise ModelError(f"channel {channel} is out of range for layer {layer!r} with output shape "
                                 f"{tuple(out.shape[1:])} per image.")
            maps = out[:, channel].reshape(out.shape[0], -1).float().cpu()  # (B, positions)
            spatial = tuple(out.shape[2:])
            if one_per_image:
                values, where = maps.max(dim=1)  # (B,), (B,)
                images_idx = torch.arange(maps.shape[0])
            else:
                values, flat = maps.flatten().topk(min(k, maps.numel()))
                images_idx, where = flat // maps.shape[1], flat % maps.shape[1]
            candidates = []
            for v, i, w in zip(values.tolist(), images_idx.tolist(), where.tolist()):
                position = tuple(int(p) for p in torch.unravel_index(torch.tensor(w), spatial)) if spatial else ()
                candidates.append((seen + i, position, i, v))
            merged_values = torch.cat([best_values, values.float()])
            keep = merged_values.topk(min(k, len(merged_values))).indices.tolist()
            new_best = []
            for j in keep:  # copy only images that enter the top k
                if j < len(best):
                    new_best.append(best[j])
                else:
                    index, position, i, _ = candidates[j - len(best)]
                    label = None if y is None else int(y[i])
                    new_best.append((index, position, x[i].detach().cpu().clone(), label))
            best, best_values = new_best, merged_values[keep]
            seen += x.shape[0]
    if input_shape is None:
        raise DataError("the dataset holds no images; top_patches needs at least one batch.")
    result = TopPatches(layer=layer, channel=channel, images_seen=seen)
    if not best:
        return result
    units = [(channel, *position) for _, position, _, _ in best]
    fields = receptive_fields(model, layer, input_shape, units)
    for (index, position, image, label), value, rf in zip(best, best_values.tolist(), fields):
        result.patches.append(Patch(value=float(value), index=index, position=position,
                                    box=rf.box if rf.mask.dim() == 2 else None, image=image, label=label))
    return result
