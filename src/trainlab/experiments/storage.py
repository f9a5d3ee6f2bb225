"""Where a search's optuna study lives, and the locks that keep its trials from being lost or run twice.

Local storage is a file in the search folder: ``study.db`` (SQLite) for one worker, ``study.journal``
(optuna's journal file storage, append-only with a file lock) for several, since SQLite locks under
concurrent writers. A file already there wins, so a resumed search keeps its study whatever
``--workers`` says. ``--storage postgresql+psycopg://...`` (any SQLAlchemy URL) lets searches on several
machines join one study.

Locks, locally (``fcntl.flock`` on files in the search folder, released by the OS when a process dies):
``.search.lock`` is held exclusively by the coordinator while it recovers interrupted trials, then
shared by it and its workers, so a second ``trainlab search`` on the same folder is refused while any
of them runs; ``.claim.lock`` serializes "is there a trial left? then take it", so N workers never
claim more trials than the search asks for.

With a database URL, several searches join one study (on one machine or many, with one shared search
folder or one per machine), so there is no folder lock; :func:`study_lock` serializes recovering and
claiming across all of them in the database itself (a PostgreSQL advisory lock; other databases fall
back to ``.claim.lock``, which only spans machines through a shared folder). A trial's
``owner`` (machine and process) tells a dead worker on this machine at once; a worker elsewhere is
presumed dead when its heartbeat is STALE_S old.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import ConfigError

SQLITE_FILE, JOURNAL_FILE = "study.db", "study.journal"
HEARTBEAT_S = 60  # remote storage: a RUNNING trial whose heartbeat is older than STALE_S was abandoned
STALE_S = 5 * HEARTBEAT_S


@dataclass(frozen=True)
class StorageSpec:
    """Picklable description of a study's storage (worker processes open it themselves)."""

    kind: str  # "sqlite" | "journal" | "url"
    location: str  # a file path or a database URL

    @property
    def remote(self) -> bool:
        return self.kind == "url"

    def describe(self) -> str:
        if self.kind == "url":
            return _hide_password(self.location)
        return self.location

    def open(self):
        """The optuna storage object."""
        import optuna

        if self.kind == "journal":
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(self.location))
        if self.kind == "sqlite":
            return optuna.storages.RDBStorage(f"sqlite:///{self.location}",
                                              engine_kwargs={"connect_args": {"timeout": 60}})
        try:
            with _schema_lock(self.location):
                return optuna.storages.RDBStorage(self.location)
        except (ImportError, ModuleNotFoundError) as e:
            raise ConfigError(f"--storage {self.describe()}: the database driver is missing ({e}); install it "
                              "(PostgreSQL: pip install 'psycopg[binary]' and write postgresql+psycopg://...).") from None
        except Exception as e:  # SQLAlchemy raises many types for a bad URL or an unreachable server
            raise ConfigError(f"--storage {self.describe()}: cannot open the database ({type(e).__name__}: {e}). "
                              "Check the URL, that the server runs and the database exists.") from None


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """PostgreSQL: one process at a time creates optuna's tables (two searches starting together on an empty
    database would both run CREATE TYPE/TABLE, and one would fail). Other databases: nothing."""
    if not url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine, text

    engine, key = create_engine(url), _lock_key("trainlab-optuna-schema")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def _lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit integer) for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _hide_password(url: str) -> str:
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme_user = head.rsplit(":", 1)[0]
    return f"{scheme_user}:***@{tail}"


def choose_storage(parent: Path, workers: int, url: str | None = None) -> StorageSpec:
    """The storage of the search in ``parent`` (see the module docstring for the rules).

    Example:
        >>> choose_storage(Path("/tmp/s"), 1).kind
        'sqlite'
    """
    if url:
        if "://" not in url:
            raise ConfigError(f"--storage {url!r} is not a database URL; e.g. postgresql+psycopg://user:pw@host/db "
                              "(leave --storage out to keep the study in the search folder).")
        return StorageSpec("url", url)
    parent = Path(parent).resolve()
    journal, sqlite = parent / JOURNAL_FILE, parent / SQLITE_FILE
    if journal.exists() or (workers > 1 and not sqlite.exists()):
        return StorageSpec("journal", str(journal))
    return StorageSpec("sqlite", str(sqlite))


