"""Errors a user can cause. The CLI prints their message on one line and exits with code 2.

Every message says what was received, what is allowed, and how to fix it.
"""
from __future__ import annotations


class TrainlabError(Exception):
    """Base class of every error a user can cause (bad config, missing data, bad input)."""


class ConfigError(TrainlabError):
    """The params file or an override is invalid."""


class DataError(TrainlabError):
    """A dataset root, file or split is missing or unreadable."""


class ModelError(TrainlabError):
    """A model name, weights file or shape does not fit."""


class CheckpointError(TrainlabError):
    """A checkpoint is missing, corrupt, or does not match the run."""


class TrainingError(TrainlabError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""


class UnsupportedLayerError(TrainlabError):
    """A transform or counter met a layer or graph node it cannot handle."""


class UnknownNameError(TrainlabError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
