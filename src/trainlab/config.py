"""The params file: validated, layered (defaults < params file < ``--set`` overrides), saved resolved.

Example:
    >>> from trainlab.config import parse_config
    >>> cfg = parse_config({"train": {"epochs": 3}}, overrides=["optim.lr=0.01"])
    >>> cfg.train.epochs, cfg.optim.lr
    (3, 0.01)
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from .errors import ConfigError, echo, listing, one_line
from .files import read_text
from .params_text import MAX_DEPTH, MAX_PARAMS_BYTES, check_plain, parse_yaml, short_key, syntax_message
from .registry import close_matches, load_features

PARAMS_FILES = ("params.json", "params.yaml", "params.yml")


INT64_MAX = 2**63 - 1  # every integer setting fits in 64 bits (seeds, sizes and counts go to torch)
FLOAT32_MAX = 3.4e38  # every number fits in float32 (learning rates and factors become float32 tensors)


def _fits_torch(value: Any) -> Any:
    """``value`` if every number in it fits torch's int64 and float32 ranges, else ValueError."""
    for v in (value if isinstance(value, list | tuple) else [value]):
        if isinstance(v, int) and not isinstance(v, bool) and not -INT64_MAX - 1 <= v <= INT64_MAX:
            raise ValueError(f"{v:.3g} is beyond 64 bits; use a number of at most {INT64_MAX}")
        if isinstance(v, float) and abs(v) > FLOAT32_MAX:
            raise ValueError(f"{v:.3g} is beyond float32; use a number of at most {FLOAT32_MAX:.2g}")
    return value


class Section(BaseModel):
    """Strict: unknown keys are errors, assignments are validated, numbers are finite and fit torch's types."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _numbers_fit_torch(cls, v: Any) -> Any:
        return _fits_torch(v)


class DataConfig(Section):
    """Which data, how it is split, batched and augmented (see docs/data.md)."""

    name: str = Field("digits", description="the dataset: digits, fashion-mnist, folder, synthetic, or one a "
                                            "feature registers (digit-strings, text-lines, ...)")
    root: str | None = Field(None, description="where a dataset's files are; datasets that read files fall back "
                                               "to the env variable TRAINLAB_DATA")
    batch_size: int = Field(64, gt=0, description="training batch size (per process)")
    eval_batch_size: int | None = Field(None, gt=0, description="batch size for evaluation (default: batch_size)")
    valid_fraction: float = Field(0.1, gt=0, lt=1, description="share of the training data carved out, stratified, "
                                                               "as the validation split when the dataset has none")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="share carved out as the test split, for datasets "
                                                              "without one (digits, synthetic)")
    augment: Literal["none", "flip", "light", "standard"] = Field(
        "none", description="flip: a random horizontal flip (datasets whose labels it keeps); light: random crop and "
                            "a flip where it keeps the label; standard: light plus random erasing")
    mean: list[float] | None = Field(None, description="per-channel normalization mean (default: computed on the "
                                                       "training split)")
    std: list[float] | None = Field(None, description="per-channel normalization std (default: computed on the "
                                                      "training split)")
    image_size: tuple[int, int] | None = Field(None, description="[H, W] every image of a folder dataset is "
                                                                 "resized to")
    channels: Literal[1, 3] | None = Field(None, description="folder datasets: convert images to 1 (L) or 3 (RGB) "
                                                             "channels")
    num_workers: int = Field(0, ge=0, description="worker processes reading file-backed datasets")
    download: bool = Field(False, description="allow downloading a dataset that supports it (nothing downloads "
                                              "otherwise)")
    max_train_samples: int | None = Field(None, gt=0, description="keep a stratified subset of this many training "
                                                                  "samples")
    split_seed: int | None = Field(None, description="seed of the train/valid/test carving and of "
                                                     "max_train_samples (default: train.seed); fix it to compare "
                                                     "seeds on the same validation split")
    args: dict[str, Any] = Field({}, description="options of the dataset itself (e.g. synthetic: num_classes, "
                                                 "samples)")

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and min(v) <= 0:
            raise ValueError("height and width must be positive, e.g. [64, 64]")
        return v

    def seed_for_splits(self, run_seed: int) -> int:
        """The seed the splits are carved with: ``split_seed``, or the run's seed when it is not set."""
        return run_seed if self.split_seed is None else self.split_seed


