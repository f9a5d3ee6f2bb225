"""CPU threads of a training that shares its machine: how OpenMP threads wait, and how many there are.

PyTorch's CPU kernels run on an OpenMP pool (libgomp in the Linux wheels). A libgomp thread that waits
for work spins (300,000 iterations by default) before it sleeps, and a pool sized to every core assumes
nothing else runs. Two such trainings on 2 cores spend their time spinning against each other's
descheduled threads. So trainlab sizes the pool to the cores that are free:

1. it starts with the cores this process may use (CPU affinity, a cgroup quota) divided among the processes
   of its job on this machine (:func:`job_processes`: search and evolve workers, DDP ranks), at most
   ``train.num_threads`` or ``OMP_NUM_THREADS``;
2. while training, it measures how many cores other processes keep busy (:class:`CpuMeter`, from
   ``/proc/stat`` minus its own CPU time; niced processes do not count, they yield) and lowers or raises
   its pool to the cores left (:class:`ThreadPolicy`).

A pool that never waits for a descheduled thread can keep libgomp's spinning, which is faster alone
(sleeping waits, ``OMP_WAIT_POLICY=PASSIVE``, made a quiet epoch 35-40% slower on the example).

See docs/threads.md for the measurements behind these choices.

Example:
    >>> policy = ThreadPolicy(cap=2, usable=2, meter=None)
    >>> policy.threads
    2
    >>> choose_threads(cap=2, usable=2, others=1.1)
    1
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, MutableMapping

WORKERS_ENV = "TRAINLAB_WORKERS"  # set by trainlab for processes it starts side by side (search, evolve)
SLACK = 0.2  # cores of background noise ignored when counting what others use
CHECK_EVERY_S = 1.0


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables while inside (for the processes started there), then restore them.

    Example:
        >>> with environment({"TRAINLAB_WORKERS": "2"}):
        ...     os.environ["TRAINLAB_WORKERS"]
        '2'
    """
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cgroup_quota() -> float | None:
    """Cores allowed by a cgroup v2 CPU quota (a container's --cpus), or None."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, bounded by a cgroup quota.

    Example:
        >>> usable_cores() >= 1
        True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def job_processes(environ: MutableMapping[str, str] | None = None) -> int:
    """How many processes of this job share the machine's cores: torchrun's ``LOCAL_WORLD_SIZE`` (DDP ranks
    on this machine) or ``TRAINLAB_WORKERS`` (search and evolve workers), whichever is larger.

    Example:
        >>> job_processes({"LOCAL_WORLD_SIZE": "2"})
        2
    """
    environ = os.environ if environ is None else environ
    counts = [1]
    for name in ("LOCAL_WORLD_SIZE", WORKERS_ENV):
        with contextlib.suppress(ValueError):
            counts.append(int(environ.get(name, "1")))
    return max(counts)


def thread_cap(requested: int | None, environ: MutableMapping[str, str] | None = None) -> int:
    """The most threads a training may use: ``requested`` (train.num_threads), else ``OMP_NUM_THREADS``,
    else the usable cores.

    Example:
        >>> thread_cap(3, {})
        3
        >>> thread_cap(None, {"OMP_NUM_THREADS": "1"})
        1
    """
    environ = os.environ if environ is None else environ
    if requested:
        return requested
    with contextlib.suppress(ValueError):
        env = int(environ.get("OMP_NUM_THREADS", "").split(",")[0])
        if env > 0:
            return env
    return usable_cores()


def choose_threads(*, cap: int, usable: int, others: float) -> int:
    """Threads that fit the cores ``others`` (busy cores of other processes) leave free, 1 to ``cap``.

    A core another process keeps half busy is not free: a pool thread on it would stall every parallel
    region of ours while it waits for its turn.

    Example:
        >>> [choose_threads(cap=2, usable=2, others=x) for x in (0.0, 0.5, 1.0, 1.9)]
        [2, 1, 1, 1]
    """
    return max(1, min(cap, math.floor(usable - others + SLACK)))


class CpuMeter:
    """Cores kept busy by other processes on this process's CPUs, measured between two calls.

    Reads the per-CPU lines of ``/proc/stat`` (user, system, irq, softirq time; niced time only when this
    process is niced too) and subtracts this process's own CPU time (``os.times``). None where
    ``/proc/stat`` does not exist.

    Example:
        >>> meter = CpuMeter()
        >>> others = meter.others()  # cores busy with other work since the meter was made (None off Linux)
    """

    def __init__(self, stat_path: str = "/proc/stat") -> None:
        self.stat_path = stat_path
        try:
            self.cpus = os.sched_getaffinity(0)
        except AttributeError:
            self.cpus = set(range(os.cpu_count() or 1))
        self.count_nice = os.nice(0) > 0 if hasattr(os, "nice") else False
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.last = self._sample()

    def _busy(self) -> float | None:
        """Seconds of non-idle time on our CPUs since boot, or None without /proc/stat."""
        total = 0
        try:
            with open(self.stat_path) as f:
                for line in f:
                    if not line.startswith("cpu"):
                        break
                    name, *fields = line.split()
                    if name == "cpu" or int(name[3:]) not in self.cpus:
                        continue
                    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
                    total += user + system + irq + softirq + (nice if self.count_nice else 0)
        except (OSError, ValueError):
            return None
        return total / self.tick

    def _sample(self) -> tuple[float, float | None, float]:
        own = os.times()
        return time.monotonic(), self._busy(), own.user + own.system

    def elapsed(self) -> float:
        """Seconds since the last measurement."""
        return time.monotonic() - self.last[0]

    def others(self) -> float | None:
        """Busy cores of other processes since the previous call (or since the meter was made)."""
        (t0, busy0, own0), (t1, busy1, own1) = self.last, self._sample()
        self.last = (t1, busy1, own1)
        if busy0 is None or busy1 is None or t1 <= t0:
            return None
        return max(0.0, (busy1 - busy0) - (own1 - own0)) / (t1 - t0)


class ThreadPolicy:
    """The pool size of one training: starts at ``usable // processes`` (at most ``cap``), then follows
    the cores other processes leave free, measured every :data:`CHECK_EVERY_S` seconds by ``meter``.

    Fewer threads take effect at once; more only when two measurements in a row agree, so a short burst
    of other work does not make the pool flap.

    Example:
        >>> policy = ThreadPolicy(cap=4, usable=4, processes=2, meter=None)
        >>> policy.threads, policy.update()  # no meter: the starting share stays
        (2, None)
    """

    def __init__(self, *, cap: int, usable: int | None = None, processes: int = 1,
                 meter: CpuMeter | None = None) -> None:
        self.cap, self.usable = cap, usable or usable_cores()
        self.threads = max(1, min(cap, self.usable // max(1, processes)))
        self.meter, self._raise_votes = meter, 0
        self.history: list[tuple[float, float, int]] = []  # (time, others' busy cores, threads chosen)

    def update(self, min_interval: float = CHECK_EVERY_S) -> int | None:
        """Measure (once ``min_interval`` seconds passed) and return the new thread count when it changes."""
        if self.meter is None or self.meter.elapsed() < min_interval:
            return None
        others = self.meter.others()
        if others is None:
            return None
        target = choose_threads(cap=self.cap, usable=self.usable, others=others)
        self.history.append((time.monotonic(), others, target))
        del self.history[:-100]
        if target > self.threads:
            self._raise_votes += 1
            if self._raise_votes < 2:
                return None
        self._raise_votes = 0
        if target == self.threads:
            return None
        self.threads = target
        return target
