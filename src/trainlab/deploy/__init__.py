"""Using what was trained: ``trainlab predict`` on image files and ``trainlab export`` to an ONNX bundle.

- :func:`predict` / :func:`predictions`: a run's checkpoint (PyTorch) or an exported bundle (onnxruntime)
  answering image files, with the run's own evaluation preprocessing (:mod:`.preprocess`);
- :func:`export`: a self-describing bundle (``model.onnx``, ``config.json``, ``preprocess.json``, a README
  card, ``parity.json``), verified against PyTorch on the run's validation samples before it is reported.

The bundle path (:class:`BundlePredictor`, and everything :func:`predict` needs for it) imports no torch:
a bundle runs where only onnxruntime, numpy and Pillow are installed. :func:`export` and predicting from a
run import torch when called.

Example:
    >>> from trainlab.deploy import export, predict
    >>> result = export("experiments/digits-cnn")  # doctest: +SKIP
    >>> predict(result.folder, ["my_digits/"], out="preds.csv").written  # doctest: +SKIP
    12
"""
from __future__ import annotations

from typing import Any

from .bundle import BundlePredictor, is_bundle
from .prediction import PredictSummary, predict, predictions
from .predictor import Predictor, load_predictor
from .preprocess import Preprocess

__all__ = ["BundlePredictor", "ExportResult", "PredictSummary", "Predictor", "Preprocess", "export", "is_bundle",
           "load_predictor", "predict", "predictions"]


def __getattr__(name: str) -> Any:  # PEP 562: the export side imports torch, only when asked for
    if name in ("export", "ExportResult"):
        from . import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
