"""The params file: validated, layered (defaults < params file < ``--set`` overrides), saved resolved.

Example:
    >>> from trainlab.config import parse_config
    >>> cfg = parse_config({"train": {"epochs": 3}}, overrides=["optim.lr=0.01"])
    >>> cfg.train.epochs, cfg.optim.lr
    (3, 0.01)
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from .errors import ConfigError
from .registry import close_matches, load_features

PARAMS_FILES = ("params.json", "params.yaml", "params.yml")


class Section(BaseModel):
    """Strict: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    name: str = "digits"
    root: str | None = None  # falls back to env TRAINLAB_DATA for datasets that read files
    batch_size: int = Field(64, gt=0)
    eval_batch_size: int | None = Field(None, gt=0)
    valid_fraction: float = Field(0.1, gt=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)  # only for datasets without a test split (digits)
    augment: Literal["none", "light", "standard"] = "none"
    mean: list[float] | None = None  # per channel; computed on train when absent
    std: list[float] | None = None
    image_size: tuple[int, int] | None = None  # folder datasets: resize to (H, W)
    channels: Literal[1, 3] | None = None  # folder datasets: convert to L or RGB
    num_workers: int = Field(0, ge=0)
    download: bool = False
    max_train_samples: int | None = Field(None, gt=0)  # a quick subset for smoke runs
    # Seed of the train/valid/test carving and of max_train_samples; null: train.seed. Fix it to compare
    # runs with different train.seed (init, order, augmentation) on the same validation split.
    split_seed: int | None = None
    args: dict[str, Any] = {}  # dataset-specific options (e.g. synthetic: num_classes, samples)

    def seed_for_splits(self, run_seed: int) -> int:
        """The seed the splits are carved with: ``split_seed``, or the run's seed when it is not set."""
        return run_seed if self.split_seed is None else self.split_seed


class ModelConfig(Section):
    name: str = "cnn_tiny"
    num_classes: int | None = Field(None, gt=1)  # when set, must match the data
    dropout: float = Field(0.0, ge=0, lt=1)
    small_stem: bool = False
    pretrained: str | None = None  # a local file: torchvision state dict or trainlab checkpoint
    freeze: bool | Literal["all_but_head"] | list[str] | None = None
    groups: list[list[str]] | None = None  # name prefixes, one list per optimizer group
    channels_last: bool = False
    args: dict[str, Any] = {}
    # BatchNorm layers whose parameters model.freeze froze also keep their running statistics (they run in eval
    # mode while training); false: they still update the statistics every batch.
    freeze_bn_stats: bool = True


class OptimConfig(Section):
    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    lr: float | list[float] = 1e-3
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, v: float | list[float]) -> float | list[float]:
        values = v if isinstance(v, list) else [v]
        if not values or any(x <= 0 for x in values):
            raise ValueError("every learning rate must be > 0")
        return v

    @property
    def lrs(self) -> list[float]:
        return list(self.lr) if isinstance(self.lr, list) else [self.lr]


class ScheduleConfig(Section):
    name: Literal["none", "one_cycle", "cosine", "step", "plateau"] = "none"
    div_factor: float = Field(25.0, gt=0)  # one_cycle: start lr = max_lr / div_factor
    final_div_factor: float = Field(1e4, gt=0)
    pct_start: float = Field(0.3, gt=0, lt=1)
    eta_min: float = Field(0.0, ge=0)  # cosine
    step_size: int = Field(10, gt=0)  # step: epochs between decays
    gamma: float = Field(0.1, gt=0)  # step
    factor: float = Field(0.1, gt=0, lt=1)  # plateau
    patience: int = Field(5, ge=0)  # plateau
    monitor: str = "valid.loss"  # plateau
    mode: Literal["min", "max"] = "min"  # plateau


class EarlyStoppingConfig(Section):
    monitor: str = "valid.loss"
    mode: Literal["min", "max"] = "min"
    patience: int = Field(5, ge=0)
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = True


