"""torch's intra-op thread count for a training: fixed, or following the cores other processes leave free.

Example:
    >>> threads = configure_threads(2, adaptive=True)  # torch.set_num_threads(<= 2) and a callback
    >>> isinstance(threads, AdaptiveThreads)
    True
"""
from __future__ import annotations

import logging
import time

import torch

from ...threads import CHECK_EVERY_S, CpuMeter, ThreadPolicy, job_processes, thread_cap
from ..callback import Callback

log = logging.getLogger(__name__)


class AdaptiveThreads(Callback):
    """Applies a :class:`~trainlab.threads.ThreadPolicy` with ``torch.set_num_threads``: once when the
    Learner is built (the time spent loading data is the first measurement) and then about every second
    of training, between two batches.

    Example:
        >>> from trainlab.threads import ThreadPolicy
        >>> cb = AdaptiveThreads(ThreadPolicy(cap=1, usable=2, meter=None))  # Learner(..., callbacks=[cb])
    """

    def __init__(self, policy: ThreadPolicy) -> None:
        self.policy = policy
        self._next = time.monotonic() + CHECK_EVERY_S

    def on_setup(self, learner) -> None:
        self._apply(self.policy.update(min_interval=0.25))

    def on_train_batch_start(self, learner) -> None:
        now = time.monotonic()
        if now >= self._next:  # one clock read per batch; /proc/stat only once a second
            self._next = now + CHECK_EVERY_S
            self._apply(self.policy.update())

    def _apply(self, threads: int | None) -> None:
        if threads is not None:
            log.debug("%d CPU threads (other processes keep %.1f cores busy)", threads, self.policy.history[-1][1])
            torch.set_num_threads(threads)


def configure_threads(num_threads: int | None, *, adaptive: bool = True) -> AdaptiveThreads | None:
    """Set torch's thread count for a training and return the callback that keeps adapting it (or None).

    ``adaptive=False``: exactly ``num_threads`` (torch's own default when None), whatever else runs.
    ``adaptive=True``: at most ``num_threads`` (else ``OMP_NUM_THREADS``, else the usable cores), starting
    from this process's share of the cores and following what other processes leave free.
    """
    if not adaptive:
        if num_threads:
            torch.set_num_threads(num_threads)
        return None
    policy = ThreadPolicy(cap=thread_cap(num_threads), processes=job_processes(), meter=CpuMeter())
    torch.set_num_threads(policy.threads)
    return AdaptiveThreads(policy)
