"""A transformed copy of an experiment: a new folder whose model is the source's trained model after
function-preserving transforms (``model.morph`` steps + ``init.pt``), checked at birth.

Shared by ``trainlab morph`` (one transform, by hand) and ``trainlab evolve`` (children of a population).

Example:
    >>> import torch
    >>> from trainlab.config import parse_config
    >>> from trainlab.models import build_model
    >>> cfg = parse_config({"model": {"name": "cnn_tiny", "args": {"width": 8}}})
    >>> net = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8), width=8)
    >>> step = MorphStep(op="deepen", where=["block2"])
    >>> birth = write_transformed_experiment(cfg, net, [step], "/tmp/child", input_shape=(1, 8, 8),
    ...                                      check_input=torch.randn(4, 1, 8, 8), tolerance=1e-4)  # doctest: +SKIP
    >>> birth.n_new > birth.n_old, birth.delta < 1e-4  # doctest: +SKIP
    (True, True)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..config import Config, config_to_dict, parse_config
from ..engine.checkpoint import save_checkpoint
from ..errors import ModelError
from ..files import atomic_write_text
from ..models import model_from_config
from .config import MorphStep
from .steps import apply_morph_steps


@dataclass(frozen=True)
class Birth:
    """What :func:`write_transformed_experiment` made."""

    out: Path
    model: nn.Module  # the transformed model (eval mode), weights as saved in init.pt
    params: dict[str, Any]  # the new params.json
    n_old: int  # trainable parameters before
    n_new: int  # and after
    delta: float  # max |new(x) - old(x)| on the check batch
    lr_scale: float  # the factor applied to every learning rate


def count_parameters(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def write_transformed_experiment(
    cfg: Config, model: nn.Module, steps: list[MorphStep], out: str | Path, *, input_shape: tuple[int, ...],
    check_input: Tensor, lr_rule: str = "param_ratio", lr_factor: float = 1.0, scale_weight_decay: bool = False,
    tolerance: float | None = None, drop_sections: tuple[str, ...] = (), source: str = "",
) -> Birth:
    """Transform ``model`` (the trained model of ``cfg``) and write a new experiment folder ``out``.

    The new params are ``cfg`` with ``steps`` appended to ``model.morph`` and ``model.pretrained: init.pt``;
    with ``lr_rule="param_ratio"`` every lr is multiplied by old/new parameter count (Painter 2019; the
    2018 neuroevolution code scaled weight decay by the same ratio: ``scale_weight_decay``), then by
    ``lr_factor``. ``steps=[]`` makes a copy (e.g. for a learning-rate mutation).

    Args:
        cfg: the source experiment's config (its ``model.morph`` describes ``model``).
        model: the source's trained model; not modified.
        steps: transforms to apply, in order.
        out: the new folder (created; an existing params file there is overwritten).
        input_shape: (C, H, W) of one sample.
        check_input: a batch the outputs are compared on (eval mode).
        tolerance: when set, a max |Δ output| above it raises :class:`ModelError` (a transform that
            did not preserve the function); None only reports ``delta``.
        drop_sections: top-level params sections to leave out of the new params (e.g. ``("evolve",)``).
        source: where the weights came from, recorded in init.pt.

    Returns:
        A :class:`Birth`.
    """
    out = Path(out)
    old = model.eval()
    new = apply_morph_steps(old, steps, input_shape).eval()
    with torch.no_grad():
        delta = float((new(check_input) - old(check_input)).abs().max())  # (B, classes)
    if tolerance is not None and not delta <= tolerance:
        raise ModelError(f"the transform {[s.model_dump(exclude_defaults=True) for s in steps]} changed the outputs "
                         f"by {delta:.3g} > tolerance {tolerance:g} on a validation batch; it is not function "
                         "preserving for this model. Use method r2r, or another mutation.")
    n_old, n_new = count_parameters(old), count_parameters(new)
    ratio = n_old / n_new if lr_rule == "param_ratio" and n_new else 1.0
    new_cfg = config_to_dict(cfg)
    new_cfg["model"]["morph"] = [*new_cfg["model"]["morph"], *(s.model_dump(mode="json") for s in steps)]
    new_cfg["model"]["pretrained"] = "init.pt"
    scaled = [lr * ratio * lr_factor for lr in cfg.optim.lrs]
    new_cfg["optim"]["lr"] = scaled if isinstance(cfg.optim.lr, list) else scaled[0]
    if scale_weight_decay:
        new_cfg["optim"]["weight_decay"] = cfg.optim.weight_decay * ratio
    for name in drop_sections:
        new_cfg[name] = None
    checked = parse_config(new_cfg, source=str(out))
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"model": new.state_dict(), "source": source}, out / "init.pt")
    rebuilt = model_from_config(checked, num_classes=_num_classes(new, check_input),
                                input_shape=input_shape, base_dir=out).eval()
    with torch.no_grad():  # the new folder must rebuild exactly this model
        if not torch.equal(rebuilt(check_input), new(check_input)):
            raise ModelError(f"rebuilding the transformed model from {out}/params.json did not give the same "
                             "outputs; this is a bug in trainlab.morph (please report it).")
    params = {k: v for k, v in new_cfg.items() if v is not None}
    atomic_write_text(out / "params.json", json.dumps(params, indent=2))
    return Birth(out=out, model=new, params=params, n_old=n_old, n_new=n_new, delta=delta,
                 lr_scale=ratio * lr_factor)


def _num_classes(model: nn.Module, x: Tensor) -> int:
    with torch.no_grad():
        return int(model(x[:1]).shape[1])
