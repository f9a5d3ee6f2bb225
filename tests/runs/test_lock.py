"""One process per experiment folder (trainlab.runs.lock), and what a killed run leaves behind."""
import contextlib
import os
import signal
import socket

import pytest

from trainlab.cli import main
from trainlab.config import parse_config
from trainlab.engine import Callback
from trainlab.errors import FolderBusyError
from trainlab.runs import folder_lock, run_experiment
from trainlab.runs.lock import LOCK_FILE

from ..conftest import write_exp
from ..faults import fork_child


class Pause(Callback):
    """Tells the parent (a byte on ``started``) that training began, then waits for a byte on ``go``."""

    def __init__(self, started, go):
        self.started, self.go = started, go

    def on_epoch_start(self, learner):
        if learner.loop.epoch == 0:
            os.write(self.started, b"s")
            os.read(self.go, 1)


@pytest.fixture
def held(tmp_path):
    """A folder whose lock another process holds: (folder, that process's pid); the process ends with the test."""
    folder = tmp_path / "held"
    started_r, started_w = os.pipe()

    def hold():
        with folder_lock(folder, "another run"):
            os.write(started_w, b"s")
            signal.pause()

    pid = fork_child(hold)
    assert os.read(started_r, 1) == b"s"
    yield folder, pid
    with contextlib.suppress(ProcessLookupError, ChildProcessError):  # the test may have ended it
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_two_trainings_on_one_folder_the_second_is_refused_naming_the_first(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", tiny_params)
    started_r, started_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = fork_child(lambda: run_experiment(exp, parse_config(tiny_params), callbacks=[Pause(started_w, go_r)]))
    try:
        assert os.read(started_r, 1) == b"s"  # the first training holds the folder and trains
        before = sorted(p.name for p in exp.iterdir())
        for existing, force in (("resume", True), ("restart", False), ("refuse", False)):
            with pytest.raises(FolderBusyError) as info:  # before: both ran, and mixed their files
                run_experiment(exp, parse_config({**tiny_params, "train": {"epochs": 3, "seed": 1}}),
                               existing=existing, force=force)
            message = str(info.value)
            assert f"pid {pid} on {socket.gethostname()}" in message and "in use by another trainlab process" in message
        assert sorted(p.name for p in exp.iterdir()) == before  # nothing archived, nothing written
        assert main(["train", str(exp), "--restart"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"pid {pid}" in err
    finally:
        os.write(go_w, b"g")
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # the first training finished undisturbed
    outcome = run_experiment(exp, parse_config(tiny_params), existing="resume")  # the folder is free again
    assert outcome.resumed and outcome.learner.loop.epoch == 3


def test_a_killed_holder_releases_the_folder(held):
    folder, pid = held
    with pytest.raises(FolderBusyError, match=f"pid {pid} .*: another run"):
        with folder_lock(folder):
            pass
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with folder_lock(folder, "the next run"):  # no stale lock: the kernel released it
        assert f"pid {os.getpid()}" in (folder / LOCK_FILE).read_text()


def test_the_holder_may_take_its_folder_again(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    with folder_lock(exp, "an evolve run"):  # evolve trains its base model in its own folder
        assert run_experiment(exp, parse_config(tiny_params)).learner.loop.epoch == 3
        with folder_lock(exp):
            pass
    assert (exp / LOCK_FILE).is_file()


def test_stale_temporary_files_of_killed_writes_are_removed_on_resume(tmp_path, tiny_params):
    exp = write_exp(tmp_path / "exp", tiny_params)
    run_experiment(exp, parse_config({**tiny_params, "train": {"epochs": 1}}))
    stale = [exp / "checkpoints" / ".last.pt.k3j_h5g6.tmp", exp / "checkpoints" / ".best.pt.00aa11bb.tmp",
             exp / ".history.json.zz9y8x7w.tmp", exp / "checkpoints" / ".trainlab-write-test.abcdefgh"]
    kept = [exp / "checkpoints" / ".notes.tmp", exp / "notes.last.pt.k3j4h5g6.tmp"]  # not names mkstemp gave
    for path in stale + kept:
        path.write_bytes(b"half a file")
    run_experiment(exp, parse_config(tiny_params), existing="resume", force=True)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def test_evolve_and_morph_out_refuse_a_held_folder(held, tmp_path, tiny_params, capsys):
    from trainlab.evolve import evolve

    folder, pid = held
    params = {**tiny_params, "evolve": {"population": 2, "keep": 1, "rounds": 1, "ensemble": {"size": 1}}}
    write_exp(folder, params)
    with pytest.raises(FolderBusyError, match=f"pid {pid} "):
        evolve(folder, parse_config(params))
    assert not (folder / "checkpoints").exists()  # nothing trained in a folder another process holds
    exp = write_exp(tmp_path / "small", {**tiny_params, "train": {"epochs": 1}})
    assert main(["train", str(exp)]) == 0
    capsys.readouterr()
    assert main(["morph", str(exp), "--widen", "2", "--out", str(folder.parent / "held-out")]) == 0
    (folder / "params.json").unlink()  # the check for a params file is not what refuses it
    assert main(["morph", str(exp), "--widen", "2", "--out", str(folder)]) == 2
    assert f"pid {pid}" in capsys.readouterr().err and not (folder / "init.pt").exists()


def test_another_thread_of_the_holder_is_refused_too(tmp_path):
    import threading

    errors = []

    def second():
        try:
            with folder_lock(tmp_path):
                pass
        except FolderBusyError as e:
            errors.append(str(e))

    with folder_lock(tmp_path, "a search trial"):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(errors) == 1 and f"another thread of this process (pid {os.getpid()})" in errors[0]
    with folder_lock(tmp_path):  # released: any thread may take it now
        pass
