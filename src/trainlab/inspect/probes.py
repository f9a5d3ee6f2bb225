"""The probe recorder: the outputs of chosen layers on a fixed set of images, at init and every few epochs.

Files in ``EXP/probes/`` (written atomically by rank 0, ``torch.load(weights_only=True)``-loadable):

- ``probes.pt``: the probe images (as the model sees them), their split and indices, targets, class names,
  the normalization, and the recorded layers with their output shapes;
- ``epoch-0000.pt`` (init), ``epoch-0001.pt``, ...: ``{layer: float16 tensor (N, C, H, W)}``.

Example:
    >>> rec = read_probes("experiments/digits-cnn")  # doctest: +SKIP
    >>> rec.epochs, rec.maps("block2").shape  # doctest: +SKIP
    ([0, 1, 2], torch.Size([3, 8, 64, 4, 4]))
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..engine.callback import Callback
from ..engine.callbacks.checkpoint import Checkpoint
from ..errors import ConfigError, DataError, UnknownNameError
from ..files import atomic_write_bytes
from ..registry import close_matches
from ..viz.hooks import capture, eval_mode, get_layer
from .probe_set import feature_map_blocks, probe_batch, probe_indices

log = logging.getLogger(__name__)
PROBES_DIR = "probes"
META_FILE = "probes.pt"


def _save(path: Path, obj: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        raise DataError(f"probe record {str(path)!r} cannot be read ({type(e).__name__}: {e}); train again.") from None


def epoch_file(epoch: int) -> str:
    """``epoch-0003.pt``: the record of epoch 3 (0: the initialization)."""
    return f"epoch-{epoch:04d}.pt"


class ProbeRecorder(Callback):
    """Records ``layers``' outputs on ``images`` fixed images of ``split`` into ``exp_dir/probes/``.

    Records at fit start when nothing is trained yet (epoch 0, the initialization), then after every
    ``every``-th epoch and the last one. Values are float16 on the CPU; ``on_setup`` refuses a choice whose
    record would exceed ``max_mb``. Resume-safe: the probe indices and recorded epochs are in the checkpoint.

    Example:
        >>> from trainlab.config import parse_config
        >>> from trainlab.engine.factory import learner_from_config
        >>> cfg = parse_config({"data": {"name": "synthetic"}, "model": {"name": "cnn_tiny", "args": {"width": 4}},
        ...                     "logging": {"progress": "none", "tensorboard": False, "plot": False}})
        >>> import tempfile; exp = Path(tempfile.mkdtemp())
        >>> learner = learner_from_config(cfg, callbacks=[ProbeRecorder(exp, images=2)]).fit(1)
        >>> read_probes(exp).epochs
        [0, 1]
    """

    run_before = (Checkpoint,)  # a checkpoint lists the records written up to it

    def __init__(self, exp_dir: Path, *, layers: list[str] | None = None, images: int = 8, every: int = 1,
                 split: str = "valid", max_mb: float = 8.0, seed: int = 0) -> None:
        self.folder = Path(exp_dir) / PROBES_DIR
        self.layers, self.count, self.every, self.split = layers, images, every, split
        self.max_mb, self.seed = max_mb, seed
        self.indices: list[int] | None = None
        self.recorded: list[int] = []
        self.inputs: Tensor | None = None
        self.targets: Tensor | None = None

    def on_setup(self, learner) -> None:
        loader = self._loader = learner.data.split(self.split)
        if self.indices is None:
            self.indices = probe_indices(loader.num_samples, self.count, self.seed)
        self.inputs, self.targets = probe_batch(loader, self.indices)
        model = learner.model
        if self.layers is None:
            self.layers = feature_map_blocks(model, self.inputs)
            if not self.layers:
                raise ConfigError("logging.probe: the model has no top-level block with a (C, H, W) feature map; "
                                  "name the layers to record in logging.probe.layers.")
        for name in self.layers:
            get_layer(model, name)  # unknown names fail here, with the close matches
        shapes = {name: tuple(t.shape[1:]) for name, t in self._capture(model).items()}
        size = {name: len(self.indices) * 2 * _numel(s) for name, s in shapes.items()}
        if sum(size.values()) > self.max_mb * 2**20:
            listing = ", ".join(f"{n} {tuple(shapes[n])} {size[n] / 2**20:.1f} MB" for n in self.layers)
            raise ConfigError(f"logging.probe would write {sum(size.values()) / 2**20:.1f} MB per record ({listing}),"
                              f" more than logging.probe.max_mb={self.max_mb}. Record fewer layers or images, or"
                              " raise max_mb.")
        self.shapes = shapes

    def _capture(self, model) -> dict[str, Tensor]:
        with eval_mode(model):
            return capture(model, self.inputs, self.layers)

    def on_fit_start(self, learner) -> None:
        _save(self.folder / META_FILE, {
            "split": self.split, "indices": list(self.indices), "inputs": self.inputs.float().cpu(),
            "targets": self.targets.cpu() if self.targets is not None else None,
            "class_names": list(learner.data.class_names), "mean": list(learner.data.mean),
            "std": list(learner.data.std), "layers": list(self.layers),
            "shapes": {k: list(v) for k, v in self.shapes.items()}})
        if learner.loop.epoch == 0 and 0 not in self.recorded:
            self.record(learner, 0)

    def on_epoch_recorded(self, learner) -> None:
        epoch = learner.loop.epoch
        if epoch % self.every == 0 or epoch >= learner.epochs or learner.should_stop:
            self.record(learner, epoch)

    def record(self, learner, epoch: int) -> None:
        """Write the probe layers' outputs of the current model as the record of ``epoch``."""
        maps = {name: t.to(torch.float16).cpu() for name, t in self._capture(learner.model).items()}
        _save(self.folder / epoch_file(epoch), maps)
        self.recorded = sorted({*self.recorded, epoch})

    def state_dict(self) -> dict[str, Any]:
        return {"indices": list(self.indices or []), "recorded": list(self.recorded)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.recorded = list(state.get("recorded", []))
        if state.get("indices") and state["indices"] != self.indices:  # the split changed: keep the run's images
            log.warning("the probe images differ from the checkpoint's; recording the checkpoint's")
            self.indices = list(state["indices"])
            self.inputs, self.targets = probe_batch(self._loader, self.indices)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


@dataclass
class ProbeRecord:
    """What ``EXP/probes/`` holds: the probe images and, per recorded epoch, each layer's outputs."""

    folder: Path
    epochs: list[int]
    inputs: Tensor  # (N, C, H, W) as the model saw them (normalized)
    targets: Tensor | None
    class_names: list[str]
    mean: list[float]
    std: list[float]
    layers: list[str]
    split: str
    indices: list[int]

    def maps(self, layer: str) -> Tensor:
        """``layer``'s outputs at every recorded epoch: ``(epochs, N, C, H, W)``, float32.

        Raises :class:`UnknownNameError` (with the recorded layers) for a layer that was not recorded.
        """
        if layer not in self.layers:
            raise UnknownNameError(f"layer {layer!r} was not recorded.{close_matches(layer, self.layers)} Recorded: "
                                   f"{', '.join(self.layers)}. Set logging.probe.layers and train again.")
        return torch.stack([_load(self.folder / epoch_file(e))[layer].float() for e in self.epochs])


def read_probes(exp: str | Path) -> ProbeRecord:
    """Read the probe records of experiment folder ``exp`` (see the module docstring for the files)."""
    folder = Path(exp) / PROBES_DIR
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise DataError(f"{folder} holds no probe records; train with logging.probe set, e.g. "
                        "--set 'logging.probe={}' (see docs/inspect.md).")
    meta = _load(meta_path)
    epochs = sorted(int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(r"epoch-(\d+)\.pt", p.name)))
    if not epochs:
        raise DataError(f"{folder} holds no epoch records yet; train at least until fit starts.")
    return ProbeRecord(folder=folder, epochs=epochs, inputs=meta["inputs"], targets=meta.get("targets"),
                       class_names=list(meta["class_names"]), mean=list(meta["mean"]), std=list(meta["std"]),
                       layers=list(meta["layers"]), split=meta["split"], indices=list(meta["indices"]))
