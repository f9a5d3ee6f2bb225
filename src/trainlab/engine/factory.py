"""Config → Learner: the one adapter that turns a validated Config into library calls."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ..config import Config, config_to_dict
from ..data import DATASETS, data_from_config
from ..errors import ConfigError, ModelError, UnknownNameError
from ..registry import close_matches
from .callback import Callback
from .checkpoint import seed_everything
from .checkpointing import Checkpoint
from .distributed import init_distributed
from .early_stopping import EarlyStopping
from .flops import FlopsCounter
from .learner import Learner
from .optim import build_optimizer, build_schedule
from .reporting import HistoryWriter, LossWatch, PlotHistory, Progress, TensorBoard
from .schedule import GradClip, LRSchedule
from .task import TASK_DATASETS, ClassificationTask

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {name!r} but no CUDA device is available; use 'auto' or 'cpu'.")
    return device


def apply_morph_steps(model: torch.nn.Module, steps, input_shape: tuple[int, ...]) -> torch.nn.Module:
    """Re-apply ``model.morph`` transforms; the shapes are deterministic, the new values get overwritten
    by the weights loaded afterwards."""
    from .. import morph

    example = torch.zeros(2, *input_shape)
    for step in steps:
        common = dict(method=step.method, init=step.init)
        if step.op == "widen":
            model = morph.widen(model, example, factor=step.factor, extra=step.extra, where=step.where,
                                noise=step.noise, **common)
        else:
            model = morph.deepen(model, example, where=step.where or [], **common)
    return model


def model_from_config(cfg: Config, *, num_classes: int, input_shape: tuple[int, ...],
                      base_dir: Path | None = None) -> torch.nn.Module:
    """Build (and optionally transform, load, freeze) the model described by ``cfg.model``.

    A relative ``model.pretrained`` path is looked up in ``base_dir`` (the experiment folder) first.
    """
    from ..models import build_model, freeze, load_pretrained

    m = cfg.model
    if m.num_classes is not None and m.num_classes != num_classes:
        raise ModelError(f"class count mismatch: model.num_classes is {m.num_classes} but the data has {num_classes} classes; "
                         "remove model.num_classes or fix the data.")
    model = build_model(m.name, num_classes=num_classes, in_channels=input_shape[0],
                        input_size=tuple(input_shape[1:]), dropout=m.dropout, small_stem=m.small_stem, **m.args)
    if m.morph:
        model = apply_morph_steps(model, m.morph, input_shape)
    if m.pretrained:
        path = Path(m.pretrained)
        if base_dir is not None and not path.is_absolute() and (Path(base_dir) / path).exists():
            path = Path(base_dir) / path
        skipped = load_pretrained(model, path)
        if skipped:
            log.info("pretrained weights loaded; head re-initialised: %s", ", ".join(skipped))
    freeze(model, m.freeze)
    return model


def default_callbacks(cfg: Config, exp_dir: Path | None, scheduler=None, interval: str | None = None) -> list[Callback]:
    t = cfg.train
    cbs: list[Callback] = [Progress(cfg.logging.progress, t.log_every), LossWatch()]
    if t.count_flops or t.flops_budget:
        cbs.append(FlopsCounter(t.flops_budget))
    if scheduler is not None:
        cbs.append(LRSchedule(scheduler, interval, monitor=cfg.schedule.monitor))
    if t.grad_clip:
        cbs.append(GradClip(t.grad_clip))
    if t.early_stopping:
        es = t.early_stopping
        cbs.append(EarlyStopping(monitor=es.monitor, mode=es.mode, patience=es.patience,
                                 min_delta=es.min_delta, restore_best=es.restore_best))
    if cfg.focus is not None:  # Adaptive Focus Learning: an extra pass on the worst classes (trainlab.focus)
        from ..focus import focus_from_config

        plot = Path(exp_dir) / "focus_history.png" if exp_dir is not None and cfg.logging.plot else None
        cbs.append(focus_from_config(cfg.focus, seed=t.seed, plot_path=plot))
    if exp_dir is not None:
        cbs += [Checkpoint(exp_dir, monitor=t.monitor, mode=t.mode, save_every=t.save_every,
                           save_every_steps=t.save_every_steps), HistoryWriter(exp_dir)]
        if cfg.logging.tensorboard:
            cbs.append(TensorBoard(Path(exp_dir) / "tensorboard", t.log_every))
        if cfg.logging.plot:
            cbs.append(PlotHistory(exp_dir))
    return cbs


def learner_from_config(cfg: Config, exp_dir: Path | None = None, *, callbacks: list[Callback] = (),
                        overfit_batches: int = 0, default_callbacks_on: bool = True, **_: Any) -> Learner:
    """Seed, build data, model, optimizer, schedule and callbacks; return a ready :class:`Learner`."""
    from ..models import param_groups

    t = cfg.train
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    device = resolve_device(t.device)
    if t.precision == "16" and device.type != "cuda":
        raise ConfigError("train.precision 16 (float16) needs a CUDA device; use bf16 on CPU.")
    dist = init_distributed(device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if not dist.is_main:
        exp_dir = None  # only rank 0 writes files and shows progress
    seed_everything(t.seed)
    if cfg.data.name not in DATASETS and cfg.data.name not in TASK_DATASETS:
        names = sorted({*DATASETS.list(), *TASK_DATASETS.list()})
        raise UnknownNameError(f"unknown dataset {cfg.data.name!r}.{close_matches(cfg.data.name, names)} "
                               f"Available: {', '.join(names)}.")
    if cfg.data.name in TASK_DATASETS:
        data, make_task = TASK_DATASETS.get(cfg.data.name)(cfg, seed=t.seed, device=device, rank=dist.rank,
                                                            world_size=dist.world_size)
    else:
        data = data_from_config(cfg.data, seed=t.seed, device=device, rank=dist.rank, world_size=dist.world_size)
        make_task = lambda model: ClassificationTask(data.num_classes, t.label_smoothing)  # noqa: E731
    if overfit_batches:  # train and validate on the same few fixed batches: a model should reach ~100%
        n = min(len(data.train.targets), overfit_batches * cfg.data.batch_size)
        data.train = data.train.subset(torch.arange(n), train=False)
        data.valid = data.train
    seed_everything(t.seed)  # the model's init does not depend on how much randomness the data used
    model = model_from_config(cfg, num_classes=data.num_classes, input_shape=data.input_shape, base_dir=exp_dir)
    groups = param_groups(model, cfg.optim.lrs, cfg.model.groups)
    optimizer = build_optimizer(cfg.optim, groups)
    scheduler, interval = build_schedule(cfg.schedule, optimizer, epochs=t.epochs,
                                         steps_per_epoch=-(-len(data.train) // t.accumulate))
    cbs = default_callbacks(cfg, exp_dir, scheduler, interval) if default_callbacks_on else []
    if not dist.is_main:
        cbs = [cb for cb in cbs if not isinstance(cb, Progress)]
    return Learner(model, data, optimizer=optimizer, task=make_task(model),
                   callbacks=[*cbs, *callbacks], device=device, precision=t.precision, accumulate=t.accumulate,
                   eval_every=t.eval_every, channels_last=cfg.model.channels_last, skip_nonfinite=t.skip_nonfinite,
                   distributed=dist.enabled, sync_batchnorm=t.sync_batchnorm, compile=t.compile,
                   config=config_to_dict(cfg),
                   exp_dir=exp_dir)
