"""Config → Learner: the one adapter that turns a validated Config into library calls.

Features plug their callbacks in through :data:`CALLBACKS`: a factory ``(cfg, exp_dir) -> list[Callback]``
registered under the feature's name, asked for its callbacks every time a Learner is built from a config.
Callbacks that change what evaluation computes (test-time augmentation) register in :data:`EVAL_CALLBACKS`
instead: those are built for evaluation-only Learners too (``default_callbacks_on=False``, e.g. the one
:func:`trainlab.runs.learner_for_checkpoint` builds for ``trainlab evaluate``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from ..config import Config, config_to_dict
from ..data import DATASETS, TASK_DATASETS, data_from_config
from ..errors import ConfigError, UnknownNameError
from ..models import model_from_config, param_groups
from ..registry import Registry, close_matches
from .callback import Callback
from .callbacks.adaptive_threads import configure_threads
from .callbacks.checkpoint import Checkpoint
from .callbacks.early_stopping import EarlyStopping
from .callbacks.reporting import HistoryWriter, LossWatch, PlotHistory, Progress, TensorBoard
from .callbacks.schedule import GradClip, LRSchedule
from .distributed import init_distributed
from .learner import Learner
from .optim import build_optimizer, build_schedule
from .rng import seed_everything
from .task import ClassificationTask

log = logging.getLogger(__name__)

CallbackFactory = Callable[[Config, Path | None], list[Callback]]
CALLBACKS: Registry[CallbackFactory] = Registry("callback factory", features=True)
EVAL_CALLBACKS: Registry[CallbackFactory] = Registry("evaluation callback factory", features=True)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {name!r} but no CUDA device is available; use 'auto' or 'cpu'.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"train.device is {name!r} but this machine has {torch.cuda.device_count()} CUDA "
                          f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}; use one of them or 'auto'.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"train.device is {name!r} but MPS (Apple GPUs) is not available here; use 'auto' or 'cpu'.")
    return device


def default_callbacks(cfg: Config, exp_dir: Path | None, scheduler=None, interval: str | None = None) -> list[Callback]:
    """The engine's callbacks a config asks for, then every feature's (see :data:`CALLBACKS`)."""
    t = cfg.train
    cbs: list[Callback] = [Progress(cfg.logging.progress, t.log_every), LossWatch()]
    if scheduler is not None:
        cbs.append(LRSchedule(scheduler, interval, monitor=cfg.schedule.monitor))
    if t.grad_clip:
        cbs.append(GradClip(t.grad_clip))
    if t.early_stopping:
        es = t.early_stopping
        cbs.append(EarlyStopping(monitor=es.monitor, mode=es.mode, patience=es.patience,
                                 min_delta=es.min_delta, restore_best=es.restore_best))
    if exp_dir is not None:
        cbs += [Checkpoint(exp_dir, monitor=t.monitor, mode=t.mode, save_every=t.save_every,
                           save_every_steps=t.save_every_steps), HistoryWriter(exp_dir)]
        if cfg.logging.tensorboard:
            cbs.append(TensorBoard(Path(exp_dir) / "tensorboard", t.log_every))
        if cfg.logging.plot:
            cbs.append(PlotHistory(exp_dir))
    for name in CALLBACKS:
        cbs += CALLBACKS.get(name)(cfg, exp_dir)
    return cbs


def data_and_task(cfg: Config, *, device: torch.device, rank: int = 0, world_size: int = 1):
    """The :class:`DataBundle` of ``cfg.data`` and a function model → Task (classification unless the dataset
    brings its own, see :data:`trainlab.data.TASK_DATASETS`)."""
    name, seed = cfg.data.name, cfg.train.seed
    if name in TASK_DATASETS:
        return TASK_DATASETS.get(name)(cfg, seed=seed, device=device, rank=rank, world_size=world_size)
    if name not in DATASETS:
        names = sorted({*DATASETS.list(), *TASK_DATASETS.list()})
        raise UnknownNameError(f"unknown dataset {name!r}.{close_matches(name, names)} Available: {', '.join(names)}.")
    data = data_from_config(cfg.data, seed=seed, device=device, rank=rank, world_size=world_size)
    return data, lambda model: ClassificationTask(data.num_classes, cfg.train.label_smoothing)


def learner_from_config(cfg: Config, exp_dir: Path | None = None, *, callbacks: list[Callback] = (),
                        overfit_batches: int = 0, default_callbacks_on: bool = True,
                        training: bool = True) -> Learner:
    """Seed, build data, model, optimizer, schedule and callbacks; return a ready :class:`Learner`.

    ``training=False``: a Learner that only evaluates and predicts (no optimizer, schedule or training
    callbacks; the callbacks that change evaluation, such as test-time augmentation, as the config says).

    A relative ``model.pretrained`` is looked up in ``exp_dir``. Every setting is checked here, before
    anything trains (monitored metric names included, by the callbacks' ``on_setup``).
    """
    t = cfg.train
    threads = configure_threads(t.num_threads, adaptive=t.adaptive_threads)  # before any tensor work
    device = resolve_device(t.device)
    if t.precision == "16" and device.type != "cuda":
        raise ConfigError("train.precision 16 (float16) needs a CUDA device; use bf16 on CPU.")
    dist = init_distributed(device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    seed_everything(t.seed)
    data, make_task = data_and_task(cfg, device=device, rank=dist.rank, world_size=dist.world_size)
    if overfit_batches:  # train and validate on the same few fixed batches: a model should reach ~100%
        n = min(data.train.num_samples, overfit_batches * cfg.data.batch_size)
        data.train = data.train.subset(torch.arange(n), train=False)
        data.valid = data.train
    seed_everything(t.seed)  # the model's init does not depend on how much randomness the data used
    model = model_from_config(cfg, num_classes=data.num_classes, input_shape=data.input_shape, base_dir=exp_dir)
    optimizer, cbs = None, []
    files_dir = exp_dir if dist.is_main else None  # only rank 0 writes files and shows progress
    if training:
        optimizer = build_optimizer(cfg.optim, param_groups(model, cfg.optim.lrs, cfg.model.groups))
        scheduler, interval = build_schedule(cfg.schedule, optimizer, epochs=t.epochs,
                                             steps_per_epoch=-(-len(data.train) // t.accumulate))
        cbs = default_callbacks(cfg, files_dir, scheduler, interval) if default_callbacks_on else []
    for name in EVAL_CALLBACKS:  # what evaluation computes is part of the run, with or without the others
        cbs += EVAL_CALLBACKS.get(name)(cfg, files_dir)
    if not dist.is_main:
        cbs = [cb for cb in cbs if not isinstance(cb, Progress)]
    if threads is not None:
        cbs.append(threads)
    return Learner(model, data, optimizer=optimizer, task=make_task(model), callbacks=[*cbs, *callbacks],
                   device=device, precision=t.precision, accumulate=t.accumulate, eval_every=t.eval_every,
                   channels_last=cfg.model.channels_last, skip_nonfinite=t.skip_nonfinite,
                   distributed=dist.enabled, sync_batchnorm=t.sync_batchnorm, compile=t.compile,
                   freeze_bn_stats=cfg.model.freeze_bn_stats, config=config_to_dict(cfg), exp_dir=files_dir)
