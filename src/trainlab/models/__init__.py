"""Models: a registry of trainlab's small models and every torchvision classifier, plus fine-tuning tools.

Example:
    >>> from trainlab.models import build_model, freeze, param_groups, summary, format_summary
    >>> model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), dropout=0.1)
    >>> freeze(model, ["stem"])
    >>> groups = param_groups(model, [1e-4, 1e-3])
    >>> print(format_summary(summary(model, (1, 1, 28, 28))).splitlines()[-1])
    Total params: 308,074 | trainable: 307,722 | non-trainable: 352
"""
from __future__ import annotations

from . import small, torchvision_models  # noqa: F401  (registers the models)
from .from_config import MODEL_TRANSFORMS, model_from_config, resolve_in
from .heads import freeze, head_name, head_parameters
from .param_groups import param_groups
from .registry import MODELS, build_model, list_models
from .summary import SummaryRow, format_summary, summary
from .weights import load_pretrained

__all__ = [
    "MODELS",
    "MODEL_TRANSFORMS",
    "SummaryRow",
    "build_model",
    "format_summary",
    "freeze",
    "head_name",
    "head_parameters",
    "list_models",
    "load_pretrained",
    "model_from_config",
    "param_groups",
    "resolve_in",
    "summary",
]
