"""One process at a time owns an experiment folder: an exclusive OS lock on ``EXP/.trainlab.lock``.

Two trainings in one folder would interleave their files (last.pt and history.json from one, best.pt from
the other) and both exit 0; a ``--restart`` would archive a running training's files from under it. So every
run (``train``, ``--resume``, ``--restart``, search trials, compare seeds, evolve and its members, ``morph
--out``) holds :func:`folder_lock` on its folder for its whole life.

The lock is ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a lock file inside the folder: the kernel releases it when
the holding process ends, however it ends (SIGKILL included), so a crash never leaves a stale lock, unlike a
pid file. The file stays (deleting it would let a third process lock a new file while the second still waits
on the old one); while it is held it names its holder (pid, host, time, command), which the refusal repeats.
The holder may take the same folder again in the same thread (evolve trains its base model in its own
folder): the lock counts; another thread of the holding process is refused like another process.

Limits: ``flock`` is advisory (a process that ignores it is not stopped) and may not be honoured across
machines on a network file system (NFS before Linux 2.6.12, some FUSE mounts): there, two machines can still
train in one shared folder. Without ``fcntl`` (Windows) the folder is not locked.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with folder_lock(folder, "an example"):
    ...     with folder_lock(folder):  # the holder may take it again
    ...         pass
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import FolderBusyError
from ..files import writing

log = logging.getLogger(__name__)

LOCK_FILE = ".trainlab.lock"
_held: dict[str, list] = {}  # resolved folder -> [open lock file, depth, thread] of the locks this process holds
_guard = threading.Lock()

try:
    import fcntl
except ImportError:  # Windows: no flock; the folder is not locked (see the module docstring)
    fcntl = None


@contextlib.contextmanager
def folder_lock(folder: Path | str, what: str = "") -> Iterator[None]:
    """Hold the exclusive lock on ``folder`` (created if missing) while inside; another process holding it
    raises :class:`FolderBusyError` naming that process. ``what`` says what this process does there (it is
    written into the lock file, for the refusal another process would print).

    Example:
        >>> import tempfile
        >>> with folder_lock(Path(tempfile.mkdtemp()), "trainlab train"):
        ...     pass  # train here
    """
    folder = Path(folder)
    key, me = os.path.realpath(folder), threading.get_ident()
    with _guard:
        if key in _held and _held[key][2] != me:  # two threads (search trials in parallel): one folder each
            raise FolderBusyError(f"{folder} is in use by another thread of this process (pid {os.getpid()}); two "
                                  "runs in one folder would mix their files. Give each run its own folder.")
        if key in _held:
            _held[key][1] += 1
        else:
            _held[key] = [_acquire(folder, what), 1, me]
    try:
        yield
    finally:
        with _guard:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                handle = _held.pop(key)[0]
                if handle is not None:
                    handle.close()  # closing the file releases the lock


def _acquire(folder: Path, what: str):
    """Open and lock ``folder/.trainlab.lock``; write this process's description into it. None without fcntl."""
    if fcntl is None:
        return None
    path = folder / LOCK_FILE
    with writing(path, doing="create the lock file"):
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # never truncated before it is ours: it may name the holder
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read(500).strip()
        handle.close()
        raise FolderBusyError(f"{folder} is in use by another trainlab process ({_describe(holder)}); two runs "
                              "in one folder would mix their files. Wait for it to end or stop it, or use "
                              "another folder.") from None
    except OSError as err:  # a file system without locks: say so once, and go on unlocked
        log.warning("cannot lock %s (%s); nothing stops a second training in this folder", folder, err)
        return handle
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                 f"{what or ' '.join(['trainlab', *sys.argv[1:]])}\n")
    handle.flush()
    return handle


def _describe(holder: str) -> str:
    """The holder's line as the lock file has it, cut to a readable length (it may still be writing it)."""
    line = " ".join(holder.split())
    return (line[:157] + "…" if len(line) > 160 else line) or "it has not written its pid yet"
