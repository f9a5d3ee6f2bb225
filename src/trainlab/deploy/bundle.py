"""Running an exported bundle with onnxruntime, numpy and Pillow: no torch.

A bundle is a folder (written by ``trainlab export``, see :mod:`.export`):

    config.json       task, class names, input size and channels, the graphs and their inputs/outputs,
                      the host decoding settings, versions and checksums
    preprocess.json   how an image file becomes an input (:class:`.preprocess.Preprocess`)
    model.onnx        the graph (attention OCR: encoder.onnx and decoder_step.onnx)
    parity.json       the export's check of onnxruntime against PyTorch on the run's validation samples
    README.md         a card: what it is, its test metrics, how to run it

Example:
    >>> predictor = BundlePredictor("experiments/digits-cnn/export")  # doctest: +SKIP
    >>> x, widths = predictor.preprocess.batch([predictor.preprocess.load("seven.png")])  # doctest: +SKIP
    >>> predictor.answers(x, widths)[0]["scores"].argmax()  # doctest: +SKIP
    7
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, echo
from . import host
from .predictor import Predictor
from .preprocess import Preprocess
from .records import KINDS

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "trainlab-bundle"
FIXED_FILES = ("config.json", "preprocess.json")


def is_bundle(folder: Path | str) -> bool:
    """Whether ``folder`` looks like an exported bundle (an .onnx file, or its config/preprocess files)
    rather than an experiment folder."""
    folder = Path(folder)
    return folder.is_dir() and (any(folder.glob("*.onnx")) or any((folder / f).is_file() for f in FIXED_FILES))


def _read_json(path: Path, folder: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"bundle {echo(str(folder), 120)} is missing {path.name}; export it again with "
                        "trainlab export EXP --out DIR --force.")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"bundle file {echo(str(path), 120)} cannot be read: {e}; export the bundle again.") from None
    if not isinstance(value, dict):
        raise DataError(f"bundle file {echo(str(path), 120)} is not a JSON object; export the bundle again.")
    return value


class BundlePredictor(Predictor):
    """A bundle's graphs in onnxruntime sessions (CPU) with its preprocessing and host decoding.

    ``threads``: onnxruntime's intra-op threads (None: its default, every core).
    """

    def __init__(self, folder: Path | str, *, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.config = _read_json(self.folder / "config.json", self.folder)
        if self.config.get("format") != BUNDLE_FORMAT:
            raise DataError(f"{self.folder / 'config.json'} is not a trainlab bundle's (format "
                            f"{echo(self.config.get('format'))}); export the model with trainlab export.")
        self.kind = self.config.get("task")
        if self.kind not in KINDS:
            raise DataError(f"bundle {self.folder}: task {echo(self.kind)} is unknown; allowed: {', '.join(KINDS)}.")
        self.class_names = [str(n) for n in self.config.get("label_names", [])]
        self.settings = dict(self.config.get("settings", {}))
        self.preprocess = Preprocess(_read_json(self.folder / "preprocess.json", self.folder))
        graphs = self.config.get("graphs") or {}
        missing = [g["file"] for g in graphs.values() if not (self.folder / g["file"]).is_file()]
        if not graphs or missing:
            raise DataError(f"bundle {echo(str(self.folder), 120)} is missing {', '.join(missing) or 'its graphs'}; "
                            "export it again with trainlab export EXP --out DIR --force.")
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("running a bundle needs onnxruntime: pip install 'trainlab[export]' "
                              "(or pip install onnxruntime).") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: shape-inference notes are not the user's business
        self.sessions, self.inputs = {}, {}
        for name, g in graphs.items():
            try:
                self.sessions[name] = ort.InferenceSession(str(self.folder / g["file"]), options,
                                                           providers=["CPUExecutionProvider"])
            except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types for a damaged file
                raise DataError(f"bundle graph {self.folder / g['file']} cannot be loaded: "
                                f"{str(e).splitlines()[0][:120]}; export the bundle again.") from None
            self.inputs[name] = [i.name for i in self.sessions[name].get_inputs()]
        parity = self.folder / "parity.json"
        passed = json.loads(parity.read_text()).get("passed") if parity.is_file() else None
        if passed is not True:
            log.warning("bundle %s %s", self.folder, "has no parity.json: it was not verified" if passed is None
                        else "failed its parity check at export (see parity.json): its answers may be wrong")

    def describe(self) -> str:
        return f"bundle {self.folder} (onnxruntime)"

    def run(self, graph: str, *arrays: np.ndarray) -> list[np.ndarray]:
        """The outputs of ``graph`` for inputs given in the graph's input order."""
        return self.sessions[graph].run(None, dict(zip(self.inputs[graph], arrays)))

    def answers(self, x: np.ndarray, widths: np.ndarray | None = None) -> list[dict[str, np.ndarray]]:
        if self.kind == "classification":
            return host.classification_answers(self.run("model", x)[0])
        if self.kind == "detection":
            return host.detection_answers(self.run("model", x)[0], x.shape[2:], self.settings)
        if self.kind == "ocr-ctc":
            return host.ctc_answers(self.run("model", x)[0], widths, self.settings)
        return host.attention_answers(lambda *a: self.run("encoder", *a), lambda *a: self.run("decoder_step", *a),
                                      x, widths, self.settings)
