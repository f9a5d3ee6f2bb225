"""Evaluating a checkpoint, and keeping its per-example predictions (for paired tests).

``metrics_<split>.json`` holds the metrics (with the confusion matrix); ``predictions_<split>.npz`` holds
per-example results in the split's fixed order (classification: ``pred``, ``target``; a sequence task its own,
e.g. ``edits``), plus ``loss``, so two models evaluated on the same split can be compared example by example.
"""
from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import parse_config
from ..engine import Learner
from ..engine.checkpoint import checkpoint_config, checkpoint_weights, load_checkpoint
from ..engine.factory import learner_from_config
from ..errors import ConfigError, DataError
from ..files import atomic_write_bytes, atomic_write_text, check_writable
from .folder import declare_outputs

declare_outputs("evaluate", "metrics_*.json", "predictions_*.npz", "predictions_*.png", "detections_*.json")
log = logging.getLogger("trainlab")


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    class_names: list[str]
    metrics_path: Path
    predictions_path: Path
    figures: list[Path] = field(default_factory=list)  # pictures the task draws (see evaluate_checkpoint)
    notes: dict[str, str] = field(default_factory=dict)  # how it was evaluated: {"weights": "ema", "tta": "flip"}


def checkpoint_path(exp: Path, which: str) -> Path:
    """``best`` / ``last`` in ``EXP/checkpoints/``, or a path."""
    if which in ("best", "last") and Path(exp).is_file():
        raise ConfigError(f"{exp} is a file; pass the experiment folder that holds it (e.g. {Path(exp).parent}).")
    if which in ("best", "last"):
        return Path(exp) / "checkpoints" / f"{which}.pt"
    return Path(which)


def model_for_folder(exp: Path, overrides: list[str] = ()) -> tuple[Any, Any, torch.nn.Module]:
    """(config, data, model) of the experiment folder ``exp`` as its params build them (no checkpoint), a
    relative ``model.pretrained`` (``init.pt``) read from ``exp``.

    Example:
        >>> cfg, data, model = model_for_folder(Path("experiments/digits-cnn"))  # doctest: +SKIP
        >>> data.input_shape  # doctest: +SKIP
        (1, 8, 8)
    """
    from ..config import load_config
    from ..engine.factory import data_and_task
    from ..models import model_from_config

    cfg = load_config(exp, list(overrides))
    data, _ = data_and_task(cfg, device=torch.device("cpu"))
    model = model_from_config(cfg, num_classes=data.num_classes, input_shape=data.input_shape, base_dir=exp)
    return cfg, data, model


def split_check(state: dict, data, split: str, source: str) -> str:
    """The fingerprint of ``split`` as built now; logs a warning when it differs from the one the checkpoint's
    run recorded (its files or its data settings changed since it trained)."""
    fingerprint = data.split(split).fingerprint
    saved = state.get("splits")
    if isinstance(saved, dict) and split in saved and saved[split] != fingerprint:
        log.warning("the %s split read now is not the one %s's run recorded (fingerprint %s, the run's %s): its "
                    "files or data settings changed since; its numbers describe other samples", split, source,
                    fingerprint, saved[split])
    return fingerprint


def learner_for_checkpoint(path: Path, overrides: list[str] = (), exp_dir: Path | None = None, *,
                           load_weights: bool = True, weights: str | None = None) -> tuple[Learner, dict]:
    """A Learner rebuilt from the config stored in checkpoint ``path``, holding its weights, to evaluate and
    predict (no optimizer nor training callbacks; those that change evaluation, such as test-time
    augmentation, as the config says; ``load_weights=False``: as the config initializes it, the checkpoint's
    state returned beside it).

    ``weights``: which weights the model gets: None, those the run validated with (its weight average when
    ``train.ema`` was on, else the trained ones); "raw", the trained ones; or the name the checkpoint gives
    its validated weights ("ema"). ``learner.eval_notes["weights"]`` says which.

    Example:
        >>> learner, state = learner_for_checkpoint(Path("experiments/digits-cnn/checkpoints/best.pt"))  # doctest: +SKIP
        >>> learner.evaluate("test")["accuracy"]  # doctest: +SKIP
        0.99
    """
    state = load_checkpoint(path)
    cfg = parse_config(checkpoint_config(state, path), [*overrides, "model.pretrained=null"], source=str(path))
    chosen, name = checkpoint_weights(state, weights, path)  # a wrong choice fails before anything is built
    learner = learner_from_config(cfg, exp_dir, training=False)  # weights come from the checkpoint
    if load_weights:
        learner.load_state_dict({**state, "model": chosen}, weights_only=True, source=str(path))
        learner.eval_notes = {"weights": name, **learner.eval_notes}
    return learner, state


