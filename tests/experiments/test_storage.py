import time
from datetime import datetime
from types import SimpleNamespace

import pytest

from trainlab.errors import ConfigError
from trainlab.experiments.storage import STALE_S, StorageSpec, choose_storage, is_stale, search_lock, share_lock


def test_storage_file_follows_workers_and_an_existing_file_wins(tmp_path):
    assert choose_storage(tmp_path, 1).kind == "sqlite"
    assert choose_storage(tmp_path, 3).kind == "journal"
    (tmp_path / "study.db").touch()
    assert choose_storage(tmp_path, 3).kind == "sqlite"  # a resumed search keeps its study
    (tmp_path / "study.db").unlink()
    (tmp_path / "study.journal").touch()
    assert choose_storage(tmp_path, 1).kind == "journal"
    spec = choose_storage(tmp_path, 1, "postgresql+psycopg://me:secret@db.example/lab")
    assert spec.remote and "secret" not in spec.describe() and "db.example/lab" in spec.describe()
    with pytest.raises(ConfigError, match="not a database URL"):
        choose_storage(tmp_path, 1, "study.db")


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_local_storages_open_and_hold_a_study(tmp_path, kind):
    import optuna

    path = tmp_path / ("study.db" if kind == "sqlite" else "study.journal")
    spec = StorageSpec(kind, str(path))
    study = optuna.create_study(study_name="s", storage=spec.open())
    study.tell(study.ask(), 1.5)
    again = optuna.load_study(study_name="s", storage=StorageSpec(kind, str(path)).open())
    assert [t.value for t in again.trials] == [1.5] and path.is_file()


def test_a_second_search_on_the_same_folder_is_refused(tmp_path):
    first = search_lock(tmp_path)
    with pytest.raises(ConfigError, match="another `trainlab search` is running"):
        search_lock(tmp_path)
    share_lock(first)  # workers hold it shared: a new coordinator is still kept out
    with pytest.raises(ConfigError):
        search_lock(tmp_path)
    first.close()
    search_lock(tmp_path).close()


def test_staleness_locally_and_with_heartbeats():
    now = time.time()
    fresh = SimpleNamespace(user_attrs={"heartbeat": now - 10}, datetime_start=datetime.fromtimestamp(now - 999))
    old = SimpleNamespace(user_attrs={"heartbeat": now - STALE_S - 1}, datetime_start=None)
    young = SimpleNamespace(user_attrs={}, datetime_start=datetime.fromtimestamp(now - 5))
    assert is_stale(fresh, remote=False)  # the coordinator holds the folder's lock: nobody else runs it
    assert not is_stale(fresh, remote=True, now=now)
    assert is_stale(old, remote=True, now=now)
    assert not is_stale(young, remote=True, now=now)


def test_a_trial_claimed_on_this_machine_is_stale_once_its_process_is_gone():
    import subprocess
    import sys

    from trainlab.experiments.storage import owner_alive, this_process

    me = this_process()
    assert owner_alive(me) is True
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = {**me, "pid": gone.pid}
    reused = {**me, "started": "1"}  # our pid, but a process that started at another time: not ours
    elsewhere = {**me, "machine": "another-host/boot"}
    assert owner_alive(dead) is False and owner_alive(reused) is False and owner_alive(elsewhere) is None
    now = time.time()
    beating = {"heartbeat": now}  # a fresh heartbeat does not save a trial whose process is known dead
    assert is_stale(SimpleNamespace(user_attrs={**beating, "owner": dead}, datetime_start=None), remote=True, now=now)
    assert not is_stale(SimpleNamespace(user_attrs={"heartbeat": now - 10 * STALE_S, "owner": me},
                                        datetime_start=None), remote=True, now=now)  # alive here: not stale
    assert not is_stale(SimpleNamespace(user_attrs={**beating, "owner": elsewhere}, datetime_start=None),
                        remote=True, now=now)


def test_the_study_lock_of_local_storage_is_the_folder_claim_lock(tmp_path):
    import fcntl

    from trainlab.experiments.storage import study_lock

    spec = StorageSpec("journal", str(tmp_path / "study.journal"))
    with study_lock(spec, spec.open(), tmp_path, "search"):
        with open(tmp_path / ".claim.lock") as f, pytest.raises(BlockingIOError):
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(tmp_path / ".claim.lock") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
