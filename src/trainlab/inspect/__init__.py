"""Watch a network learn: feature maps recorded during training (probes), per-layer diagnostics, the
progression of a channel over epochs, a live inspection page and an architecture diagram.

The recorder and the diagnostics are callbacks switched on from the params file (``logging.probe``,
``logging.diagnostics``; see :mod:`trainlab.inspect.feature`); the page is ``trainlab inspect EXP`` and
the diagram ``trainlab summary EXP --diagram``.

Example:
    >>> from trainlab.config import parse_config
    >>> cfg = parse_config({"logging": {"probe": {"images": 4}, "diagnostics": {}}})
    >>> cfg.logging.probe.images, cfg.logging.diagnostics.every
    (4, 1)
"""
from __future__ import annotations

from typing import Any

__all__ = ["ProbeRecord", "ProbeRecorder", "read_probes"]


def __getattr__(name: str) -> Any:  # imported on first use: loading the feature's registration stays cheap
    if name in __all__:
        from . import probes

        return getattr(probes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
