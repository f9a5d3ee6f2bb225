"""What trainlab.inspect adds to a run: ``logging.probe`` and ``logging.diagnostics``, and their callbacks."""
from __future__ import annotations

from pydantic import Field

from ..config import register_field
from ..engine.factory import CALLBACKS
from ..runs import declare_outputs
from .config import DiagnosticsConfig, ProbeConfig

register_field("logging", "probe", ProbeConfig | None, Field(
    None, description="record chosen layers' outputs on fixed probe images during training (EXP/probes/)"))
register_field("logging", "diagnostics", DiagnosticsConfig | None, Field(
    None, description="per-layer weights, gradients, update ratios and activation statistics"))
declare_outputs("inspect", "probes", "model.svg", "model.png")  # probe recordings; summary --diagram


@CALLBACKS.register("probe")
def probe_callbacks(cfg, exp_dir) -> list:
    probe = cfg.logging.probe
    if probe is None or exp_dir is None:  # files only: rank 0, with a folder
        return []
    from .probes import ProbeRecorder

    return [ProbeRecorder(exp_dir, layers=probe.layers, images=probe.images, every=probe.every, split=probe.split,
                          max_mb=probe.max_mb, seed=cfg.train.seed)]


@CALLBACKS.register("diagnostics")
def diagnostics_callbacks(cfg, exp_dir) -> list:
    diag = cfg.logging.diagnostics
    if diag is None:
        return []
    from .diagnostics import LayerDiagnostics

    return [LayerDiagnostics(every=diag.every, images=diag.images, split=diag.split, seed=cfg.train.seed,
                             histograms=diag.histograms)]