@contextlib.contextmanager
def _locked(path: Path, mode: int) -> Iterator[IO]:
    f = open(path, "a+")
    try:
        fcntl.flock(f.fileno(), mode)
        yield f
    finally:
        f.close()  # closing releases the lock


def search_lock(parent: Path) -> IO:
    """Take ``.search.lock`` exclusively (the coordinator); raises when another search holds it."""
    f = open(Path(parent) / ".search.lock", "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise ConfigError(f"another `trainlab search` is running on {parent} (or its workers are still finishing "
                          "their trials); wait for it, or stop it first.") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def share_lock(f: IO) -> None:
    """Turn the coordinator's exclusive lock into a shared one once the study is consistent."""
    fcntl.flock(f.fileno(), fcntl.LOCK_SH)


def worker_lock(parent: Path) -> IO:
    """A worker's shared hold on ``.search.lock`` (keeps a new coordinator out while it works)."""
    f = open(Path(parent) / ".search.lock", "a+")
    fcntl.flock(f.fileno(), fcntl.LOCK_SH)
    return f


def claim_lock(parent: Path) -> contextlib.AbstractContextManager:
    """Exclusive, short: counting the study's trials and asking for the next one happen as one step."""
    return _locked(Path(parent) / ".claim.lock", fcntl.LOCK_EX)


@contextlib.contextmanager
def study_lock(spec: StorageSpec, storage, parent: Path, study_name: str) -> Iterator[None]:
    """Exclusive among every process of one search, on every machine: recovering and claiming trials.

    ``storage`` is what ``spec.open()`` returned. A PostgreSQL URL locks in the database
    (``pg_advisory_xact_lock``, released with the transaction, also when the process dies); local storage
    and other databases lock ``PARENT/.claim.lock``.

    Example:
        >>> with study_lock(StorageSpec("sqlite", "/tmp/s/study.db"), None, Path("/tmp/s"), "search"):  # doctest: +SKIP
        ...     trial = claim(study, quota, distributions)
    """
    engine = getattr(storage, "engine", None) if spec.remote else None
    dialect = engine.dialect.name if engine is not None else ""
    if dialect == "postgresql":
        from sqlalchemy import text

        key = _lock_key(f"trainlab-search:{study_name}")
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield
    else:
        with claim_lock(parent):
            yield


def _machine() -> str:
    """This machine: its host name and the kernel's boot id (two containers may share a host name)."""
    try:
        boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), None if unknown or not running."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name before ")" may hold spaces


def this_process() -> dict[str, str | int | None]:
    """Who runs a trial: recorded as the trial's ``owner`` when it is claimed."""
    return {"machine": _machine(), "pid": os.getpid(), "started": _started(os.getpid())}


def owner_alive(owner: dict) -> bool | None:
    """Whether the process that claimed a trial still runs: True/False on its own machine, None elsewhere."""
    if owner.get("machine") != _machine():
        return None
    pid = int(owner.get("pid", 0))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    started = _started(pid)
    return started is None or owner.get("started") in (None, started)  # a reused pid is another process


def is_stale(trial, *, remote: bool, now: float | None = None) -> bool:
    """Whether a RUNNING trial was abandoned by a worker that died.

    Locally the coordinator holds ``.search.lock`` exclusively when it asks, so every RUNNING trial is
    stale. With remote storage a trial claimed on this machine is stale once its process is gone; one
    claimed elsewhere when its heartbeat (a user attribute refreshed every HEARTBEAT_S seconds by its
    worker) is older than STALE_S.
    """
    if not remote:
        return True
    alive = owner_alive(trial.user_attrs.get("owner") or {})
    if alive is not None:
        return not alive
    now = time.time() if now is None else now
    beat = trial.user_attrs.get("heartbeat")
    if beat is None:
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - start > STALE_S
    return now - float(beat) > STALE_S
