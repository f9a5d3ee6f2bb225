"""``trainlab export``: a run's checkpoint as a verified, self-describing ONNX bundle (see :mod:`.bundle`).

The Task says what goes into the graphs (:meth:`trainlab.engine.Task.export_graphs`): classifier logits, the
detector's head outputs, CTC per-frame log-probabilities, or an attention model's encoder and one decoder
step; decoding, NMS and the attention loop run on the host in numpy (:mod:`.host`). Each graph is exported
with ``torch.onnx.export(dynamo=True)`` (torch.export), batch dimension dynamic and image height/width
where the model allows; the legacy TorchScript exporter is used for recurrent models (the dynamo exporter
of torch 2.14 freezes their time axis), and where dynamo fails or freezes an axis that must stay dynamic;
``config.json`` says which was used. Metadata values are JSON strings.

Before the export reports success, :func:`.verify.check_parity` runs onnxruntime against PyTorch on the run's
validation samples; the bundle is written to a temporary folder and moved into place complete.

Example:
    >>> result = export("experiments/digits-cnn")  # doctest: +SKIP
    >>> result.folder, result.exporters, result.parity["passed"]  # doctest: +SKIP
    (PosixPath('experiments/digits-cnn/export'), {'model': 'dynamo'}, True)
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config import find_params_file
from ..files import atomic_write_text
from ..engine.task import ExportGraph
from ..errors import ConfigError, StorageError, TrainlabError
from ..files import file_sha256, writing
from .bundle import BUNDLE_FORMAT, BundlePredictor, is_bundle
from .run import load_run
from .verify import check_parity

log = logging.getLogger(__name__)

EXPORTERS = ("auto", "dynamo", "legacy")
OPSET = 18
SHOWN_METRICS = ("accuracy", "f1", "top5", "cer", "wer", "seq_accuracy", "map50", "map")


class ExportError(TrainlabError):
    """A model cannot be exported, or its export failed the parity check."""


@dataclass
class ExportResult:
    """Where the bundle went, which exporter made each graph, and the parity report (None: not verified)."""

    folder: Path
    exporters: dict[str, str]
    parity: dict[str, Any] | None

    def parity_line(self) -> str:
        """One line: what the parity check found."""
        if self.parity is None:
            return "parity: not verified (--no-verify)"
        p = self.parity
        worst = max((o.get("max_abs_diff", 0.0) for run in p["passes"] for o in run["outputs"].values()), default=0.0)
        sizes = " and ".join(str(run["batch_size"]) for run in p["passes"])
        return (f"parity: passed on {p['samples']} validation samples at batch sizes {sizes}: max abs diff "
                f"{worst:.2g}, answers agree {p['answers']['agreement']:.2%}")


def _dynamic_shapes(g: ExportGraph) -> tuple[dict[int, Any], ...]:
    from torch.export import Dim

    dims: dict[tuple[str, int], Any] = {}
    shapes = []
    for name in g.input_names:
        axes = {}
        for axis, (dim, multiple) in g.dynamic.get(name, {}).items():
            if (dim, multiple) not in dims:
                base = Dim(dim if multiple == 1 else f"{dim}_div{multiple}", min=1, max=1 << 16)
                dims[(dim, multiple)] = base * multiple if multiple > 1 else base
            axes[axis] = dims[(dim, multiple)]
        shapes.append(axes)
    return tuple(shapes)


def _frozen_axes(path: Path, g: ExportGraph) -> list[str]:
    """Output axes declared dynamic that the exported graph fixed to a number."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    frozen = []
    for value in model.graph.output:
        for axis, (dim, _) in g.dynamic.get(value.name, {}).items():
            dims = value.type.tensor_type.shape.dim
            if axis < len(dims) and dims[axis].HasField("dim_value"):
                frozen.append(f"{value.name}[{axis}] ({dim})")
    return frozen


