"""What trainlab.tracking adds to a run: ``logging.mlflow`` and its callback (rank 0 only)."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ..config import register_field
from ..engine.factory import CALLBACKS
from .config import MlflowConfig

register_field("logging", "mlflow", MlflowConfig | None, Field(
    None, description="track the run in MLflow: params, every epoch's metrics, final artifacts"))


@CALLBACKS.register("mlflow")
def mlflow_callbacks(cfg, exp_dir) -> list:
    ml = cfg.logging.mlflow
    if ml is None or exp_dir is None:  # one process reports
        return []
    from .mlflow_logger import MlflowLogger

    name = Path(exp_dir).resolve().name
    return [MlflowLogger(exp_dir, tracking_uri=ml.tracking_uri, experiment=ml.experiment or name,
                         run_name=ml.run_name or name, log_checkpoints=ml.log_checkpoints)]
