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
from ..lazy import lazy_exports

# imported on first use: `trainlab --help` lists the deploy verbs without numpy or onnxruntime, and the export
# side (torch) loads only when asked for
lazy_exports(__name__, {
    ".bundle": ["BundlePredictor", "is_bundle"],
    ".exporter": ["ExportResult", "export"],
    ".prediction": ["PredictSummary", "load_predictor", "predict", "predictions"],
    ".predictor": ["Predictor"],
    ".preprocess": ["Preprocess"],
})
