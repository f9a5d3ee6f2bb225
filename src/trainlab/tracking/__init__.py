"""Remote experiment tracking: a run's params, every epoch's metrics and its final files sent to MLflow.

Switched on by ``logging.mlflow`` in the params file (see :mod:`trainlab.tracking.feature`, docs/inspect.md).
"""
from ..lazy import lazy_exports

# imported on first use: loading the feature's registration (every params file does) stays cheap
lazy_exports(__name__, {
    ".mlflow_logger": ["MlflowLogger", "flat_params"],
})