class TrainConfig(Section):
    epochs: int = Field(10, gt=0)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Literal["32", "bf16", "16"] = "32"
    compile: bool = False  # torch.compile the training step's model (CPU needs a C++ compiler; first steps are slow)
    grad_clip: float | None = Field(None, gt=0)
    accumulate: int = Field(1, gt=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    eval_every: int = Field(1, gt=0)  # epochs
    save_every: int = Field(1, gt=0)  # epochs between last.pt writes
    save_every_steps: int | None = Field(None, gt=0)  # also write last.pt every N optimizer steps
    sync_batchnorm: bool = False  # with several processes: BatchNorm statistics over the global batch
    skip_nonfinite: bool = False  # skip batches whose loss is NaN/inf (one host sync per step) instead of stopping
    log_every: int = Field(50, gt=0)  # steps between progress updates
    num_threads: int | None = Field(None, gt=0)  # at most this many CPU threads (exactly, without adaptive_threads)
    adaptive_threads: bool = True  # follow the cores other processes leave free (see docs/threads.md)
    monitor: str = "valid.loss"  # decides best.pt
    mode: Literal["min", "max"] = "min"
    early_stopping: EarlyStoppingConfig | None = None

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class LoggingConfig(Section):
    progress: Literal["auto", "bar", "epoch", "none"] = "auto"
    tensorboard: bool = True
    plot: bool = True  # training_history.png at the end of fit
    level: Literal["DEBUG", "INFO", "WARNING"] = "INFO"


class Config(Section):
    """The base sections. Features add their own (``focus``, ``evolve``, ``model.morph``, ...) through
    :func:`register_section` and :func:`register_field`; :func:`config_model` is the class with all of them,
    the one :func:`parse_config` validates with."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    logging: LoggingConfig = LoggingConfig()

    def __reduce__(self):  # the class is built at run time: pickle the settings, not the class
        return parse_config, (config_to_dict(self),)


# --------------------------------------------------------------------------- sections added by features

_SECTIONS: dict[str, type[BaseModel]] = {}  # top-level section name -> its model
_FIELDS: dict[str, dict[str, tuple[Any, Any]]] = {}  # base section -> field name -> (annotation, FieldInfo)
_built: type[Config] | None = None


def register_section(name: str, model: type[BaseModel]) -> None:
    """Add an optional top-level params section ``name`` (absent = null = the feature is off).

    Example (a feature's ``feature.py``):
        >>> class ToyConfig(Section):
        ...     strength: float = 1.0
        >>> register_section("toy", ToyConfig)  # doctest: +SKIP
        >>> parse_config({"toy": {"strength": 2}}).toy.strength  # doctest: +SKIP
        2.0
    """
    global _built
    if name in Config.model_fields or name in _SECTIONS:
        raise ConfigError(f"params section {name!r} is already defined; choose another name.")
    _SECTIONS[name] = model
    _built = None


def register_field(section: str, name: str, annotation: Any, field: Any) -> None:
    """Add the key ``name`` to the base section ``section`` (e.g. ``model.morph``), typed ``annotation``
    with the pydantic ``field`` (its default and description)."""
    global _built
    base = Config.model_fields.get(section)
    if base is None:
        raise ConfigError(f"{section!r} is not a base params section; allowed: {', '.join(Config.model_fields)}.")
    if name in base.annotation.model_fields or name in _FIELDS.get(section, {}):
        raise ConfigError(f"{section}.{name} is already defined; choose another name.")
    _FIELDS.setdefault(section, {})[name] = (annotation, field)
    _built = None


def config_model() -> type[Config]:
    """The params schema: the base sections with every feature's sections and fields."""
    global _built
    load_features()
    if _built is None:
        sections: dict[str, Any] = {}
        for name, extra in _FIELDS.items():
            base = Config.model_fields[name].annotation
            model = create_model(base.__name__, __base__=base, __module__=__name__, **extra)
            sections[name] = (model, Field(default_factory=model, description=Config.model_fields[name].description))
        for name, model in _SECTIONS.items():
            sections[name] = (model | None, Field(None, description=(model.__doc__ or "").strip().split("\n")[0]))
        _built = create_model("Config", __base__=Config, __module__=__name__, **sections)
    return _built


# --------------------------------------------------------------------------- reading and errors


def find_params_file(exp_dir: Path) -> Path:
    """The params file of an experiment folder (params.json or params.yaml)."""
    exp_dir = Path(exp_dir)
    if exp_dir.is_file():
        return exp_dir
    if not exp_dir.is_dir():
        raise ConfigError(f"experiment folder {str(exp_dir)!r} does not exist; create it with a params.json inside.")
    found = [exp_dir / name for name in PARAMS_FILES if (exp_dir / name).is_file()]
    if len(found) > 1:
        raise ConfigError(f"{str(exp_dir)!r} holds {' and '.join(p.name for p in found)}; keep exactly one params file.")
    if found:
        return found[0]
    raise ConfigError(f"no params.json or params.yaml in {str(exp_dir)!r}; write one (see README, 'Params file').")


def read_params(path: Path) -> dict[str, Any]:
    """Load a params file as a dict; a syntax error names the file and line."""
    text = Path(path).read_text()
    try:
        raw = yaml.safe_load(text) if Path(path).suffix in (".yaml", ".yml") else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not valid {'YAML' if Path(path).suffix != '.json' else 'JSON'}: {e}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}.")
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML: 3, 0.1, true, [1, 2], null)."""
    out = json.loads(json.dumps(raw))  # deep copy of plain data
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form section.key=value (e.g. train.epochs=5).")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section.")
            node = child
        node[parts[-1]] = value
    return out


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid key names at ``loc`` (for 'did you mean' hints)."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        ann = field.annotation
        candidates = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return []
        model = candidates[0]
    return list(model.model_fields)


def _format_validation_error(err: ValidationError, source: str, root: type[BaseModel] | None = None) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        dotted = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden":
            valid = _field_names(root or config_model(), loc)
            lines.append(f"unknown key {dotted!r}.{close_matches(str(loc[-1]), valid)}"
                         f" Valid keys here: {', '.join(valid)}.")
        else:
            got = e.get("input")
            got_text = f" (got {json.dumps(got, default=str)})" if not isinstance(got, dict) else ""
            lines.append(f"{dotted}: {e['msg']}{got_text}.")
    return f"{source}: " + " ".join(lines)


def parse_config(raw: dict[str, Any], overrides: list[str] | None = None, *, source: str = "params") -> Config:
    """Validate a params dict (new or legacy form) plus overrides into a :class:`Config`."""
    if is_legacy(raw):
        warnings.warn(f"{source} uses the legacy flat cs230 format; it was translated. "
                      "Run `trainlab migrate` to write the new form.", UserWarning, stacklevel=2)
        raw = translate_legacy(raw)
    raw = apply_overrides(raw, overrides or [])
    try:
        return config_model().model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, source)) from None


def validate_section(model: type[BaseModel], data: dict[str, Any], *, source: str) -> BaseModel:
    """``model.model_validate(data)``, with errors as a one-line :class:`ConfigError` naming ``source``.

    Example:
        >>> validate_section(TrainConfig, {"epochs": 0}, source="--epochs")
        Traceback (most recent call last):
        ...
        trainlab.errors.ConfigError: --epochs: epochs: Input should be greater than 0 (got 0).
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, source, model)) from None