@torch.no_grad()
def predictions(learner: Learner, split: str) -> dict[str, np.ndarray]:
    """Per-example results and ``loss`` of the Learner's evaluated model (:meth:`Learner.eval_module`, e.g.
    with test-time augmentation) on ``split`` (in loader order)."""
    loader = learner.data.split(split)
    module = learner.eval_module()
    learner.model.eval()
    module.eval()
    task = learner.task
    rows: dict[str, list[torch.Tensor]] = {}
    for x, y in loader.batches(0):  # evaluation loaders visit samples in index order
        with learner.autocast():
            out = task.forward(module, x, y)
            loss = task.loss(out, y)
        for k, v in {**task.predictions(out, y), "loss": loss.float()}.items():
            rows.setdefault(k, []).append(v.detach().cpu())
    return {k: torch.cat(v).numpy() for k, v in rows.items()}


def evaluate_checkpoint(path: Path, out_dir: Path, *, split: str = "test", overrides: list[str] = (),
                        weights: str | None = None) -> Evaluation:
    """Evaluate the checkpoint at ``path`` on ``split``; write metrics and predictions into ``out_dir``.

    ``weights``: see :func:`learner_for_checkpoint` (default: those the run validated with). The metrics file
    records which (``"weights"``) and anything else that changed the evaluation (``"tta"``).

    The task's :meth:`~trainlab.engine.Task.write_figures` draws its pictures there too (detection:
    ``predictions_<split>.png``).

    Example:
        >>> ev = evaluate_checkpoint(Path("experiments/digits-cnn/checkpoints/best.pt"),
        ...                          Path("experiments/digits-cnn"))  # doctest: +SKIP
        >>> ev.metrics["accuracy"]  # doctest: +SKIP
        0.99
    """
    check_writable(Path(out_dir))  # a read-only folder fails before the evaluation, not after it
    learner, state = learner_for_checkpoint(Path(path), list(overrides), weights=weights)
    metrics = learner.evaluate(split)
    preds = predictions(learner, split)
    out_dir = Path(out_dir)
    metrics_path = out_dir / f"metrics_{split}.json"
    loop = state.get("loop")  # format 1 kept the epoch at the top level; a damaged file may hold anything
    epoch = loop.get("epoch") if isinstance(loop, dict) else state.get("epoch")
    epoch = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None
    fingerprint = split_check(state, learner.data, split, str(path))
    atomic_write_text(metrics_path, json.dumps({"checkpoint": str(path), "epoch": epoch, "split": split,
                                                "fingerprint": fingerprint, **learner.eval_notes, **metrics},
                                               indent=1))
    buf = io.BytesIO()
    np.savez(buf, **preds)
    predictions_path = out_dir / f"predictions_{split}.npz"
    atomic_write_bytes(predictions_path, buf.getvalue())
    # e.g. detection: predictions_<split>.png with the boxes drawn
    figures = learner.task.write_figures(learner.model, learner.data.split(split), list(learner.data.class_names),
                                         out_dir, split)
    return Evaluation(metrics, list(learner.data.class_names), metrics_path, predictions_path, figures,
                      dict(learner.eval_notes))


def read_predictions(exp: Path, split: str = "test") -> dict[str, np.ndarray]:
    """Load ``EXP/predictions_<split>.npz`` (written by ``trainlab evaluate``)."""
    path = Path(exp) / f"predictions_{split}.npz"
    if not path.is_file():
        raise DataError(f"{path} does not exist; run `trainlab evaluate {exp} --split {split}` first.")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}
