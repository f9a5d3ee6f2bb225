"""The legacy flat cs230 params format, translated into the sectioned one (``trainlab migrate`` writes it)."""
from __future__ import annotations

import warnings
from typing import Any

from ..errors import ConfigError, echo
from .sections import config_model

LEGACY_KEYS = {
    "arch": "model.name", "n_clas": "model.num_classes", "ps": "model.dropout",
    "batch_size": "data.batch_size", "bs_test": "data.eval_batch_size", "num_workers": "data.num_workers",
    "learning_rate": "optim.lr", "wd": "optim.weight_decay",
    "num_epochs": "train.epochs", "save_summary_steps": "train.log_every",
    "div_factor": "schedule.div_factor", "pct_start": "schedule.pct_start",
}
LEGACY_ONLY = set(LEGACY_KEYS) | {"pretrain", "im_sz", "cuda", "scheduler", "early_stopping", "hyper_search"}


def is_legacy(raw: dict[str, Any]) -> bool:
    """A flat cs230-style params dict: no known section, some legacy key."""
    sections = set(config_model().model_fields)
    return not (set(raw) & sections) and bool(set(raw) & LEGACY_ONLY)


def translate_legacy(raw: dict[str, Any]) -> dict[str, Any]:
    """Translate a legacy flat params dict into the sectioned form (docs/migration.md#legacy-cs230-params)."""
    unknown = set(raw) - LEGACY_ONLY
    if unknown:
        raise ConfigError(f"legacy params: unknown keys {echo(sorted(unknown), 80)}; known legacy keys: "
                          f"{', '.join(sorted(LEGACY_ONLY))}.")
    flat: dict[str, Any] = {"optim.name": "adam", "data.name": "folder"}
    for key, value in raw.items():
        if key in LEGACY_KEYS:
            flat[LEGACY_KEYS[key]] = value
    if "im_sz" in raw:
        flat["data.image_size"] = [raw["im_sz"], raw["im_sz"]]
    if "cuda" in raw:
        flat["train.device"] = "auto" if raw["cuda"] else "cpu"
    if raw.get("pretrain"):
        warnings.warn("legacy 'pretrain: true' asked for downloaded ImageNet weights; nothing downloads here. "
                      "Set model.pretrained to a local weights file.", UserWarning, stacklevel=3)
    if "scheduler" in raw:
        names = {"one_cycle": "one_cycle", "cosine_annealing": "cosine", None: "none", "none": "none"}
        if not isinstance(raw["scheduler"], str | None) or raw["scheduler"] not in names:
            raise ConfigError(f"legacy params: scheduler {echo(raw['scheduler'])}; allowed: one_cycle, "
                              "cosine_annealing, none.")
        flat["schedule.name"] = names[raw["scheduler"]]
    es = raw.get("early_stopping")
    if isinstance(es, int) and not isinstance(es, bool):  # the cs230 shorthand: a patience on the validation loss
        es = {"monitor_metric": "loss", "minimize": True, "patience": es}
    elif es is not None and not isinstance(es, dict | bool):
        raise ConfigError(f"legacy params: early_stopping {echo(es)}; allowed: a patience (e.g. 5) or "
                          "{monitor_metric, minimize, patience, min_delta}.")
    if isinstance(es, dict) and es.get("monitor_metric") not in (False, None):
        minimize = es.get("minimize", es.get("mode", "minimize") == "minimize")
        flat["train.early_stopping"] = {
            "monitor": f"valid.{es['monitor_metric']}", "mode": "min" if minimize else "max",
            "patience": es.get("patience", 5), "min_delta": es.get("min_delta", 0.0),
        }
    if raw.get("hyper_search"):
        if not isinstance(raw["hyper_search"], dict):
            raise ConfigError(f"legacy params: hyper_search {echo(raw['hyper_search'])}; allowed: a mapping of "
                              "keys to lists of values, e.g. {\"learning_rate\": [0.001, 0.01]}.")
        space = {LEGACY_KEYS.get(k, k): v for k, v in raw["hyper_search"].items()}
        flat["search"] = {"space": space, "sampler": "grid"}
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        section, _, key = dotted.partition(".")
        if key:
            nested.setdefault(section, {})[key] = value
        else:
            nested[section] = value
    return nested
