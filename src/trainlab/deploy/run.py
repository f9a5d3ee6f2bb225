"""A run's checkpoint as a :class:`Predictor` (PyTorch): the model, its Task and the run's preprocessing.

The model is loaded through :func:`trainlab.runs.learner_for_checkpoint` (so every checkpoint rule applies:
weights checked against the architecture, the run's resolved params rebuilt); its data bundle gives the
evaluation preprocessing (:meth:`trainlab.engine.Task.preprocessing`: size, channels, mean/std), and the Task
turns outputs into answers with the run's own decoder (:meth:`trainlab.engine.Task.answers`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import config_to_dict, load_config
from ..errors import CheckpointError, ConfigError, echo
from ..runs import checkpoint_path, learner_for_checkpoint
from ..runs.evaluate import split_check
from .predictor import Predictor
from .preprocess import Preprocess

MODEL_KEYS = ("name", "args")


def check_same_architecture(exp: Path, state: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint given by path whose model (name, args) differs from what ``exp``'s params build."""
    try:
        mine = config_to_dict(load_config(exp))["model"]
    except ConfigError:  # no params file: the checkpoint's own config is all there is
        return
    theirs = (state.get("config") or {}).get("model") or {}
    diff = [k for k in MODEL_KEYS if theirs.get(k) != mine.get(k)]
    if diff:
        raise CheckpointError(f"checkpoint {path} holds a {echo(theirs.get('name'))} model "
                              f"({echo(theirs.get('args'))}), but {exp}'s params build {echo(mine.get('name'))} "
                              f"({echo(mine.get('args'))}); pass a checkpoint of this experiment (best, last) or "
                              "its own folder.")


def load_run(exp: Path, checkpoint: str = "best", overrides: list[str] = ()):
    """(learner, state, checkpoint path) of ``exp``'s checkpoint ``best``, ``last`` or a path, its model in
    evaluation mode."""
    path = checkpoint_path(exp, checkpoint)
    learner, state = learner_for_checkpoint(path, list(overrides))
    if checkpoint not in ("best", "last"):
        check_same_architecture(exp, state, path)
    split_check(state, learner.data, "train", str(path))  # the normalization statistics come from it
    learner.model.eval()
    return learner, state, path


class RunPredictor(Predictor):
    """``exp``'s checkpoint (``best``, ``last`` or a path) predicting with PyTorch.

    Example:
        >>> p = RunPredictor(Path("experiments/digits-cnn"))  # doctest: +SKIP
        >>> p.preprocess.spec["size"]  # doctest: +SKIP
        [8, 8]
    """

    def __init__(self, exp: Path, *, checkpoint: str = "best", overrides: list[str] = ()) -> None:
        self.learner, self.state, self.path = load_run(Path(exp), checkpoint, overrides)
        task, data = self.learner.task, self.learner.data
        self.kind, self.class_names = task.kind, list(data.class_names)
        self.preprocess = Preprocess(task.preprocessing(data))
        self.settings = {}  # the Task decodes its own outputs

    def describe(self) -> str:
        return f"{self.path} (PyTorch)"

    @torch.no_grad()
    def answers(self, x: np.ndarray, widths: np.ndarray | None = None) -> list[dict[str, np.ndarray]]:
        device = self.learner.device
        xt = torch.from_numpy(x).to(device)
        wt = torch.from_numpy(widths).to(device) if widths is not None else None
        with self.learner.autocast():  # as evaluate runs it
            return self.learner.task.answers(self.learner.model, xt, wt)
