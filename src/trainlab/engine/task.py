"""Tasks: what the model's output means, how its loss and metrics are computed, how it is used after training.

The Learner is task-agnostic: it asks the task for a per-sample loss and a metrics object. A sequence
task (CTC, attention decoding) or a detector plugs in as another :class:`Task` without touching the loop.

Beside training, a Task says what the verbs that use a trained model need to know, each with a default
that fits a classifier (the engine's default task):

- ``evaluate``: :meth:`Task.predictions` (per-example results kept in ``predictions_<split>.npz``) and
  :meth:`Task.write_figures` (pictures of the split);
- ``viz``: :meth:`Task.classifier_view` (the model as a (B, C) classifier for attribution pictures);
- ``predict`` and ``export`` (:mod:`trainlab.deploy`): :meth:`Task.preprocessing` (how a file becomes an
  input), :meth:`Task.answers` (outputs → one answer per input), :meth:`Task.export_graphs` (what goes into
  the ONNX graphs), :meth:`Task.bundle_settings` (what the host code that decodes the graphs' outputs needs)
  and :attr:`Task.kind` (which host decoding an exported bundle uses).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..images import NORMALIZE_PIXELS
from .metric import Metric
from .metrics import ClassificationMetrics

Axes = dict[int, tuple[str, int]]  # axis -> (dimension name, multiple): {3: ("width", 4)} = any multiple of 4


@dataclass
class ExportGraph:
    """One ONNX graph of an exported bundle: ``module(*inputs)`` with named inputs and outputs.

    ``inputs`` are examples (a batch of at least 2: ``torch.export`` specialises dimensions of size 1);
    ``dynamic`` names the axes of inputs and outputs that may vary, e.g. ``{"image": {0: ("batch", 1)}}``;
    axes sharing a name are the same dimension. ``recurrent``: the module holds LSTM/GRU layers, which the
    dynamo exporter of torch 2.14 cannot give a dynamic time axis (the legacy exporter is used for them).
    """

    name: str
    module: nn.Module
    inputs: tuple[Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic: dict[str, Axes] = field(default_factory=dict)

    @property
    def recurrent(self) -> bool:
        return any(isinstance(m, nn.RNNBase | nn.RNNCellBase) for m in self.module.modules())


class Task:
    """Base of the Tasks: :meth:`forward`, :meth:`loss` and :meth:`metrics` are required; the rest have
    defaults that fit a classifier whose model maps images (B, C, H, W) to logits (B, K)."""

    kind: ClassVar[str] = "classification"  # the host decoding of an exported bundle (trainlab.deploy)

    def forward(self, model: nn.Module, x: Tensor, target: Any) -> Any:
        """The model's output for a batch (a sequence task may feed the target, e.g. teacher forcing)."""
        raise NotImplementedError

    def loss(self, output: Any, target: Any) -> Tensor:
        """Per-sample loss, shape (B,)."""
        raise NotImplementedError

    def metrics(self) -> Metric:
        """A fresh accumulator: ``update(output, target, per_sample_loss)`` (called under no_grad) and
        ``compute() -> dict`` with at least "loss"; per-class values under "per_class"."""
        raise NotImplementedError

    # ------------------------------------------------------------------ evaluate, viz
    def predictions(self, output: Any, target: Any) -> dict[str, Tensor]:
        """Per-example results of a batch, (B,) each, for ``predictions_<split>.npz`` (the loss is added by
        the caller); two models' files are compared example by example. Default: none."""
        return {}

    def write_figures(self, model: nn.Module, loader: Any, class_names: list[str], out_dir: Path, split: str
                      ) -> list[Path]:
        """Pictures ``trainlab evaluate`` draws of ``split`` into ``out_dir``; the paths written. Default: none."""
        return []

    def classifier_view(self, model: nn.Module) -> nn.Module:
        """The model as an image classifier (B, C, H, W) → (B, K) scores, for attribution pictures. Default:
        the model itself."""
        return model

    # ------------------------------------------------------------------ predict, export
    def batch_widths(self, target: Any) -> Tensor | None:
        """The real pixel widths (B,) of a batch's inputs when they are padded (text lines); else None."""
        return None

    def preprocessing(self, data: Any) -> dict[str, Any]:
        """How an image file becomes an input, as plain data (the bundle's ``preprocess.json``): exactly what
        the run's evaluation loaders do. Default: stretch to the input size (antialiased bilinear), the
        input's channels, then the classification pipeline's normalization.

        Example:
            >>> from types import SimpleNamespace
            >>> data = SimpleNamespace(input_shape=(1, 8, 8), mean=[0.3], std=[0.2])
            >>> ClassificationTask(10).preprocessing(data)["size"]
            [8, 8]
        """
        c, h, w = data.input_shape
        return {"resize": "stretch", "size": [int(h), int(w)], "interpolation": "bilinear", "channels": int(c),
                "channel_order": "L" if c == 1 else "RGB", "mean": [float(v) for v in data.mean],
                "std": [float(v) for v in data.std], "normalize": NORMALIZE_PIXELS, "layout": "NCHW"}

    @torch.no_grad()
    def answers(self, model: nn.Module, x: Tensor, widths: Tensor | None = None, *, greedy: bool = False
                ) -> list[dict[str, np.ndarray]]:
        """One answer per input of a normalized batch ``x``, as numpy arrays in the model input's
        coordinates (``trainlab predict`` writes them). ``greedy``: decode as an exported bundle does (no beam
        search, no language model). Default: ``{"scores": softmax probabilities (K,)}``.

        Example:
            >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
            >>> [a["scores"].shape for a in ClassificationTask(3).answers(model.eval(), torch.zeros(2, 1, 2, 2))]
            [(3,), (3,)]
        """
        probs = model(x).float().softmax(-1).cpu().numpy()
        return [{"scores": p} for p in probs]

    def export_graphs(self, model: nn.Module, x: Tensor, widths: Tensor | None = None) -> list[ExportGraph]:
        """The graphs of an exported bundle, traced with the example batch ``x``. Default: one graph
        ``model``, images (batch dynamic) → ``logits`` (B, K)."""
        batch = {0: ("batch", 1)}
        return [ExportGraph("model", model, (x,), ["image"], ["logits"], {"image": batch, "logits": batch})]

    def bundle_settings(self, model: nn.Module) -> dict[str, Any]:
        """What the bundle's host code needs to turn the graphs' outputs into answers (JSON-able). Default:
        nothing."""
        return {}


class ClassificationTask(Task):
    """Cross-entropy over logits (B, C), optional label smoothing."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0) -> None:
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    def forward(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        return model(x)  # (B, C) logits

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(output.float(), target, reduction="none", label_smoothing=self.label_smoothing)

    def metrics(self) -> ClassificationMetrics:
        return ClassificationMetrics(self.num_classes)

    def predictions(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        """The predicted class ``pred`` and the true class ``target`` of each example."""
        return {"pred": output.argmax(1), "target": target}
