"""trainlab.runs.run_experiment: what happens to a previous run, validation before archiving, the overfit check."""
import json

import pytest

from trainlab.config import parse_config
from trainlab.errors import ConfigError, ModelError, TrainingError
from trainlab.runs import run_experiment

from ..conftest import write_exp


def files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_resume_without_a_checkpoint_starts_a_new_run_and_says_so(tmp_path, tiny_params, caplog):
    exp = write_exp(tmp_path / "exp", tiny_params)
    with caplog.at_level("INFO", logger="trainlab"):
        outcome = run_experiment(exp, parse_config(tiny_params), existing="resume")
    assert not outcome.resumed and outcome.learner.loop.epoch == 3
    assert any("has no checkpoint to resume; starting a new run" in r.message for r in caplog.records)


def test_a_restart_that_fails_to_build_leaves_the_previous_run_in_place(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config(tiny_params))
    before = files(exp)
    log_before = (exp / "train.log").read_text()
    bad = {**tiny_params, "model": {"name": "mlp", "pretrained": "missing.pt"}}
    with pytest.raises(ModelError, match="missing.pt"):
        run_experiment(exp, parse_config(bad), existing="restart")
    assert files(exp) == before and not (exp / "archive").exists()  # nothing moved, nothing written
    assert (exp / "train.log").read_text() == log_before
    bad_monitor = {**tiny_params, "train": {**tiny_params["train"], "monitor": "valid.acuracy"}}
    with pytest.raises(ConfigError, match="Did you mean 'valid.accuracy'"):
        run_experiment(exp, parse_config(bad_monitor), existing="restart")
    assert files(exp) == before


def test_restart_moves_the_previous_run_only_once_the_new_one_is_built(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config(tiny_params))
    run_experiment(exp, parse_config(tiny_params), existing="restart")
    (archived,) = (exp / "archive").iterdir()
    assert (archived / "checkpoints" / "last.pt").is_file() and (archived / "train.log").is_file()
    assert (exp / "checkpoints" / "last.pt").is_file() and "previous run moved to" in (exp / "train.log").read_text()


def test_continue_resumes_the_same_params_and_restarts_changed_ones(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config(tiny_params))
    same = run_experiment(exp, parse_config(tiny_params), existing="continue")
    assert same.resumed and same.learner.loop.epoch == 3 and not (exp / "archive").exists()
    changed = run_experiment(exp, parse_config(tiny_params, ["optim.lr=0.02"]), existing="continue")
    assert not changed.resumed and len(list((exp / "archive").iterdir())) == 1


def test_refuse_and_resume_with_changed_params(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config(tiny_params))
    with pytest.raises(ConfigError, match="already holds a run"):
        run_experiment(exp, parse_config(tiny_params))
    with pytest.raises(ConfigError, match="params changed since .*optim.lr"):
        run_experiment(exp, parse_config(tiny_params, ["optim.lr=0.5"]), existing="resume")


def test_overfit_batches_that_do_not_overfit_fail(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    cfg = parse_config(tiny_params, ["optim.lr=1e-9", "train.epochs=2"])
    with pytest.raises(TrainingError, match="did not overfit 1 batches: accuracy 0.[0-9]+ < 0.99"):
        run_experiment(exp, cfg, overfit_batches=1)
    resolved = json.loads((exp / "params.resolved.json").read_text())
    assert resolved["_run"]["overfit_batches"] == 1
