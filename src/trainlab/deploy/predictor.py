"""What ``trainlab predict`` needs from a trained model, whether a run's checkpoint (PyTorch) or a bundle
(onnxruntime): its kind of task, class names, preprocessing and a batch → answers function."""
from __future__ import annotations

from typing import Any

import numpy as np

from .preprocess import Preprocess


class Predictor:
    """Base of :class:`.bundle.BundlePredictor` and :class:`.run.RunPredictor`.

    Attributes:
        kind: ``classification``, ``detection``, ``ocr-ctc`` or ``ocr-attention`` (see :mod:`.records`).
        class_names: class names (OCR: the alphabet's symbols, id i + 1 = ``class_names[i]``).
        preprocess: how a file becomes an input.
        settings: the host decoding settings (detection thresholds, ...).
    """

    kind: str
    class_names: list[str]
    preprocess: Preprocess
    settings: dict[str, Any]

    def describe(self) -> str:
        """What is predicting, for the summary line (e.g. "experiments/x/checkpoints/best.pt (PyTorch)")."""
        raise NotImplementedError

    def answers(self, x: np.ndarray, widths: np.ndarray | None = None) -> list[dict[str, np.ndarray]]:
        """One answer per input of a normalized float32 batch ``x`` (B, C, H, W); ``widths`` (B,) the real
        widths of padded text lines (see :mod:`.host` for the answers' keys)."""
        raise NotImplementedError
