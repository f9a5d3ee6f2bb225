import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from trainlab.config import parse_config
from trainlab.engine import Callback
from trainlab.errors import ConfigError
from trainlab.runs import run_experiment, write_params
from trainlab.experiments.search import make_sampler, plan_search, run_search
from trainlab.experiments.storage import StorageSpec
from trainlab.experiments.trial import PruningReporter

GRID = {"space": {"optim.lr": [0.003, 0.03], "model.args.hidden_sizes": [8, 16]}, "sampler": "grid"}


def states(parent):
    return {p.name: json.loads((p / "trial.json").read_text())["state"] for p in parent.iterdir()
            if (p / "trial.json").is_file()}


def test_grid_search_trains_one_child_per_point_and_writes_results(tmp_path, lab):
    parent = lab.write(tmp_path / "s", lab.tiny(**GRID))
    summary = run_search(parent, plot=False)
    assert summary.counts == {"complete": 4} and summary.ran == 4
    assert states(parent) == {f"lr={lr}_hidden_sizes={w}": "complete" for lr in (0.003, 0.03) for w in (8, 16)}
    child = json.loads((parent / "lr=0.03_hidden_sizes=16" / "params.json").read_text())
    assert child["optim"]["lr"] == 0.03 and child["model"]["args"]["hidden_sizes"] == 16 and "search" not in child
    for name in ("params.resolved.json", "checkpoints/best.pt", "history.json"):
        assert (parent / "lr=0.03_hidden_sizes=16" / name).is_file()
    rows = [line for line in (parent / "results.md").read_text().splitlines() if line.startswith("| lr=")]
    assert len(rows) == 4 and (parent / "results.csv").is_file()
    valid = json.loads((parent / "lr=0.03_hidden_sizes=16" / "params.resolved.json").read_text())["_run"]["splits"]
    assert f"Validation split: the same for all 4 runs (fingerprint {valid['valid']})." in \
        (parent / "results.md").read_text()  # every trial has the search's seed: one split
    values = [t["value"] for t in summary.trials]
    best = summary.best("max")
    assert best["value"] == max(values) and rows[0].startswith(f"| {best['folder']} ")
    # a second run finds nothing left to do and touches no trial
    stamp = (parent / "lr=0.03_hidden_sizes=16" / "history.json").stat().st_mtime_ns
    again = run_search(parent, plot=False)
    assert again.ran == 0 and again.counts == {"complete": 4}
    assert (parent / "lr=0.03_hidden_sizes=16" / "history.json").stat().st_mtime_ns == stamp


class StopAfter(Callback):
    """Ends a run after ``n`` epochs, as a kill between two epochs would."""

    def __init__(self, n):
        self.n = n

    def on_epoch_end(self, learner):
        learner.should_stop = learner.loop.epoch >= self.n


def test_a_trial_left_running_by_a_killed_search_is_resumed_in_its_folder(tmp_path, lab):
    parent = lab.write(tmp_path / "s", lab.tiny(epochs=2, **GRID))
    run_search(parent, overrides=["search.trials=1"], plot=False)
    plan = plan_search(parent)
    study = optuna.load_study(study_name="search", storage=StorageSpec("sqlite", str(parent / "study.db")).open(),
                              sampler=make_sampler("grid", plan.space, seed=0))
    done = study.trials[0]
    # what a SIGKILL leaves: a RUNNING trial whose folder holds the last.pt of a half-done run
    orphan = study.ask(fixed_distributions=plan.space.distributions())
    values = plan.space.decode(orphan.params)
    folder = plan.space.folder_name(values)
    orphan.set_user_attr("folder", folder)
    raw = plan.space.apply(plan.base, values)
    write_params(parent / folder, raw)
    run_experiment(parent / folder, parse_config(raw), existing="continue", callbacks=[StopAfter(1)])
    first_epoch = json.loads((parent / folder / "history.json").read_text())["rows"][0]
    with pytest.raises(ConfigError, match="started with other settings"):
        run_search(parent, overrides=["train.epochs=1"], plot=False)  # the study belongs to a 2-epoch search
    summary = run_search(parent, plot=False)
    assert orphan.number not in {t["number"] for t in summary.trials}  # superseded by its retry
    assert sorted(t["state"] for t in summary.trials) == ["complete"] * 4
    assert len({t["folder"] for t in summary.trials}) == 4 and summary.ran == 3
    assert next(t["value"] for t in summary.trials if t["number"] == done.number) == done.value
    rows = json.loads((parent / folder / "history.json").read_text())["rows"]
    assert len(rows) == 2 and rows[0] == first_epoch  # continued from last.pt, not started over
    assert json.loads((parent / folder / "params.resolved.json").read_text())["_run"]["resumed"] is True


def test_a_crashing_trial_is_recorded_and_the_search_goes_on(tmp_path, lab):
    # float16 needs CUDA: the config is valid, the Learner refuses it -> that trial fails
    params = lab.tiny(space={"train.precision": ["32", "16"]}, sampler="grid")
    parent = lab.write(tmp_path / "s", params)
    summary = run_search(parent, plot=False)
    by_folder = {t["folder"]: t for t in summary.trials}
    assert by_folder["precision=32"]["state"] == "complete"
    assert by_folder["precision=16"]["state"] == "failed"
    assert "precision 16" in by_folder["precision=16"]["error"]
    info = json.loads((parent / "precision=16" / "trial.json").read_text())
    assert info["state"] == "failed" and "CUDA" in info["error"]
    assert "failed: ConfigError" in (parent / "results.md").read_text()
    assert run_search(parent, plot=False).ran == 0  # crashes are not retried...
    assert run_search(parent, retry_failed=True, plot=False).ran == 1  # ...unless asked


