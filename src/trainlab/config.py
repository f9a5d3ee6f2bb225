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
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator

from .errors import ConfigError
from .registry import close_matches

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


class MorphStep(Section):
    """One function-preserving transform, re-applied whenever the model is rebuilt (see trainlab.morph)."""

    op: Literal["widen", "deepen"]
    factor: float | None = Field(None, gt=1)
    extra: int | None = Field(None, gt=0)
    where: list[str] | None = None
    method: Literal["r2r", "net2net", "netmorph", "random"] = "r2r"
    init: Literal["match_std", "he"] | float = "match_std"
    noise: float = Field(0.0, ge=0)


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
    morph: list[MorphStep] = []  # transforms applied to the built model, in order, before pretrained weights


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
    count_flops: bool = True  # flops_per_sample and cumulative train_flops in the history
    flops_budget: float | None = Field(None, gt=0)  # stop once training FLOPs reach this
    sync_batchnorm: bool = False  # with several processes: BatchNorm statistics over the global batch
    skip_nonfinite: bool = False  # skip batches whose loss is NaN/inf (one host sync per step) instead of stopping
    log_every: int = Field(50, gt=0)  # steps between progress updates
    num_threads: int | None = Field(None, gt=0)
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


class SearchConfig(Section):
    space: dict[str, Any] = {}
    sampler: Literal["grid", "random", "tpe"] = "grid"
    trials: int | None = Field(None, gt=0)
    metric: str = "valid.accuracy"
    direction: Literal["minimize", "maximize"] = "maximize"
    pruner: Literal["none", "median", "hyperband"] = "none"


class FocusPenalty(Section):
    mode: Literal["lr_scale", "grad_scale"] = "lr_scale"  # lr_scale: the lr of focus steps × value
    value: float = Field(1e-2, gt=0)


class FocusPlateauRule(Section):
    metric: str = "valid.loss"
    patience: int = Field(2, gt=0)  # epochs without a new best before focusing
    mode: Literal["min", "max"] | None = None  # default: min for losses, max otherwise


class FocusEvery(Section):
    every: int = Field(gt=0)


class FocusAfterEpoch(Section):
    after_epoch: int = Field(ge=0)


class FocusPlateau(Section):
    plateau: FocusPlateauRule = FocusPlateauRule()


class FocusSteps(Section):
    steps: int = Field(gt=0)


def _policy_tag(v: Any) -> str | None:
    """Which ``focus.when`` form a value is: 'always', or the single key of its mapping."""
    if isinstance(v, dict):
        return next(iter(v), None)
    if isinstance(v, BaseModel):
        return next(iter(type(v).model_fields))
    return v if isinstance(v, str) else None