class ModelConfig(Section):
    """The architecture, its weights and what trains (see ``trainlab models``)."""

    name: str = Field("cnn_tiny", description="a registered architecture (trainlab models lists them)")
    num_classes: int | None = Field(None, gt=1, description="when set, checked against the data's class count")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the classifier layer (replaces a "
                                                        "torchvision model's own)")
    small_stem: bool = Field(False, description="torchvision CNNs: a 3x3 stride-1 first conv and no stem max-pool, "
                                                "for small images")
    pretrained: str | None = Field(None, description="a local weights file (torchvision state dict or trainlab "
                                                     "checkpoint); relative paths are read from the experiment folder")
    freeze: bool | Literal["all_but_head"] | list[str] | None = Field(
        None, description="true or all_but_head: train only the head; a list of name prefixes: freeze those modules")
    groups: list[list[str]] | None = Field(None, description="module name prefixes, one list per optimizer parameter "
                                                             "group (with a list optim.lr)")
    channels_last: bool = Field(False, description="train in the channels_last memory format (faster convolutions "
                                                   "on many CPUs and GPUs)")
    args: dict[str, Any] = Field({}, description="options of the architecture itself (e.g. cnn_small: width, "
                                                 "blocks)")
    freeze_bn_stats: bool = Field(True, description="BatchNorm layers whose parameters are frozen also keep their "
                                                    "running statistics (run in eval mode); false updates them")


class OptimConfig(Section):
    """The optimizer."""

    name: Literal["sgd", "adam", "adamw", "rmsprop"] = Field("adam", description="the optimizer")
    lr: float | list[float] = Field(1e-3, description="learning rate, or a list: one per parameter group "
                                                      "(discriminative learning rates)")
    weight_decay: float = Field(0.0, ge=0, description="weight decay (decoupled for adamw)")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd and rmsprop momentum")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam and adamw: the moments' decay rates")

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, v: float | list[float]) -> float | list[float]:
        values = v if isinstance(v, list) else [v]
        if not values or any(not 0 < x <= FLOAT32_MAX for x in values):
            raise ValueError("every learning rate must be > 0 (and fit float32)")
        return v

    @field_validator("betas")
    @classmethod
    def _betas_below_one(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in v):
            raise ValueError("both betas must be in [0, 1), e.g. [0.9, 0.999]")
        return v

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimConfig:
        if self.name == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError("optim.nesterov needs optim.momentum > 0 (e.g. 0.9); or set nesterov false")
        return self

    @property
    def lrs(self) -> list[float]:
        return list(self.lr) if isinstance(self.lr, list) else [self.lr]


class ScheduleConfig(Section):
    """The learning-rate schedule: one_cycle steps every optimizer step, cosine and step every epoch, plateau
    after each validation."""

    name: Literal["none", "one_cycle", "cosine", "step", "plateau"] = Field("none", description="the schedule")
    div_factor: float = Field(25.0, gt=0, description="one_cycle: the start lr is optim.lr / div_factor")
    final_div_factor: float = Field(1e4, gt=0, description="one_cycle: the final lr is the start lr / "
                                                           "final_div_factor")
    pct_start: float = Field(0.3, gt=0, lt=1, description="one_cycle: share of the steps spent rising")
    eta_min: float = Field(0.0, ge=0, description="cosine: the lowest lr")
    step_size: int = Field(10, gt=0, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0, description="step: the lr is multiplied by gamma every step_size epochs")
    factor: float = Field(0.1, gt=0, lt=1, description="plateau: the lr is multiplied by factor on a plateau")
    patience: int = Field(5, ge=0, description="plateau: validations without improvement before reducing")
    monitor: str = Field("valid.loss", description="plateau: the metric watched")
    mode: Literal["min", "max"] = Field("min", description="plateau: min if lower is better, max if higher is")


class EarlyStoppingConfig(Section):
    """Stop when a validation metric stops improving."""

    monitor: str = Field("valid.loss", description="the metric watched")
    mode: Literal["min", "max"] = Field("min", description="min if lower is better, max if higher is")
    patience: int = Field(5, ge=0, description="validated epochs without an improvement before stopping")
    min_delta: float = Field(0.0, ge=0, description="the smallest change that counts as an improvement")
    restore_best: bool = Field(True, description="give the model the best epoch's weights back when training "
                                                 "stops")


