"""The callbacks every run can use: checkpoints, early stopping, schedules, signals, reporting, threads.

The mechanism (the :class:`~trainlab.engine.callback.Callback` base and its ordering) is
:mod:`trainlab.engine.callback`; features add their own callbacks in their packages.
"""
