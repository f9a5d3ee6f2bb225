"""Faults a test machine cannot arrange for real, injected where the file system would report them."""
import errno
import os


def read_only_at(monkeypatch, folder) -> None:
    """EROFS for every write under ``folder``. Tests run as root, whom chmod does not stop, and mounting a
    read-only file system needs privileges the test machine may lack; os.open is what mkstemp (every
    trainlab write) goes through."""
    real_open = os.open

    def fake(path, flags, *args, **kwargs):
        if str(path).startswith(str(folder)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake)


def full_disk_for(monkeypatch, name: str, after: int = 0) -> None:
    """ENOSPC from fsync of the temporary file that becomes ``name``, after ``after`` such writes succeeded
    (a full disk is what a test machine cannot arrange; delayed allocation reports it at fsync)."""
    real_fsync, seen = os.fsync, []

    def fake(fd):
        if f".{name}." in os.readlink(f"/proc/self/fd/{fd}"):
            seen.append(fd)
            if len(seen) > after:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fake)


def fork_child(body) -> int:
    """Run ``body()`` in a forked child (this process's imports carried over: no interpreter to start) and
    return its pid; the child exits 0 when ``body`` returns, 1 when it raises (its traceback on stderr)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            body()
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    return pid


def run_in_child(body) -> int:
    """:func:`fork_child` and wait: how the child ended (-9 for SIGKILL, else its exit code)."""
    _, status = os.waitpid(fork_child(body), 0)
    return os.waitstatus_to_exitcode(status)