def _export_dynamo(g: ExportGraph, path: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(g.module, g.inputs, dynamo=True, dynamic_shapes=_dynamic_shapes(g),
                                    input_names=g.input_names, output_names=g.output_names, opset_version=OPSET,
                                    external_data=False, verbose=False)
        program.save(str(path))


def _export_legacy(g: ExportGraph, path: Path) -> None:
    axes = {name: {axis: dim for axis, (dim, _) in a.items()} for name, a in g.dynamic.items()}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(g.module, g.inputs, str(path), dynamo=False, input_names=g.input_names,
                          output_names=g.output_names, dynamic_axes=axes, opset_version=17)


def export_graph(g: ExportGraph, path: Path, exporter: str = "auto") -> str:
    """Export one graph to ``path``; returns which exporter made it and why (e.g. ``"legacy (recurrent
    layers: ...)"``)."""
    if exporter not in EXPORTERS:
        raise ConfigError(f"--exporter {exporter!r} is unknown; allowed: {', '.join(EXPORTERS)}.")
    # a wrapper made for the graph starts in training mode, and the exporters restore the mode they found
    # recursively: the model itself would be left training (BatchNorm on batch statistics)
    g.module.eval()
    reason = ""
    if exporter == "legacy":
        reason = "asked for"
    elif exporter == "auto" and g.recurrent:
        reason = "recurrent layers, whose axes the dynamo exporter of torch 2.14 can freeze"
    else:
        try:
            _export_dynamo(g, path)
            frozen = _frozen_axes(path, g)
            if not frozen:
                return "dynamo"
            if exporter == "dynamo":
                raise ExportError(f"the dynamo exporter fixed the dynamic axes {', '.join(frozen)} of {g.name}; "
                                  "use --exporter auto or legacy.")
            reason = f"dynamo fixed the axes {', '.join(frozen)}"
        except TrainlabError:
            raise
        except Exception as e:  # the exporter raises many types; the legacy one may still succeed
            if exporter == "dynamo":
                raise ExportError(f"the dynamo exporter cannot export {g.name}: {type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:150] if str(e) else ''}; try --exporter legacy.") from None
            reason = f"dynamo failed: {type(e).__name__}"
        log.info("%s: %s; using the legacy exporter", g.name, reason)
    try:
        _export_legacy(g, path)
    except Exception as e:
        raise ExportError(f"{g.name} cannot be exported to ONNX ({reason}; legacy exporter: {type(e).__name__}: "
                          f"{str(e).splitlines()[0][:150] if str(e) else ''}).") from None
    return f"legacy ({reason})"


def _add_metadata(path: Path, metadata: dict[str, Any]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, str(path))


def _target(exp: Path, out: Path | None, force: bool) -> Path:
    out = Path(out) if out is not None else exp / "export"
    if out.exists() and not out.is_dir():
        raise StorageError(f"--out {out} is a file; give a folder for the bundle.")
    here = out.resolve()
    if here == exp.resolve() or here in exp.resolve().parents:
        raise ConfigError(f"--out {out} would replace the experiment folder {exp}; choose a folder inside or "
                          "beside it (default: EXP/export).")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ConfigError(f"{out} exists already; pass --force to replace it, or choose another --out.")
        if not is_bundle(out):
            raise ConfigError(f"{out} holds files that are not a trainlab bundle; --force only replaces a bundle. "
                              "Choose another --out.")
    return out


def _card(config: dict[str, Any], exp: Path, metrics: dict[str, Any] | None, parity: dict[str, Any] | None) -> str:
    names = config["label_names"]
    lines = [f"# {config['architecture']} ({config['task']}) — a trainlab bundle", "",
             f"Exported from `{exp}` (checkpoint `{Path(config['checkpoint']['file']).name}`, epoch "
             f"{config['checkpoint']['epoch']}) by trainlab {__version__} with torch {torch.__version__}.", "",
             f"- task: {config['task']}; input: {config['input_size']} (C, H, W), preprocessing in `preprocess.json`",
             f"- classes ({len(names)}): {', '.join(map(str, names[:20]))}{' …' if len(names) > 20 else ''}",
             "- graphs: " + ", ".join(f"`{g['file']}` ({g['exporter'].split(' ')[0]})" for g in config["graphs"].values())]
    if metrics:
        shown = [f"{k} {metrics[k]:.4f}" for k in SHOWN_METRICS if isinstance(metrics.get(k), int | float)]
        lines.append(f"- test metrics (`metrics_test.json`): {', '.join(shown) or 'none recorded'}")
    if parity is not None:
        verdict = "passed" if parity["passed"] else "FAILED: " + "; ".join(parity["failed"])
        lines.append(f"- parity (onnxruntime vs PyTorch, {parity['samples']} validation samples): {verdict}")
    lines += ["", "## Run it", "", "With trainlab (no torch needed: `pip install onnxruntime numpy pillow`, then trainlab "
              "with `--no-deps`):", "", "```bash", "trainlab predict . image.png --format jsonl", "```", "",
              "With onnxruntime alone: read the image as `preprocess.json` says (resize, channels, `normalize` with "
              "its mean and std, layout NCHW float32), then", "", "```python", "import onnxruntime as ort",
              f"session = ort.InferenceSession(\"{next(iter(config['graphs'].values()))['file']}\")",
              "outputs = session.run(None, {session.get_inputs()[0].name: x})", "```", "",
              "The outputs are decoded on the host (`settings` in `config.json`); trainlab's numpy code for it is "
              "`trainlab/deploy/host.py`.", ""]
    return "\n".join(lines)


def export(exp: Path | str, *, checkpoint: str = "best", out: Path | str | None = None, force: bool = False,
           exporter: str = "auto", verify_samples: int | None = 256, overrides: list[str] = ()) -> ExportResult:
    """Export ``exp``'s checkpoint (``best``, ``last`` or a path) to the bundle folder ``out`` (default
    ``EXP/export``) and verify it on up to ``verify_samples`` validation samples (0: all; None: no check).

    Raises :class:`ExportError` when a graph cannot be exported or the parity check fails (the failed bundle
    is kept, its ``parity.json`` saying what differs); ``out`` existing is refused unless ``force``.

    Example:
        >>> export("experiments/digits-cnn", out="bundle", force=True).exporters  # doctest: +SKIP
        {'model': 'dynamo'}
    """
    exp = Path(exp)
    if exporter not in EXPORTERS:
        raise ConfigError(f"--exporter {exporter!r} is unknown; allowed: {', '.join(EXPORTERS)}.")
    if verify_samples is not None and verify_samples < 0:
        raise ConfigError(f"--verify-samples must be >= 0 (0: all), got {verify_samples}.")
    out = _target(exp, Path(out) if out is not None else None, force)
    learner, state, ckpt = load_run(exp, checkpoint, overrides)
    task, data = learner.task, learner.data
    model = learner.model.cpu().float().eval()
    loader = data.valid
    example = loader.subset(torch.arange(min(loader.num_samples, 4)), train=False)
    x, y = next(example.batches(0))
    widths = task.batch_widths(y)
    x, widths = x.cpu().float(), widths.cpu() if widths is not None else None
    if len(x) == 1:  # torch.export specialises a batch of 1
        x, widths = x.repeat(2, 1, 1, 1), widths.repeat(2) if widths is not None else None
    graphs = task.export_graphs(model, x, widths)

    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    with writing(tmp, doing="create"):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    try:
        exporters = {g.name: export_graph(g, tmp / f"{g.name}.onnx", exporter) for g in graphs}
        preprocess = task.preprocessing(data)
        params = exp / "params.resolved.json"
        params = params if params.is_file() else find_params_file(exp)
        loop = state.get("loop") if isinstance(state.get("loop"), dict) else {}
        config = {
            "format": BUNDLE_FORMAT, "format_version": 1, "task": task.kind,
            "architecture": learner.config["model"]["name"], "model_args": learner.config["model"].get("args", {}),
            "dataset": learner.config["data"]["name"], "num_classes": len(data.class_names),
            "label_names": list(data.class_names), "id2label": {str(i): n for i, n in enumerate(data.class_names)},
            "input_size": [int(v) for v in data.input_shape], "num_channels": int(data.input_shape[0]),
            "mean": preprocess["mean"], "std": preprocess["std"], "interpolation": "bilinear",
            "graphs": {g.name: {"file": f"{g.name}.onnx", "inputs": g.input_names, "outputs": g.output_names,
                                "dynamic_axes": {k: {str(a): d for a, (d, _) in v.items()} for k, v in g.dynamic.items()},
                                "exporter": exporters[g.name]} for g in graphs},
            "settings": task.bundle_settings(model),
            "versions": {"trainlab": __version__, "torch": str(torch.__version__)},
            "checkpoint": {"file": str(ckpt), "sha256": file_sha256(ckpt), "epoch": loop.get("epoch")},
            "params": {"file": str(params), "sha256": file_sha256(params)},
        }
        metadata = {"task": task.kind, "class_names": config["label_names"], "input_layout": "NCHW",
                    "input_size": config["input_size"], "preprocess": preprocess, "settings": config["settings"],
                    "trainlab_version": __version__, "torch_version": str(torch.__version__),
                    "checkpoint_sha256": config["checkpoint"]["sha256"], "params_sha256": config["params"]["sha256"]}
        for g in graphs:
            _add_metadata(tmp / f"{g.name}.onnx", {**metadata, "graph": g.name})
        atomic_write_text(tmp / "config.json", json.dumps(config, indent=1))
        atomic_write_text(tmp / "preprocess.json", json.dumps(preprocess, indent=1))
        parity = None
        if verify_samples is not None:
            bundle = _quiet_bundle(tmp)
            parity = check_parity(task, model, loader, bundle, samples=verify_samples or None,
                                  batch_sizes=(1, max(2, min(32, loader.batch_size))))
            parity = {"split": "valid", **parity}
        atomic_write_text(tmp / "parity.json", json.dumps(parity or {"passed": None, "verified": False}, indent=1))
        metrics_file = exp / "metrics_test.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
        atomic_write_text(tmp / "README.md", _card(config, exp, metrics, parity))
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = ExportResult(out, exporters, parity)
    if parity is not None and not parity["passed"]:
        failed = parity["failed"]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise ExportError(f"the bundle in {out} failed its parity check: {failed[0]}{more}; see its parity.json. "
                          "Try --exporter legacy, or report the model.")
    return result


def _quiet_bundle(folder: Path) -> BundlePredictor:
    """The bundle being verified (its parity.json does not exist yet: no warning about it)."""
    logger = logging.getLogger(BundlePredictor.__module__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return BundlePredictor(folder)
    finally:
        logger.setLevel(level)


def _move_into_place(tmp: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    with writing(out, doing="move the bundle into"):
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