class TrainConfig(Section):
    """How training runs."""

    epochs: int = Field(10, gt=0, description="epochs to train")
    seed: int = Field(0, description="seeds initialization, batch order, augmentation and (unless data.split_seed) "
                                     "the splits")
    device: str = Field("auto", description="auto (CUDA when available) | cpu | cuda | cuda:N")
    precision: Literal["32", "bf16", "16"] = Field("32", description="32: float32; bf16 or 16: autocast (16 needs "
                                                                     "CUDA)")
    compile: bool = Field(False, description="torch.compile the training step's model (CPU needs a C++ compiler; "
                                             "the first steps are slow)")
    grad_clip: float | None = Field(None, gt=0, description="clip the global gradient norm to this")
    accumulate: int = Field(1, gt=0, description="batches per optimizer step (gradient accumulation)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="classification: label smoothing")
    eval_every: int = Field(1, gt=0, description="epochs between validations (the last epoch always validates)")
    save_every: int = Field(1, gt=0, description="epochs between last.pt writes")
    save_every_steps: int | None = Field(None, gt=0, description="also write last.pt every N optimizer steps, to "
                                                                 "resume mid-epoch")
    sync_batchnorm: bool = Field(False, description="with several processes: BatchNorm statistics over the global "
                                                    "batch")
    skip_nonfinite: bool = Field(False, description="skip batches whose loss is NaN or infinite (one host sync per "
                                                    "step) instead of stopping")
    log_every: int = Field(50, gt=0, description="optimizer steps between progress-bar and TensorBoard updates")
    num_threads: int | None = Field(None, gt=0, description="the most CPU threads torch uses (exactly this many "
                                                             "without adaptive_threads; default: the usable cores)")
    adaptive_threads: bool = Field(True, description="use fewer threads while other processes keep cores busy "
                                                     "(docs/threads.md)")
    monitor: str = Field("valid.loss", description="the metric that decides best.pt")
    mode: Literal["min", "max"] = Field("min", description="min if lower monitor values are better, max if higher")
    early_stopping: EarlyStoppingConfig | None = Field(None, description="stop when a validation metric stops "
                                                                         "improving (off when absent)")

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d{1,3})?", v):
            raise ValueError("allowed: auto, cpu, cuda, cuda:N (a GPU index), mps")
        return v

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class LoggingConfig(Section):
    """What a run reports while it trains."""

    progress: Literal["auto", "bar", "epoch", "none"] = Field("auto", description="auto: a bar on a terminal, one "
                                                              "line per epoch otherwise")
    tensorboard: bool = Field(True, description="write TensorBoard event files to EXP/tensorboard/")
    plot: bool = Field(True, description="draw training_history.png when training ends")
    level: Literal["DEBUG", "INFO", "WARNING"] = Field("INFO", description="log level of train.log and the console")


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
    """Load a params file as a dict; a syntax error names the file and line, all on one line.

    Any bytes give a dict or a :class:`ConfigError`: not UTF-8, not valid JSON/YAML, nested too deep,
    an alias bomb, a value JSON cannot hold (a date, a set) are refused with what to change.

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "params.yaml"
        >>> _ = p.write_text("train: {epochs: 3}")
        >>> read_params(p)
        {'train': {'epochs': 3}}
    """
    path = Path(path)
    text = read_text(path, what="params file", max_bytes=MAX_PARAMS_BYTES)
    is_yaml = path.suffix in (".yaml", ".yml")
    try:
        raw = parse_yaml(text) if is_yaml else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not valid {'YAML' if is_yaml else 'JSON'}: {syntax_message(e)}.") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested more than {MAX_DEPTH} levels deep; params nest a few levels "
                          "(section.key).") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}.")
    check_plain(raw, str(path))
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML: 3, 0.1, true, [1, 2], null).

    Example:
        >>> apply_overrides({"train": {"epochs": 3}}, ["train.epochs=5", "data.root=2020-01-01"])
        {'train': {'epochs': 5}, 'data': {'root': '2020-01-01'}}
    """
    check_plain(raw, "params")
    out = json.loads(json.dumps(raw))  # deep copy of plain data
    for item in overrides:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {echo(item)} is not of the form section.key=value (e.g. train.epochs=5).")
        try:
            value = parse_yaml(text)
        except (yaml.YAMLError, RecursionError):
            value = text
        check_plain(value, f"override {echo(key.strip())}")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {echo(item)}: {echo(part)} is a value, not a section.")
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


MAX_REPORTED = 3  # validation problems named in one message; the rest are counted


def _shown(value: Any, limit: int = 60) -> str:
    """A received value as JSON (the params file's notation), cut to ``limit`` characters."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (ValueError, RecursionError):
        return echo(value, limit)
    return text if len(text) <= limit else f"{text[:limit - 1]}… ({len(text)} characters)"


def _format_validation_error(err: ValidationError, source: str, root: type[BaseModel] | None = None) -> str:
    problems = err.errors()
    lines = []
    for e in problems[:MAX_REPORTED]:
        loc = tuple(e["loc"])
        dotted = short_key(".".join(str(p) for p in loc))
        if e["type"] == "extra_forbidden":
            valid = _field_names(root or config_model(), loc)
            hint = close_matches(str(loc[-1]), valid) if len(str(loc[-1])) <= 100 else ""
            lines.append(f"unknown key {dotted!r}.{hint} Valid keys here: {listing(valid)}.")
        else:
            got = e.get("input")
            got_text = f" (got {_shown(got)})" if not isinstance(got, dict) else ""
            lines.append(f"{dotted}: {one_line(e['msg']).removeprefix('Value error, ')}{got_text}.")
    if len(problems) > MAX_REPORTED:
        lines.append(f"(and {len(problems) - MAX_REPORTED} more problems)")
    return f"{source}: " + " ".join(lines)


def parse_config(raw: dict[str, Any], overrides: list[str] | None = None, *, source: str = "params") -> Config:
    """Validate a params dict (new or legacy form) plus overrides into a :class:`Config`.

    Anything that is not plain params data, or does not fit the schema, raises :class:`ConfigError`.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: params must be a mapping of sections, got {type(raw).__name__}.")
    check_plain(raw, source)
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


# --------------------------------------------------------------------------- the params reference


def _type_text(annotation: Any) -> str:
    """A reader's name for a field's type: 'int', 'float | null', 'none | light | standard', 'list of str'."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_text(a) for a in args)
    if origin is list:
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is tuple:
        return "[" + ", ".join(_type_text(a) for a in args) + "]"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _sections_in(annotation: Any) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += _sections_in(arg)
    return found


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) of every key of ``model``, sub-sections expanded."""
    import typing

    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        if field.is_required():
            default = "required"
        else:
            value = field.get_default(call_default_factory=True)
            default = json.dumps(value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel)
                                 else value, default=str)
        rows.append((key, _type_text(field.annotation), default, field.description or ""))
        inner = _sections_in(field.annotation)
        if len(inner) == 1:  # a sub-section (or a list of them: model.morph[].op)
            rows += _rows(inner[0], f"{key}[]." if typing.get_origin(field.annotation) is list else f"{key}.")
    return rows


def params_reference() -> str:
    """The params file's reference in Markdown, generated from the schema (docs/params.md is this text).

    Example:
        >>> "| `train.epochs` | int | 10 | epochs to train |" in params_reference()
        True
    """
    model = config_model()
    base = list(Config.model_fields)
    out = ["# Params reference", "",
           "Every key a params file (`params.json` or `params.yaml`) can hold, with its type, default and meaning.",
           "Generated from the schema by `trainlab params` (a test checks that this page matches it). Layers:",
           "defaults < params file < `--set section.key=value`. Unknown keys are errors that name the closest",
           "valid key. Sections after `logging` come from features; an absent feature section means the",
           "feature is off.", ""]
    for name in [*base, *sorted(set(model.model_fields) - set(base))]:
        field = model.model_fields[name]
        section = _sections_in(field.annotation)[0]
        documented = next(c for c in section.__mro__ if c.__doc__ and c not in (Section, BaseModel))
        doc = documented.__doc__.strip().split("\n\n")[0].replace("\n", " ")
        out += [f"## {name}", "", doc, "", "| key | type | default | description |", "|---|---|---|---|"]
        out += [f"| `{key}` | {kind} | {default} | {text} |" for key, kind, default, text in _rows(section, f"{name}.")]
        out.append("")
    return "\n".join(out)
