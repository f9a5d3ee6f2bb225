"""Load pretrained weights from a file: a torchvision state dict or a trainlab checkpoint.

Nothing downloads: the user points at a file (e.g. torchvision's ``resnet18-f37072fd.pth`` saved
earlier). Head weights whose shapes differ (another class count) are skipped, which leaves the freshly
initialised head of the model in place: the usual transfer-learning recipe.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelError, listing
from ..files import load_torch_file
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
    obj = load_torch_file(path, what="pretrained weights file", error=ModelError)
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = f"a dict with keys {key_listing(obj)}" if isinstance(obj, Mapping) else type(obj).__name__
        raise ModelError(f"pretrained weights file {str(path)!r} holds {kind}, not a state dict; pass a torchvision "
                         "state dict or a trainlab checkpoint (weights under 'model').")
    state = dict(obj)
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def key_listing(mapping: Mapping) -> str:
    """A mapping's keys for a message: sorted, one line, cut with a count (never Python's list repr cut
    through a quote).

    Example:
        >>> key_listing({f"layer{i}.weight": 0 for i in range(30)})
        'layer0.weight, layer1.weight, layer10.weight, layer11.weight, layer12.weight, … (30 in all)'
    """
    return listing(sorted(" ".join(str(k).split())[:60] for k in mapping), limit=80) or "(none)"


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

    details = describe_mismatch(target, state, tolerate=lambda key: matches(key, head),
                                ignore=lambda key: key.split(".")[0] in _AUX_MODULES)
    if details:
        raise ModelError(
            f"pretrained weights file {str(path)!r} does not fit {type(model).__name__} ({details}). "
            "Build the architecture the weights came from (name, in_channels, small_stem)."
        )
    to_load = {k: v for k, v in state.items() if k in target and v.shape == target[k].shape}
    model.load_state_dict(to_load, strict=False)
    not_loaded = [k for k in target if matches(k, head) and k not in to_load]
    if not_loaded:
        log.info(
            "loaded %s; head %r replaced (kept freshly initialised: %s)", path, head, ", ".join(not_loaded)
        )
    else:
        log.info("loaded %s (all %d tensors)", path, len(to_load))
    return not_loaded


def describe_mismatch(target: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], *,
                      tolerate: Callable[[str], bool] = lambda key: False,
                      ignore: Callable[[str], bool] = lambda key: False, limit: int = 200) -> str:
    """How the weights ``state`` fail to fit a model whose state dict is ``target`` ("" when they fit).

    Keys for which ``tolerate`` is true may be missing or differ in shape (a replaced head); keys of
    ``state`` for which ``ignore`` is true may be absent from the model (auxiliary classifiers).

    Example:
        >>> describe_mismatch(nn.Linear(2, 3).state_dict(), nn.Linear(2, 4).state_dict())
        'shape mismatch: weight: file (4, 2) vs model (3, 2) (and 1 more)'
    """
    mismatched = [f"{key}: file {tuple(value.shape)} vs model {tuple(target[key].shape)}"
                  for key, value in state.items()
                  if key in target and value.shape != target[key].shape and not tolerate(key)]
    unexpected = [k for k in state if k not in target and not ignore(k)]
    missing = [k for k in target if k not in state and not tolerate(k) and not k.endswith("num_batches_tracked")]
    parts = [f"{label}: {mismatched[0]}{f' (and {len(mismatched) - 1} more)' if len(mismatched) > 1 else ''}"
             for label in ("shape mismatch",) if mismatched]
    parts += [f"{len(keys)} {label} ({keys[0]}{', …' if len(keys) > 1 else ''})"
              for label, keys in (("keys not in the model", unexpected), ("model keys missing from the file", missing))
              if keys]
    text = "; ".join(parts)
    return text if len(text) <= limit else text[:limit - 1] + "…"
