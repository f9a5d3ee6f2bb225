"""The data that describes channel volumes: segments of dim 1, volumes and layer roles.

Example:
    >>> [(start, seg.channels) for start, seg in iter_segments((Segment(0, 4, 9), Segment(1, 2)))]
    [(0, 4), (36, 2)]
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from torch import nn


@dataclass(frozen=True)
class Segment:
    """Consecutive entries of dim 1 that belong to one volume.

    ``channels`` of the volume's channels, each taking ``block`` entries (``H*W`` after a flatten,
    otherwise 1). ``volume`` is an id inside one :class:`Analysis`.
    """

    volume: int
    channels: int
    block: int = 1


Layout = tuple[Segment, ...]


@dataclass(frozen=True)
class Volume:
    """A widenable set of channels, as listed by :func:`volumes`.

    Attributes:
        name: the qualified name of its first producer in graph order, for ``widen(where=...)``.
        channels: the number of channels.
        producers: layers that write these channels (conv/linear output channels).
        consumers: layers that read them (conv/linear input channels).
        norms: per-channel layers on the way (BatchNorm, InstanceNorm, PReLU).
        widenable: whether ``widen`` may change it.
        reason: why not, naming the node, when ``widenable`` is False.
        grouped: grouped or depthwise convolutions on the way; each maps its group i of these
            channels to group i, so the volume grows by whole new groups.
        unit: channels per group of those convolutions (their least common multiple; 1 without
            any): the number of new channels is rounded up to a multiple of it.
    """

    name: str
    channels: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    norms: tuple[str, ...]
    widenable: bool
    reason: str = ""
    grouped: tuple[str, ...] = ()
    unit: int = 1


@dataclass
class Role:
    """What one parameterised layer does to channel volumes (a layer called twice has one role)."""

    name: str
    module: nn.Module
    kind: Literal["producer", "follower", "grouped"]
    inputs: Layout | None  # producers: the columns they read; followers, grouped: their channels
    output: int | None = None  # producers: the volume they write


def iter_segments(layout: Layout | None) -> Iterator[tuple[int, Segment]]:
    """(start index along dim 1, segment) for each segment of ``layout``."""
    start = 0
    for seg in layout or ():
        yield start, seg
        start += seg.channels * seg.block
