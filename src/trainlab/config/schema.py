"""The base params schema: the sections every run has (data, model, optim, schedule, train, logging).

Every section is strict (unknown keys are errors), validates assignments, and keeps numbers finite and
within torch's int64/float32 ranges. A key whose value a resumed run may not change (its weights, optimizer
state or splits belong to the old value) is declared with :func:`fixed_on_resume`.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticUndefined

from .text import describe_int

INT64_MAX = 2**63 - 1  # every integer setting fits in 64 bits (seeds, sizes and counts go to torch)
FLOAT32_MAX = 3.4e38  # every number fits in float32 (learning rates and factors become float32 tensors)


def _fits_torch(value: Any) -> Any:
    """``value`` if every number in it fits torch's int64 and float32 ranges, else ValueError."""
    for v in (value if isinstance(value, list | tuple) else [value]):
        if isinstance(v, int) and not isinstance(v, bool) and not -INT64_MAX - 1 <= v <= INT64_MAX:
            raise ValueError(f"{describe_int(v)} is beyond 64 bits; use a number of at most {INT64_MAX}")
        if isinstance(v, float) and abs(v) > FLOAT32_MAX:
            raise ValueError(f"{v:.3g} is beyond float32; use a number of at most {FLOAT32_MAX:.2g}")
    return value


def fixed_on_resume(default: Any = PydanticUndefined, **kwargs: Any) -> Any:
    """A pydantic ``Field`` for a key a resumed run may not change, even with ``--resume --force``: the
    checkpoint's weights, optimizer state or splits belong to its old value. A feature declares its own
    keys the same way (``register_field(..., fixed_on_resume(None, description=...))``).

    Example:
        >>> class Toy(Section):
        ...     width: int = fixed_on_resume(8, description="channels of the first layer")
        >>> Toy.model_fields["width"].json_schema_extra
        {'fixed_on_resume': True}
    """
    return Field(default, json_schema_extra={"fixed_on_resume": True}, **kwargs)


class Section(BaseModel):
    """Strict: unknown keys are errors, assignments are validated, numbers are finite and fit torch's types."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _numbers_fit_torch(cls, v: Any) -> Any:
        return _fits_torch(v)


class DataConfig(Section):
    """Which data, how it is split, batched and augmented (see docs/data.md)."""

    name: str = fixed_on_resume("digits", description="the dataset: digits, fashion-mnist, folder, synthetic, or one a "
                                            "feature registers (digit-strings, text-lines, ...)")
    root: str | None = Field(None, description="where a dataset's files are; datasets that read files fall back "
                                               "to the env variable TRAINLAB_DATA")
    batch_size: int = Field(64, gt=0, description="training batch size (per process)")
    eval_batch_size: int | None = Field(None, gt=0, description="batch size for evaluation (default: batch_size)")
    valid_fraction: float = fixed_on_resume(0.1, gt=0, lt=1, description="share of the training data carved out, "
                                            "stratified, as the validation split when the dataset has none")
    test_fraction: float = fixed_on_resume(0.2, gt=0, lt=1, description="share carved out as the test split, for "
                                           "datasets without one (digits, synthetic)")
    augment: Literal["none", "flip", "light", "standard"] = Field(
        "none", description="flip: a random horizontal flip (datasets whose labels it keeps); light: random crop and "
                            "a flip where it keeps the label; standard: light plus random erasing")
    mean: list[float] | None = Field(None, description="per-channel normalization mean (default: computed on the "
                                                       "training split)")
    std: list[float] | None = Field(None, description="per-channel normalization std (default: computed on the "
                                                      "training split)")
    image_size: tuple[int, int] | None = fixed_on_resume(None, description="[H, W] every image of a folder "
                                                         "dataset is resized to")
    channels: Literal[1, 3] | None = fixed_on_resume(None, description="folder datasets: convert images to 1 (L) "
                                                                       "or 3 (RGB) channels")
    num_workers: int = Field(0, ge=0, description="worker processes reading file-backed datasets")
    download: bool = Field(False, description="allow downloading a dataset that supports it (nothing downloads "
                                              "otherwise)")
    max_train_samples: int | None = fixed_on_resume(None, gt=0, description="keep a stratified subset of this "
                                                    "many training samples")
    split_seed: int | None = fixed_on_resume(None, description="seed of the train/valid/test carving and of "
                                             "max_train_samples (default: train.seed); fix it to compare seeds on "
                                             "the same validation split")
    args: dict[str, Any] = fixed_on_resume({}, description="options of the dataset itself (e.g. synthetic: "
                                           "num_classes, samples)")

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

    name: str = fixed_on_resume("cnn_tiny", description="a registered architecture (trainlab models lists them)")
    num_classes: int | None = fixed_on_resume(None, gt=1, description="when set, checked against the data's class "
                                                                      "count")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the classifier layer (replaces a "
                                                        "torchvision model's own)")
    small_stem: bool = fixed_on_resume(False, description="torchvision CNNs: a 3x3 stride-1 first conv and no stem "
                                                          "max-pool, for small images")
    pretrained: str | None = Field(None, description="a local weights file (torchvision state dict or trainlab "
                                                     "checkpoint); relative paths are read from the experiment folder")
    freeze: bool | Literal["all_but_head"] | list[str] | None = fixed_on_resume(
        None, description="true or all_but_head: train only the head; a list of name prefixes: freeze those modules")
    groups: list[list[str]] | None = fixed_on_resume(None, description="module name prefixes, one list per "
                                                     "optimizer parameter group (with a list optim.lr)")
    channels_last: bool = Field(False, description="train in the channels_last memory format (faster convolutions "
                                                   "on many CPUs and GPUs)")
    args: dict[str, Any] = fixed_on_resume({}, description="options of the architecture itself (e.g. cnn_small: width, "
                                                 "blocks)")
    freeze_bn_stats: bool = Field(True, description="BatchNorm layers whose parameters are frozen also keep their "
                                                    "running statistics (run in eval mode); false updates them")


class OptimConfig(Section):
    """The optimizer."""

    name: Literal["sgd", "adam", "adamw", "rmsprop"] = fixed_on_resume("adam", description="the optimizer")
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

