"""Checkpoint files: the bytes of a Learner's state, written atomically, read back and checked.

A checkpoint is written with :func:`trainlab.files.atomic_write_bytes` (a crash at any moment leaves either
the old or the new complete file) and holds only tensors and plain Python data, so
``torch.load(weights_only=True)`` reads it. The callback that decides when to write one is
:class:`trainlab.engine.callbacks.checkpoint.Checkpoint`.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError, echo
from ..files import atomic_write_bytes, load_torch_file
from ..models.weights import key_listing

CHECKPOINT_HINT = "Free some space (or make the folder writable), then continue with trainlab train EXP --resume."


def serialize_checkpoint(state: dict[str, Any]) -> bytes:
    """The bytes ``torch.save`` writes for ``state``."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save_checkpoint(state: dict[str, Any], path: Path, *more: Path) -> None:
    """Serialize ``state`` once with torch.save and write it atomically to ``path`` and each of ``more``."""
    data = serialize_checkpoint(state)
    for target in (path, *more):
        atomic_write_bytes(target, data, hint=CHECKPOINT_HINT)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a missing, damaged or unsafe file, or one that is not a
    dict holding a state dict under ``"model"``, raises :class:`CheckpointError`.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "last.pt"; torch.save(torch.zeros(2), p)
        >>> load_checkpoint(p)
        Traceback (most recent call last):
        ...
        trainlab.errors.CheckpointError: ... is not a trainlab checkpoint: it holds a Tensor, not a dict with the model's weights under 'model'. ...
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist; train first (trainlab train EXP).")
    state = load_torch_file(path, what="checkpoint", error=CheckpointError, map_location=map_location)
    if not isinstance(state, dict) or "model" not in state:
        held = f"a dict with keys {key_listing(state)}" if isinstance(state, dict) else \
            f"a {type(state).__name__}"
        raise CheckpointError(f"{path} is not a trainlab checkpoint: it holds {held}, not a dict with the "
                              "model's weights under 'model'. Pass a checkpoint written by trainlab train.")
    weights = state["model"]
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in weights.items()):
        raise CheckpointError(f"{path} is not a trainlab checkpoint: its 'model' entry is "
                              f"{echo(weights, 60) if not isinstance(weights, dict) else 'a dict of more than tensors'}"
                              ", not a state dict of tensors. Pass a checkpoint written by trainlab train.")
    return state


def checkpoint_config(state: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """The params a checkpoint was trained with (its ``config`` entry), or :class:`CheckpointError`.

    Example:
        >>> checkpoint_config({"model": {}, "config": "hello"}, "w.pt")
        Traceback (most recent call last):
        ...
        trainlab.errors.CheckpointError: w.pt holds no params (its 'config' is 'hello'); it was not written by trainlab train. Rebuild the model from a params file and load the weights with model.pretrained.
    """
    config = state.get("config")
    if not isinstance(config, dict) or not config:
        what = "missing" if "config" not in state else echo(config, 40)
        raise CheckpointError(f"{path} holds no params (its 'config' is {what}); it was not written by trainlab "
                              "train. Rebuild the model from a params file and load the weights with "
                              "model.pretrained.")
    return config


def checkpoint_weights(state: dict[str, Any], which: str | None = None,
                       path: Path | str = "the checkpoint") -> tuple[dict[str, torch.Tensor], str]:
    """(weights, name) of a checkpoint: ``which`` is "raw" (the trained weights, its ``model`` entry), the
    name of the weights its run validated with when a callback kept them apart (``eval_weights``, e.g. "ema":
    the callback's state holds them under "weights"), or None for the ones the run validated with.

    Example:
        >>> w = {"w": torch.zeros(1)}
        >>> checkpoint_weights({"model": w, "eval_weights": "ema", "callbacks": {"ema": {"weights": {"w": torch.ones(1)}}}})
        ({'w': tensor([1.])}, 'ema')
        >>> checkpoint_weights({"model": w}, "ema", "w.pt")
        Traceback (most recent call last):
        ...
        trainlab.errors.ConfigError: w.pt holds no 'ema' weights; it holds only the raw ones (train with train.ema to keep an average).
    """
    kept = state.get("eval_weights")
    kept = kept if isinstance(kept, str) and kept != "raw" else None
    if which is None:
        which = kept or "raw"
    if which == "raw":
        return state["model"], "raw"
    if which != kept:
        hint = f"choose {kept} or raw" if kept else "it holds only the raw ones (train with train.ema to keep an average)"
        raise ConfigError(f"{path} holds no {echo(which, 30)} weights; {hint}.")
    entry = (state.get("callbacks") or {}).get(kept)
    weights = entry.get("weights") if isinstance(entry, dict) else None
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in weights.items()):
        raise CheckpointError(f"{path} says the run validated with its {kept!r} weights but holds no state dict of "
                              f"them (found {echo(weights, 40)}); pass --weights raw.")
    return weights, kept
