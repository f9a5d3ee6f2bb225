import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from trainlab import threads
from trainlab.threads import (CpuMeter, ThreadPolicy, choose_threads, environment, job_processes, thread_cap,
                              usable_cores)


def test_environment_sets_then_restores(monkeypatch):
    monkeypatch.setenv("TRAINLAB_A", "before")
    monkeypatch.delenv("TRAINLAB_B", raising=False)
    with environment({"TRAINLAB_A": "1", "TRAINLAB_B": "2"}):
        assert (os.environ["TRAINLAB_A"], os.environ["TRAINLAB_B"]) == ("1", "2")
    assert os.environ["TRAINLAB_A"] == "before" and "TRAINLAB_B" not in os.environ


def test_job_processes_and_cap_read_the_environment():
    assert job_processes({}) == 1
    assert job_processes({"LOCAL_WORLD_SIZE": "2", "TRAINLAB_WORKERS": "3"}) == 3
    assert job_processes({"LOCAL_WORLD_SIZE": "x"}) == 1
    assert thread_cap(4, {"OMP_NUM_THREADS": "1"}) == 4  # train.num_threads wins
    assert thread_cap(None, {"OMP_NUM_THREADS": "3,1"}) == 3  # nested lists: the outer level
    assert thread_cap(None, {"OMP_NUM_THREADS": ""}) == usable_cores() >= 1


def test_choose_threads_leaves_half_busy_cores_alone():
    assert [choose_threads(cap=4, usable=4, others=x) for x in (0.0, 0.1, 0.9, 1.5, 3.0, 8.0)] == [4, 4, 3, 2, 1, 1]
    assert choose_threads(cap=2, usable=8, others=0.0) == 2


def _stat(path: Path, busy: tuple[int, int], nice: int = 0) -> None:
    """A /proc/stat with two CPUs, ``busy`` user ticks each (plus system 0, idle 1000)."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{i} {b} {nice} 0 1000 0 0 0 0 0 0" for i, b in enumerate(busy)]
    path.write_text("\n".join(lines + ["intr 1 2 3", "ctxt 5"]) + "\n")


def test_cpu_meter_counts_other_processes_only(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    _stat(stat, (0, 0))
    clock = iter([10.0, 12.0, 14.0, 16.0])
    own = iter([5.0, 5.0, 7.0, 9.0])  # our own CPU seconds at each sample
    monkeypatch.setattr(threads.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(threads.os, "times", lambda: SimpleNamespace(user=next(own), system=0.0))
    meter = CpuMeter(str(stat))
    meter.cpus, meter.tick, meter.count_nice = {0, 1}, 100, False
    _stat(stat, (200, 100), nice=500)  # 3 busy seconds in 2 s, none of them ours; niced time is ignored
    assert meter.others() == pytest.approx(1.5)
    _stat(stat, (300, 200))  # 2 more busy seconds, 2 of them ours
    assert meter.others() == 0.0
    meter.cpus = {1}  # outside our affinity, a CPU does not count
    _stat(stat, (900, 200))
    assert meter.others() == 0.0


def test_cpu_meter_without_proc_stat_measures_nothing(tmp_path):
    meter = CpuMeter(str(tmp_path / "missing"))
    assert meter.others() is None and ThreadPolicy(cap=2, usable=2, meter=meter).update(0) is None


class Scripted:
    """A meter whose measurements are given in advance."""

    def __init__(self, values):
        self.values = list(values)

    def elapsed(self):
        return 99.0

    def others(self):
        return self.values.pop(0)


def test_policy_starts_from_its_share_drops_at_once_and_rises_on_two_votes():
    policy = ThreadPolicy(cap=4, usable=4, processes=2, meter=Scripted([0.0, 2.0, 0.0, 1.0, 0.0, 0.0]))
    assert policy.threads == 2
    assert policy.update() is None  # quiet once: not yet
    assert policy.update() is None  # back to its share; the vote is reset
    assert policy.update() is None and policy.threads == 2
    assert policy.update() == 3  # others keep 1 core busy: 3 of 4 are free... after two votes (0.0 then 1.0)
    assert policy.update() is None
    assert policy.update() == 4
    assert ThreadPolicy(cap=8, usable=4, processes=1, meter=Scripted([3.5])).update() == 1


def test_policy_waits_for_a_long_enough_interval():
    meter = Scripted([3.0])
    meter.elapsed = lambda: 0.1
    assert ThreadPolicy(cap=2, usable=2, meter=meter).update(min_interval=0.25) is None and meter.values == [3.0]


def test_nproc_ranks_start_from_their_share_of_the_cores(monkeypatch):
    import argparse

    from trainlab.commands import train as train_command

    seen = {}
    monkeypatch.setattr(train_command.subprocess, "call", lambda cmd, env: seen.update(cmd=cmd, env=env) or 0)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert train_command.launch_torchrun(argparse.Namespace(nproc=2), ["train", "exp", "--nproc", "2"]) == 0
    assert seen["env"]["OMP_NUM_THREADS"] == str(max(1, usable_cores() // 2))
    assert "--nproc" not in seen["cmd"]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice stands
    train_command.launch_torchrun(argparse.Namespace(nproc=2), ["train", "exp", "--nproc=2"])
    assert seen["env"]["OMP_NUM_THREADS"] == "3"
