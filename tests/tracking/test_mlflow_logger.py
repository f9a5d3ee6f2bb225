"""logging.mlflow against a local MLflow file store (no server)."""
import pytest

from trainlab.config import load_config
from trainlab.engine import Callback
from trainlab.runs import run_experiment

from ..conftest import write_exp
from ..inspect.helpers import params as make_params

pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'trainlab[mlflow]')")

from mlflow.tracking import MlflowClient  # noqa: E402



def params(folder_logging: dict) -> dict:
    return make_params(probe=None, diagnostics=None, tensorboard=False, plot=True, **folder_logging)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    return f"file:{tmp_path / 'mlruns'}"


def only_run(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return runs[0]


def test_params_metrics_and_artifacts_and_resume_continues_the_run(tmp_path, store):
    exp = write_exp(tmp_path / "digits", params({"mlflow": {"tracking_uri": store, "experiment": "tests"}}))
    run_experiment(exp, load_config(exp, ["train.epochs=2"]))
    client = MlflowClient(store)
    run = only_run(client, "tests")
    assert run.info.status == "FINISHED" and run.info.run_name == "digits"
    assert run.data.params["optim.lr"] == "0.02" and run.data.params["model.name"] == "cnn_tiny"
    losses = client.get_metric_history(run.info.run_id, "valid.loss")
    assert [m.step for m in losses] == [1, 2]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"history.json", "training_history.png",
                                                                       "params.resolved.json"}
    run_experiment(exp, load_config(exp, ["train.epochs=3"]), existing="resume", force=True)
    again = only_run(client, "tests")  # the same MLflow run, continued
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "valid.loss")] == [1, 2, 3]


class Boom(Callback):
    def on_epoch_end(self, learner):
        raise RuntimeError("boom")


def test_a_failing_run_is_marked_failed(tmp_path, store):
    exp = write_exp(tmp_path / "failing", params({"mlflow": {"tracking_uri": store}}))
    with pytest.raises(RuntimeError, match="boom"):
        run_experiment(exp, load_config(exp), callbacks=[Boom()])
    assert only_run(MlflowClient(store), "failing").info.status == "FAILED"


def test_a_refused_store_is_a_config_error(tmp_path, monkeypatch):
    from trainlab.errors import ConfigError

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    exp = write_exp(tmp_path / "refused", params({"mlflow": {"tracking_uri": f"file:{tmp_path / 'mlruns'}"}}))
    with pytest.raises(ConfigError, match="tracking URI"):
        run_experiment(exp, load_config(exp))
