"""``logging.mlflow``: where a run is tracked (absent or null: not tracked)."""
from __future__ import annotations

from pydantic import Field

from ..config import Section


class MlflowConfig(Section):
    """Log params, every epoch's metrics and the final artifacts of a run to MLflow."""

    tracking_uri: str | None = Field(None, description="e.g. http://host:5000, sqlite:///mlflow.db, file:/path; null: "
                                                       "MLflow's default")
    experiment: str | None = Field(None, description="the MLflow experiment; null: the experiment folder's name")
    run_name: str | None = Field(None, description="the MLflow run's name; null: the experiment folder's name")
    log_checkpoints: bool = Field(False, description="also upload checkpoints/best.pt and last.pt (can be large)")
