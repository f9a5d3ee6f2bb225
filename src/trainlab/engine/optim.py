"""Optimizers and learning-rate schedules from config sections."""
from __future__ import annotations

import torch

from ..errors import ConfigError


def build_optimizer(cfg, param_groups: list[dict]) -> torch.optim.Optimizer:
    """An optimizer over ``param_groups`` (each with its own lr) from an :class:`OptimConfig`."""
    common = {"weight_decay": cfg.weight_decay}
    if cfg.name == "sgd":
        return torch.optim.SGD(param_groups, lr=cfg.lrs[0], momentum=cfg.momentum, nesterov=cfg.nesterov, **common)
    if cfg.name == "adam":
        return torch.optim.Adam(param_groups, lr=cfg.lrs[0], betas=cfg.betas, **common)
    if cfg.name == "adamw":
        return torch.optim.AdamW(param_groups, lr=cfg.lrs[0], betas=cfg.betas, **common)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(param_groups, lr=cfg.lrs[0], momentum=cfg.momentum, **common)
    raise ConfigError(f"optim.name {cfg.name!r}; allowed: sgd, adam, adamw, rmsprop.")


def build_schedule(cfg, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int):
    """(scheduler, interval) with interval "step" | "epoch" | "plateau"; (None, None) for no schedule.

    one_cycle (Smith & Topin 2017) steps per optimizer step, peaking at each group's optim.lr;
    cosine and step per epoch; plateau after each validation on ``schedule.monitor``.
    """
    if cfg.name == "none":
        return None, None
    if cfg.name == "one_cycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        sched = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=max(2, epochs * steps_per_epoch), pct_start=cfg.pct_start,
            div_factor=cfg.div_factor, final_div_factor=cfg.final_div_factor,
            cycle_momentum=any("momentum" in g or "betas" in g for g in optimizer.param_groups))
        return sched, "step"
    if cfg.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=cfg.eta_min), "epoch"
    if cfg.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma), "epoch"
    if cfg.name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=cfg.mode, factor=cfg.factor, patience=cfg.patience), "plateau"
    raise ConfigError(f"schedule.name {cfg.name!r}; allowed: none, one_cycle, cosine, step, plateau.")
