"""The params file: validated, layered (defaults < params file < ``--set`` overrides), saved resolved.

- :mod:`~trainlab.config.schema`: the base sections (data, model, optim, schedule, train, logging);
- :mod:`~trainlab.config.sections`: sections and keys features add, and the schema with all of them;
- :mod:`~trainlab.config.loading`: a params file or dict with overrides -> :class:`Config`, one-line errors;
- :mod:`~trainlab.config.text`: YAML/JSON read as plain data, safely; :mod:`~trainlab.config.legacy`: the
  cs230 format; :mod:`~trainlab.config.reference`: docs/params.md.

Example:
    >>> from trainlab.config import parse_config
    >>> cfg = parse_config({"train": {"epochs": 3}}, overrides=["optim.lr=0.01"])
    >>> cfg.train.epochs, cfg.optim.lr
    (3, 0.01)
"""
from .legacy import is_legacy, translate_legacy
from .loading import (PARAMS_FILES, apply_overrides, config_to_dict, diff_configs, find_params_file, load_config,
                      parse_config, read_params, validate_section)
from .reference import params_reference
from .schema import (INT64_MAX, Config, DataConfig, EarlyStoppingConfig, LoggingConfig, ModelConfig, OptimConfig,
                     ScheduleConfig, Section, TrainConfig, fixed_on_resume)
from .sections import config_model, fixed_keys, register_field, register_section

__all__ = ["INT64_MAX", "PARAMS_FILES", "Config", "DataConfig", "EarlyStoppingConfig", "LoggingConfig", "ModelConfig",
           "OptimConfig", "ScheduleConfig", "Section", "TrainConfig", "apply_overrides", "config_model",
           "config_to_dict", "diff_configs", "find_params_file", "fixed_keys", "fixed_on_resume", "is_legacy",
           "load_config", "params_reference", "parse_config", "read_params", "register_field", "register_section",
           "translate_legacy", "validate_section"]