def load_config(exp_dir: Path, overrides: list[str] | None = None) -> Config:
    """Read and validate the params file of an experiment folder."""
    path = find_params_file(Path(exp_dir))
    return parse_config(read_params(path), overrides, source=str(path))


# --------------------------------------------------------------------------- the legacy cs230 format

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
    """Translate a legacy flat params dict into the sectioned form (see README, 'Legacy params')."""
    unknown = set(raw) - LEGACY_ONLY
    if unknown:
        raise ConfigError(f"legacy params: unknown keys {sorted(unknown)}; known legacy keys: {sorted(LEGACY_ONLY)}.")
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
        if raw["scheduler"] not in names:
            raise ConfigError(f"legacy params: scheduler {raw['scheduler']!r}; allowed: one_cycle, cosine_annealing.")
        flat["schedule.name"] = names[raw["scheduler"]]
    es = raw.get("early_stopping")
    if isinstance(es, int) and not isinstance(es, bool):  # the cs230 shorthand: a patience on the validation loss
        es = {"monitor_metric": "loss", "minimize": True, "patience": es}
    elif es is not None and not isinstance(es, dict | bool):
        raise ConfigError(f"legacy params: early_stopping {es!r}; allowed: a patience (e.g. 5) or "
                          "{monitor_metric, minimize, patience, min_delta}.")
    if isinstance(es, dict) and es.get("monitor_metric") not in (False, None):
        minimize = es.get("minimize", es.get("mode", "minimize") == "minimize")
        flat["train.early_stopping"] = {
            "monitor": f"valid.{es['monitor_metric']}", "mode": "min" if minimize else "max",
            "patience": es.get("patience", 5), "min_delta": es.get("min_delta", 0.0),
        }
    if raw.get("hyper_search"):
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


# --------------------------------------------------------------------------- saving


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain JSON-ready dict of every setting."""
    return cfg.model_dump(mode="json")


def diff_configs(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    keys = sorted(set(old) | set(new))
    changed = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        name = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            changed += diff_configs(a, b, name + ".")
        elif a != b:
            changed.append(name)
    return changed
