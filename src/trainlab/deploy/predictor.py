"""What ``trainlab predict`` needs from a trained model, whether a run's checkpoint (PyTorch) or a bundle
(onnxruntime): its kind of task, class names, preprocessing and a batch → answers function."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
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


def load_predictor(target: Path | str, *, checkpoint: str = "best", overrides: list[str] = (),
                   threads: int | None = None) -> Predictor:
    """A bundle folder's :class:`BundlePredictor` (no torch), else the experiment folder's checkpoint
    (``best``, ``last`` or a path) as a :class:`RunPredictor`.

    Example:
        >>> p = load_predictor("experiments/digits-cnn")  # doctest: +SKIP
        >>> p.kind, p.class_names[:3]  # doctest: +SKIP
        ('classification', ['0', '1', '2'])
    """
    from .bundle import BundlePredictor, is_bundle

    if is_bundle(target):
        if checkpoint != "best" or overrides:
            raise ConfigError(f"{target} is an exported bundle: --checkpoint and --set apply to an experiment "
                              "folder; export the checkpoint you want (trainlab export EXP --checkpoint ...).")
        return BundlePredictor(target, threads=threads)
    from .run import RunPredictor  # imports torch

    return RunPredictor(Path(target), checkpoint=checkpoint, overrides=list(overrides))