def test_random_sampler_runs_exactly_the_trials_asked(tmp_path, lab):
    space = {"optim.lr": {"low": 1e-3, "high": 1e-1, "log": True}, "model.args.hidden_sizes": {"low": 4, "high": 12}}
    parent = lab.write(tmp_path / "s", lab.tiny(space=space, sampler="random", trials=3))
    summary = run_search(parent, plot=False)
    assert summary.counts == {"complete": 3}
    folders = sorted(p.name for p in parent.iterdir() if (p / "trial.json").is_file())
    assert [f[:10] for f in folders] == ["trial-000_", "trial-001_", "trial-002_"]
    lrs = [json.loads((parent / f / "params.json").read_text())["optim"]["lr"] for f in folders]
    assert all(1e-3 <= lr <= 1e-1 for lr in lrs) and len(set(lrs)) == 3


def test_plan_errors_and_the_legacy_hyper_search(tmp_path, lab):
    lab.write(tmp_path / "plain", lab.tiny())
    with pytest.raises(ConfigError, match="no search block"):
        plan_search(tmp_path / "plain")
    lab.write(tmp_path / "tpe", lab.tiny(space={"optim.lr": [0.1, 0.01]}, sampler="tpe"))
    with pytest.raises(ConfigError, match="search.trials is required"):
        plan_search(tmp_path / "tpe")
    lab.write(tmp_path / "metric", lab.tiny(space={"optim.lr": [0.1]}, monitor="accuracy"))
    with pytest.raises(ConfigError, match="search.monitor 'accuracy'"):
        plan_search(tmp_path / "metric")
    legacy = {"arch": "mlp", "num_epochs": 1, "learning_rate": 0.01,
              "hyper_search": {"learning_rate": [0.001, 0.01], "batch_size": [16, 32]}}
    lab.write(tmp_path / "legacy", legacy)
    with pytest.warns(UserWarning, match="legacy"):
        plan = plan_search(tmp_path / "legacy")
    assert plan.quota == 4 and plan.space.keys == ["optim.lr", "data.batch_size"]


class FakeTrial:
    def __init__(self, prune_at: int):
        self.prune_at, self.reports = prune_at, []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) >= self.prune_at


def tiny_learner(callbacks):
    import torch

    from trainlab.config import DataConfig
    from trainlab.data import data_from_config
    from trainlab.engine import Learner

    data = data_from_config(DataConfig(name="synthetic", batch_size=32, args={"samples": 128, "image_size": 8}), seed=0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    return Learner(model, data, optimizer=torch.optim.Adam(model.parameters(), 1e-2), callbacks=callbacks)


def test_pruning_reporter_feeds_each_validation_and_stops_the_run():
    trial = FakeTrial(prune_at=2)
    reporter = PruningReporter(trial, "valid.accuracy")
    learner = tiny_learner(callbacks=[reporter]).fit(5)
    assert [s for s, _ in trial.reports] == [1, 2] and reporter.pruned_at == 2
    assert learner.loop.epoch == 2 and "pruned after epoch 2" in learner.stop_reason
    assert trial.reports[1][1] == learner.history[1]["valid.accuracy"]
    with pytest.raises(ConfigError, match="valid.acc"):
        tiny_learner(callbacks=[PruningReporter(FakeTrial(9), "valid.acc")]).fit(1)


def test_median_pruner_stops_a_hopeless_trial(tmp_path, lab):
    # lr 1e-6 cannot learn in 3 epochs; the median of the two good trials prunes it after epoch 2
    params = lab.tiny(epochs=3, space={"optim.lr": [0.03, 0.02, 1e-6]}, sampler="grid", pruner="median")
    parent = lab.write(tmp_path / "s", params)
    study = optuna.create_study(study_name="search", direction="maximize",
                                storage=StorageSpec("sqlite", str(parent / "study.db")).open())
    for values in ({"optim.lr": 0.03}, {"optim.lr": 0.02}, {"optim.lr": 1e-6}):  # a fixed order
        study.enqueue_trial(values)
    summary = run_search(parent, plot=False)
    by_folder = {t["folder"]: t["state"] for t in summary.trials}
    assert by_folder == {"lr=0.03": "complete", "lr=0.02": "complete", "lr=1e-06": "pruned"}, by_folder
    assert len(json.loads((parent / "lr=1e-06" / "history.json").read_text())["rows"]) == 2


@pytest.mark.slow
def test_two_workers_killed_midway_finish_only_the_missing_trials(tmp_path, lab):
    parent = lab.write(tmp_path / "s", lab.tiny(epochs=6, **GRID))
    cmd = [sys.executable, "-m", "trainlab", "search", str(parent), "--workers", "2"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and "complete" not in states(parent).values():
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = states(parent)
    assert "complete" in before.values() and list(before.values()).count("complete") < 4
    stamps = {n: (parent / n / "history.json").stat().st_mtime_ns for n, s in before.items() if s == "complete"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert states(parent) == {f"lr={lr}_hidden_sizes={w}": "complete" for lr in (0.003, 0.03) for w in (8, 16)}
    assert {n: (parent / n / "history.json").stat().st_mtime_ns for n in stamps} == stamps
    assert "4/4 trials (4 complete)" in out.stdout
