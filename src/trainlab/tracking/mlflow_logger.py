"""The MLflow callback: one MLflow run per training run, continued when the training run is resumed.

Uses ``mlflow.tracking.MlflowClient`` with an explicit tracking URI (no global active run), so several
runs in one process (a search) never mix. Needs the ``mlflow`` extra (``pip install 'trainlab[mlflow]'``,
the lightweight ``mlflow-skinny`` client).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from ..engine.callback import Callback
from ..engine.callbacks.checkpoint import Checkpoint
from ..engine.callbacks.reporting import HistoryWriter, PlotHistory
from ..errors import ConfigError

log = logging.getLogger(__name__)
ARTIFACTS = ("history.json", "history.csv", "training_history.png", "params.resolved.json", "metrics_val_best.json",
             "metrics_val_last.json", "focus_history.png", "model.svg")
MAX_PARAM = 6000  # MLflow's limit on a param value's length


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: dotted keys, values as JSON text (cut at MLflow's limit).

    Example:
        >>> flat_params({"optim": {"lr": 0.01, "betas": [0.9, 0.99]}, "seed": 1})
        {'optim.lr': '0.01', 'optim.betas': '[0.9, 0.99]', 'seed': '1'}
    """
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_params(value, name + "."))
        else:
            out[name] = (value if isinstance(value, str) else json.dumps(value))[:MAX_PARAM]
    return out


class MlflowLogger(Callback):
    """Logs the config as params at fit start, the epoch's scalar metrics after each epoch (step = epoch),
    and the run's files (history, plots, resolved params; checkpoints if asked) when fit ends. A failing fit
    ends the MLflow run as FAILED, a signal as KILLED; a resumed training run continues the same MLflow run.

    Example:
        >>> logger = MlflowLogger(exp, tracking_uri="sqlite:///mlflow.db", experiment="digits")  # doctest: +SKIP
    """

    run_after = (Checkpoint, HistoryWriter, PlotHistory)  # their files exist when fit ends

    def __init__(self, exp_dir: Path, *, tracking_uri: str | None = None, experiment: str = "trainlab",
                 run_name: str | None = None, log_checkpoints: bool = False) -> None:
        self.exp_dir, self.tracking_uri, self.experiment = Path(exp_dir), tracking_uri, experiment
        self.run_name, self.log_checkpoints = run_name, log_checkpoints
        self.run_id: str | None = None
        self.client = None

    def on_setup(self, learner) -> None:
        try:
            from mlflow.exceptions import MlflowException
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError("logging.mlflow needs the MLflow client: pip install 'trainlab[mlflow]'.") from None
        try:
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
        except MlflowException as e:
            raise ConfigError(f"logging.mlflow: cannot use tracking URI {self.tracking_uri!r}: {e.message} "
                              "(see docs/inspect.md#mlflow-loggingmlflow).") from None

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        return found.experiment_id if found is not None else self.client.create_experiment(self.experiment)

    def on_fit_start(self, learner) -> None:
        from mlflow.entities import Param

        if self.run_id is None:
            run = self.client.create_run(self._experiment_id(), run_name=self.run_name,
                                         tags={"trainlab.folder": str(self.exp_dir.resolve())})
            self.run_id = run.info.run_id
            params = [Param(k, v) for k, v in flat_params(learner.config).items()]
            for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
                self.client.log_batch(self.run_id, params=params[i:i + 100])
        else:
            self.client.update_run(self.run_id, status="RUNNING")
        log.info("mlflow: run %s in experiment %r", self.run_id, self.experiment)

    def on_epoch_recorded(self, learner) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, learner.loop.epoch) for k, v in learner.logs.items()
                   if isinstance(v, int | float) and not isinstance(v, bool) and k != "epoch"]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def on_fit_end(self, learner) -> None:
        if self.run_id is None:
            return
        names = list(ARTIFACTS) + (["checkpoints/best.pt", "checkpoints/last.pt"] if self.log_checkpoints else [])
        for name in names:
            path = self.exp_dir / name
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path), artifact_path=str(Path(name).parent)
                                         if "/" in name else None)
        finished = learner.loop.epoch >= learner.epochs or (learner.should_stop and not learner.stop_now)
        self.client.set_terminated(self.run_id, status="FINISHED" if finished else "KILLED")

    def on_exception(self, learner, error: BaseException) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status="FAILED")

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id} if self.run_id else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state.get("run_id")
