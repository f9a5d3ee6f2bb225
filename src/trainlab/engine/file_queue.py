"""The files a training writes as it goes (checkpoints, history, metrics), written in order by one thread.

Most of the time an epoch's files cost is fsync (on this project's VM: ~8 ms per file plus ~2 ms per
folder, for 4-6 files an epoch). Training need not wait for it: the Learner hands the bytes to a
:class:`FileQueue` and goes on while a background thread writes them. What stays guaranteed:

- every file is written atomically (:func:`~trainlab.files.atomic_write_bytes`: a temporary
  file, fsync, rename, fsync of the folder), so a crash at any moment leaves the old or the new file,
  complete;
- files are written in the order they were queued, so ``history.json`` never describes an epoch whose
  ``last.pt`` is not on disk yet; after a failed write nothing more is written: the files queued behind it
  are dropped, and every later ``submit`` or ``flush`` raises the error, until :meth:`FileQueue.reset`
  (``Learner.fit`` calls it when it starts: a new run of writes);
- ``Learner.fit`` flushes before it returns or re-raises, and ``Learner.save`` writes synchronously
  after a flush.

The one difference from writing inline: a process killed outright (SIGKILL, power loss) right after an
epoch may lose that epoch's files, and resumes from the previous checkpoint.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> files = FileQueue()
    >>> files.submit(folder / "a.txt", b"first")
    >>> files.submit(folder / "a.txt", b"second")
    >>> files.flush()
    >>> (folder / "a.txt").read_bytes()
    b'second'
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path

from ..files import atomic_write_bytes


class FileQueue:
    """Atomic file writes in submission order on a background thread, started by the first ``submit``
    and ended by ``flush`` (one thread, the training's, submits and flushes).

    ``max_pending`` bounds the bytes held in memory: ``submit`` waits while that many writes are queued.
    """

    def __init__(self, max_pending: int = 8) -> None:
        self._jobs: queue.Queue[tuple[Path, bytes, str] | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None  # the first failed write; set only by the writer thread
        self._reported = False  # whether _error was raised to the training thread

    def submit(self, path: Path, data: bytes, *, hint: str = "") -> None:
        """Queue ``data`` to be written to ``path`` (atomically, after everything queued before); ``hint`` ends
        the error a failed write raises. After a failed write, raises that error and queues nothing."""
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trainlab-files", daemon=True)
            self._thread.start()
        self._jobs.put((Path(path), data, hint))

    def flush(self) -> None:
        """Wait until every queued file is written and the thread has ended; raise the first write error."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    def reset(self) -> None:
        """Wait for the queued files, then forget a failed write that was reported (raised by ``submit`` or
        ``flush``) already, so writing may start again; one not reported yet is raised now.

        Example:
            >>> FileQueue().reset()  # nothing failed: nothing to forget
        """
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        if not self._reported:
            self._raise()
        self._error, self._reported = None, False

    def _raise(self) -> None:
        if self._error is not None:  # kept: no later file may be written after it
            self._reported = True
            raise self._error

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if self._error is None:  # after a failure, later files (which describe later state) are dropped
                    path, data, hint = job
                    atomic_write_bytes(path, data, hint=hint)
            except BaseException as e:  # handed to the training thread by every later submit or flush
                self._error = e
