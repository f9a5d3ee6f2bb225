"""Load pretrained weights from a file: a torchvision state dict or a trainlab checkpoint.

Nothing downloads: the user points at a file (e.g. torchvision's ``resnet18-f37072fd.pth`` saved
earlier). Head weights whose shapes differ (another class count) are skipped, which leaves the freshly
initialised head of the model in place: the usual transfer-learning recipe.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelError
from .heads import head_name, matches

log = logging.getLogger(__name__)

# Prefixes that torch.nn.DataParallel / DistributedDataParallel and torch.compile add to state-dict keys.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Auxiliary classifiers (Inception-v3, GoogLeNet) that trainlab builds without by default.
_AUX_MODULES = ("AuxLogits", "aux1", "aux2")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``: a plain state dict, or a checkpoint dict holding one under ``"model"``.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "w.pt")
        >>> torch.save({"model": nn.Linear(2, 3).state_dict()}, f)
        >>> sorted(read_state_dict(f))
        ['bias', 'weight']
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"pretrained weights file {str(path)!r} does not exist; check the path.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files (UnpicklingError, RuntimeError, ...)
        raise ModelError(
            f"cannot read pretrained weights file {str(path)!r}: {type(err).__name__}: {err}. "
            "It must be a state dict saved with torch.save (loadable with weights_only=True)."
        ) from err
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, Mapping) else type(obj).__name__
        raise ModelError(
            f"pretrained weights file {str(path)!r} holds {kind}, not a state dict. Expected a "
            "torchvision state dict or a trainlab checkpoint with the state dict under 'model'."
        )
    state = dict(obj)
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _align_dropout_keys(state: dict[str, torch.Tensor], model_keys: set[str], head: str) -> dict[str, torch.Tensor]:
    """Rename head keys across the ``Sequential(Dropout, Linear)`` wrapper that ``dropout > 0`` adds.

    torchvision's ``fc.weight`` becomes ``fc.1.weight`` in a model built with dropout, and back.
    """
    aligned: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in model_keys and matches(key, head):
            parent, _, leaf = key.rpartition(".")
            wrapped = f"{parent}.1.{leaf}"
            unwrapped = f"{parent[:-2]}.{leaf}" if parent.endswith(".1") else None
            if wrapped in model_keys and wrapped not in state:
                key = wrapped
            elif unwrapped in model_keys and unwrapped not in state:
                key = unwrapped
        aligned[key] = value
    return aligned


def load_pretrained(model: nn.Module, path: str | Path) -> list[str]:
    """Load the weights in ``path`` into ``model``; return the head keys that were not loaded.

    Head weights whose shape differs from the model's (another number of classes) or that the file lacks
    keep the model's fresh initialisation. Any other mismatch (a missing, unexpected or differently
    shaped key outside the head), a missing file or a corrupt file raises ``ModelError`` naming the file.

    Args:
        model: the model to fill, changed in place (e.g. from ``build_model``).
        path: a ``torch.save``-d state dict (torchvision's format) or a trainlab checkpoint, a dict with
            the state dict under ``"model"``. Loaded with ``weights_only=True``.

    Returns:
        The state-dict keys of the head that kept their initial values (empty when everything loaded).

    Example:
        >>> import tempfile, os
        >>> from trainlab.models import build_model
        >>> f = os.path.join(tempfile.mkdtemp(), "w.pt")
        >>> src = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
        >>> torch.save({"model": src.state_dict()}, f)
        >>> dst = build_model("cnn_tiny", num_classes=3, in_channels=1, input_size=(8, 8))
        >>> load_pretrained(dst, f)
        ['head.weight', 'head.bias']
    """
    state = read_state_dict(path)
    head = head_name(model)
    target = model.state_dict()
    state = _align_dropout_keys(state, set(target), head)

    to_load: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    for key, value in state.items():
        if key not in target:
            continue
        if value.shape != target[key].shape:
            if not matches(key, head):
                mismatched.append(f"{key}: file {tuple(value.shape)} vs model {tuple(target[key].shape)}")
            continue
        to_load[key] = value
    unexpected = [k for k in state if k not in target and k.split(".")[0] not in _AUX_MODULES]
    missing = [k for k in target if k not in state and not matches(k, head) and not k.endswith("num_batches_tracked")]
    if mismatched or unexpected or missing:
        details = "; ".join(
            part for part in (
                f"shape mismatch outside the head: {', '.join(mismatched[:5])}" if mismatched else "",
                f"keys not in the model: {', '.join(unexpected[:5])}" if unexpected else "",
                f"model keys missing from the file: {', '.join(missing[:5])}" if missing else "",
            ) if part
        )
        raise ModelError(
            f"pretrained weights file {str(path)!r} does not fit {type(model).__name__} ({details}). "
            "Build the same architecture (name, in_channels, small_stem) the weights were saved from."
        )
    model.load_state_dict(to_load, strict=False)
    not_loaded = [k for k in target if matches(k, head) and k not in to_load]
    if not_loaded:
        log.info(
            "loaded %s; head %r replaced (kept freshly initialised: %s)", path, head, ", ".join(not_loaded)
        )
    else:
        log.info("loaded %s (all %d tensors)", path, len(to_load))
    return not_loaded
