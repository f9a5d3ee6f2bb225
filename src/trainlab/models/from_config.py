"""Config → model: build the registered architecture, apply the registered transforms, load weights, freeze.

Features that change how a model is built (``model.morph``: function-preserving transforms) register a
transform in :data:`MODEL_TRANSFORMS`: ``(model, cfg, input_shape) -> model``, applied in name order after
the architecture is built and before pretrained weights are loaded.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ModelError
from ..registry import Registry
from .heads import freeze
from .registry import build_model
from .weights import load_pretrained

log = logging.getLogger(__name__)

ModelTransform = Callable[[nn.Module, Any, tuple[int, ...]], nn.Module]
MODEL_TRANSFORMS: Registry[ModelTransform] = Registry("model transform", features=True)


def resolve_in(base_dir: Path | None, path: str | Path) -> Path:
    """``path`` as given when absolute or when there is no folder; else relative to ``base_dir`` (the
    experiment folder), where trainlab writes the files a params file names (``init.pt``)."""
    path = Path(path)
    if base_dir is None or path.is_absolute():
        return path
    inside = Path(base_dir) / path
    return inside if inside.exists() or not path.exists() else path


def model_from_config(cfg: Any, *, num_classes: int, input_shape: tuple[int, ...],
                      base_dir: Path | None = None) -> nn.Module:
    """Build (and transform, load, freeze) the model described by ``cfg.model``.

    A relative ``model.pretrained`` path is looked up in ``base_dir`` (the experiment folder) first.

    Example:
        >>> from trainlab.config import parse_config
        >>> cfg = parse_config({"model": {"name": "cnn_tiny", "args": {"width": 4}}})
        >>> type(model_from_config(cfg, num_classes=3, input_shape=(1, 8, 8))).__name__
        'TinyCNN'
    """
    m = cfg.model
    if m.num_classes is not None and m.num_classes != num_classes:
        raise ModelError(f"class count mismatch: model.num_classes is {m.num_classes} but the data has {num_classes} "
                         "classes; remove model.num_classes or fix the data.")
    model = build_model(m.name, num_classes=num_classes, in_channels=input_shape[0],
                        input_size=tuple(input_shape[1:]), dropout=m.dropout, small_stem=m.small_stem, **m.args)
    for name in MODEL_TRANSFORMS:
        model = MODEL_TRANSFORMS.get(name)(model, cfg, tuple(input_shape))
    if m.pretrained:
        skipped = load_pretrained(model, resolve_in(base_dir, m.pretrained))
        if skipped:
            log.info("pretrained weights loaded; head re-initialised: %s", ", ".join(skipped))
    freeze(model, m.freeze)
    return model
