"""Running experiment folders: the one path from a params file to a trained, evaluated run.

The CLI, search trials, compare seeds and evolve members all train through :func:`run_experiment` and
read checkpoints through :func:`learner_for_checkpoint`. This layer sits on the engine and below the
features: it imports the engine, config, data and models, and no feature (features extend it through the
registries: their config sections, callbacks, tasks and models).

Example:
    >>> from trainlab.runs import run_experiment
    >>> outcome = run_experiment("experiments/digits-cnn", load_config("experiments/digits-cnn"),
    ...                          existing="restart")  # doctest: +SKIP
    >>> outcome.learner.history.best("valid.loss")["epoch"]  # doctest: +SKIP
    17
"""
from .evaluate import (Evaluation, checkpoint_path, evaluate_checkpoint, learner_for_checkpoint, model_for_folder,
                       predictions, read_predictions)
from .folder import archive_previous_run, declare_outputs, has_run, run_log, run_outputs, write_params, write_resolved
from .lock import folder_lock
from .train import RunOutcome, config_changes, run_experiment

__all__ = ["Evaluation", "RunOutcome", "archive_previous_run", "checkpoint_path", "config_changes", "declare_outputs",
           "evaluate_checkpoint", "folder_lock", "has_run", "learner_for_checkpoint", "model_for_folder", "predictions",
           "read_predictions", "run_experiment", "run_log", "run_outputs", "write_params", "write_resolved"]
