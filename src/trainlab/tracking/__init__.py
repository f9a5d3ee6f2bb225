"""Remote experiment tracking: a run's params, every epoch's metrics and its final files sent to MLflow.

Switched on by ``logging.mlflow`` in the params file (see :mod:`trainlab.tracking.feature`, docs/inspect.md).
"""
from .mlflow_logger import MlflowLogger, flat_params

__all__ = ["MlflowLogger", "flat_params"]