class FocusConfig(Section):
    """Adaptive Focus Learning: an extra damped pass over the worst classes' training samples (trainlab.focus)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)
    k: int = Field(2, gt=0)
    monitor: str = "loss"  # a per-class validation metric: loss (highest is worst), accuracy, f1 (lowest is worst)
    split: Literal["valid"] = "valid"
    when: Annotated[Annotated[Literal["always"], Tag("always")] | Annotated[FocusEvery, Tag("every")]
                    | Annotated[FocusAfterEpoch, Tag("after_epoch")] | Annotated[FocusPlateau, Tag("plateau")],
                    Discriminator(_policy_tag)] = "always"
    order: Literal["after", "before"] = "after"  # before: the reversed variant
    penalty: FocusPenalty = FocusPenalty()
    pass_: Literal["full"] | FocusSteps = Field("full", alias="pass")
    mode: Literal["hard", "soft"] = "hard"
    temperature: float = Field(0.1, gt=0)  # soft: p(class) = softmax(error / temperature)
    freeze_norm: bool = True  # BatchNorm keeps (and normalizes with) its running statistics during focus passes
    optimizer_state: Literal["restore", "shared"] = "restore"  # restore: focus steps leave no trace in Adam's moments

    @field_validator("split", mode="before")
    @classmethod
    def _valid_split_only(cls, v: Any) -> Any:
        if v == "test":
            raise ValueError("the test split must never choose what to train on (it would leak into training "
                             "and bias every reported test number); use split: valid")
        return v

    @field_validator("when", mode="before")
    @classmethod
    def _known_policy(cls, v: Any) -> Any:
        if v != "always" and not (isinstance(v, dict) and len(v) == 1 and set(v) <= {"every", "after_epoch", "plateau"}):
            raise ValueError(f"unknown focus policy {v!r}; allowed: 'always', {{every: N}}, {{after_epoch: N}}, "
                             "{plateau: {metric, patience}}")
        return v

    @field_validator("pass_", mode="before")
    @classmethod
    def _known_pass(cls, v: Any) -> Any:
        if v != "full" and not (isinstance(v, dict) and set(v) == {"steps"}):
            raise ValueError(f"unknown focus pass {v!r}; allowed: 'full' (every training sample of the chosen "
                             "classes once) or {steps: N} (N optimizer steps)")
        return v

    @field_validator("monitor")
    @classmethod
    def _short_monitor(cls, v: str) -> str:
        return v.removeprefix("valid.per_class.")


class EvolveWiden(Section):
    p: float = Field(0.5, ge=0)  # relative probability of this mutation
    factor: float | None = Field(1.5, gt=1)  # new width = factor × old (or use extra)
    extra: int | None = Field(None, gt=0)  # add this many channels instead of a factor
    scope: Literal["one", "all"] = "one"  # one: a random widenable volume; all: every widenable volume


class EvolveDeepen(Section):
    p: float = Field(0.3, ge=0)
    stages: list[str] | None = None  # candidate stages/layers (one picked at random); None: top-level nn.Sequential children


class EvolveLr(Section):
    p: float = Field(0.2, ge=0)
    factors: list[float] = [0.5, 2.0]  # the child's lr = parent's lr × a random factor (same weights)


class EvolveMutations(Section):
    widen: EvolveWiden = EvolveWiden()
    deepen: EvolveDeepen = EvolveDeepen()
    lr: EvolveLr = EvolveLr()


class EvolveEnsemble(Section):
    size: int = Field(3, gt=0)
    combine: Literal["mean_softmax", "vote", "stacking"] = "mean_softmax"
    hidden: int = Field(64, gt=0)  # stacking head: (E·C) -> hidden -> C, trained on the validation split only
    steps: int = Field(300, gt=0)
    lr: float = Field(1e-2, gt=0)


class EvolveConfig(Section):
    """Neuroevolution with shared weights: a population grown by function-preserving mutations (trainlab.evolve)."""

    population: int = Field(6, gt=1)  # M
    keep: int = Field(3, gt=0)  # K survivors per round
    rounds: int = Field(3, gt=0)  # R
    steps_per_round: int = Field(100, gt=0)  # optimizer steps each member trains per round
    mutations: EvolveMutations = EvolveMutations()
    method: Literal["r2r", "net2net", "netmorph"] = "r2r"
    init: Literal["match_std", "he"] | float = "match_std"
    selection: Literal["best", "diverse"] = "best"
    ensemble: EvolveEnsemble = EvolveEnsemble()
    budget: float | None = Field(None, gt=0)  # total training FLOPs (base + members); no new round past it
    lr_rule: Literal["param_ratio", "keep"] = "param_ratio"  # child lr × parent/child parameter count
    scale_weight_decay: bool = True  # weight decay × the same ratio (as the original)
    tolerance: float = Field(1e-4, gt=0)  # max |Δ logits| allowed at a child's birth
    baseline: bool = True  # also train the base model from scratch with the same total training FLOPs
    seed: int = 0

    @field_validator("keep")
    @classmethod
    def _keep_below_population(cls, v: int, info: Any) -> int:
        m = info.data.get("population")
        if m is not None and v > m:
            raise ValueError(f"keep ({v}) must be <= population ({m})")
        return v


class OcrConfig(Section):
    """How OCR models (trainlab.ocr) decode lines in evaluation; training metrics always decode greedily."""

    decoder: Literal["greedy", "beam"] = "greedy"
    beam_width: int = Field(8, gt=0)
    lm_order: int = Field(0, ge=0, le=8)  # character n-gram LM on the training labels; 0 = none
    lm_weight: float = Field(0.0, ge=0)  # shallow fusion: score += lm_weight * log P_lm
    length_bonus: float = 0.0  # added per decoded symbol: offsets the LM's per-symbol cost (deletions)


class Config(Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    logging: LoggingConfig = LoggingConfig()
    search: SearchConfig | None = None
    focus: FocusConfig | None = None
    evolve: EvolveConfig | None = None
    ocr: OcrConfig | None = None


# --------------------------------------------------------------------------- reading and errors


def find_params_file(exp_dir: Path) -> Path:
    """The params file of an experiment folder (params.json or params.yaml)."""
    exp_dir = Path(exp_dir)
    if exp_dir.is_file():
        return exp_dir
    if not exp_dir.is_dir():
        raise ConfigError(f"experiment folder {str(exp_dir)!r} does not exist; create it with a params.json inside.")
    for name in PARAMS_FILES:
        if (exp_dir / name).is_file():
            return exp_dir / name
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


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        dotted = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden":
            valid = _field_names(Config, loc)
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
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, source)) from None


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
    sections = set(Config.model_fields)
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
