"""Files a user hands trainlab, and folders it writes: every fault becomes a one-line :class:`TrainlabError`.

- :func:`read_text`: a small text file, UTF-8 (an encoding error names the byte and the fix).
- :func:`load_torch_file`: ``torch.load(weights_only=True)``; a file holding arbitrary Python objects is
  refused as unsafe, never with torch's advice to load it unsafely.
- :func:`storage_error` / :func:`writing`: an ``OSError`` from writing (read-only, disk full, a file where
  a folder must be) as a :class:`StorageError` that says what happened to the previous file.
- :func:`check_writable`: before a long job starts, prove that its folders can take files.
- :func:`atomic_write_bytes` / :func:`atomic_write_text`: a temporary file in the same folder, flushed and
  fsynced, renamed over the target, the folder fsynced: a crash at any moment leaves the old or the new file.

Example:
    >>> import errno
    >>> str(storage_error(OSError(errno.ENOSPC, "No space left on device"), Path("exp/last.pt"),
    ...                   doing="write", kept=True))
    'cannot write exp/last.pt: the disk is full (ENOSPC); the previous file is intact. Free some space and run again.'
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import CheckpointError, ConfigError, StorageError, TrainingError, TrainlabError, echo, one_line

_REASONS = {
    errno.EROFS: ("the file system is read-only", "Make it writable, or work in a copy elsewhere."),
    errno.EACCES: ("permission denied", "Make it writable for this user, or work in a copy elsewhere."),
    errno.EPERM: ("the operation is not permitted", "Make it writable for this user, or work in a copy elsewhere."),
    errno.ENOSPC: ("the disk is full", "Free some space and run again."),
    errno.EDQUOT: ("the disk quota is exceeded", "Free some space and run again."),
    errno.EFBIG: ("the file is too large for this file system", "Write to another file system."),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "Move that file away."),
    errno.EEXIST: ("a file is in the way (a folder was expected)", "Move that file away."),
    errno.EISDIR: ("it is a folder, not a file", "Pass a file."),
    errno.ENAMETOOLONG: ("the name is too long", "Choose a shorter path."),
    errno.ENOENT: ("it does not exist", "Check the path."),
    errno.EIO: ("an input/output error (a failing disk or network share)", "Check the disk."),
    errno.EMFILE: ("too many open files", "Raise the limit (ulimit -n) or close other programs."),
}


def storage_error(err: OSError, path: Path | str, *, doing: str = "write", kept: bool = False,
                  hint: str = "") -> StorageError:
    """The :class:`StorageError` for ``err`` raised while ``doing`` (a verb: write, create, move) ``path``.

    ``kept``: the previous version of ``path`` is still there, untouched (atomic writes promise that).

    Example:
        >>> str(storage_error(PermissionError(13, "Permission denied"), "exp", doing="create a file in"))
        'cannot create a file in exp: permission denied (EACCES). Make it writable for this user, or work in a copy elsewhere.'
    """
    reason, fix = _REASONS.get(err.errno, (err.strerror or str(err) or type(err).__name__, ""))
    code = f" ({errno.errorcode[err.errno]})" if err.errno in errno.errorcode else ""
    other = err.filename and Path(str(err.filename)).parent != Path(path).parent  # not a temporary file beside it
    where = f" ({echo(str(err.filename), 80)})" if other and str(err.filename) != str(path) else ""
    state = "; the previous file is intact" if kept else ""
    return StorageError(f"cannot {doing} {path}{where}: {reason}{code}{state}. {hint or fix}".rstrip())


@contextlib.contextmanager
def writing(path: Path | str, *, doing: str = "write", hint: str = "") -> Iterator[None]:
    """Inside, an ``OSError`` becomes :func:`storage_error` for ``path`` (whether ``path`` existed before
    decides whether the message says it is intact; use it around writes that replace files atomically).

    Example:
        >>> with writing(Path("/proc/version"), doing="replace"):  # doctest: +SKIP
        ...     Path("/proc/version").write_text("x")
        Traceback (most recent call last):
        trainlab.errors.StorageError: cannot replace /proc/version: permission denied (EACCES). ...
    """
    existed = os.path.lexists(path)
    try:
        yield
    except TrainlabError:
        raise
    except OSError as err:
        raise storage_error(err, path, doing=doing, kept=existed and os.path.isfile(path), hint=hint) from err


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of a file's bytes as hex, read in 1 MiB blocks.

    Example:
        >>> p = Path(tempfile.mkdtemp()) / "a"; _ = p.write_bytes(b"abc")
        >>> file_sha256(p)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable(*folders: Path) -> None:
    """Create each folder (and its parents) and a temporary file in it, or raise :class:`StorageError`.

    Example:
        >>> import tempfile
        >>> check_writable(Path(tempfile.mkdtemp()) / "checkpoints")
    """
    for folder in map(Path, folders):
        for part in [*reversed(folder.parents), folder]:
            if part.exists() and not part.is_dir():
                raise StorageError(f"{part} is a file, but trainlab needs a folder there ({folder}). "
                                   "Move the file away, or choose another folder.")
        with writing(folder, doing="create a file in"):
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".trainlab-write-test.", dir=folder)
            os.close(fd)
            os.unlink(tmp)


def current_umask() -> int:
    """This process's umask (thread-safe on Linux: read from /proc, not set and reset).

    Example:
        >>> 0 <= current_umask() <= 0o777
        True
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_GUARD:  # elsewhere the only way to read it is to set it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_GUARD = threading.Lock()


@contextlib.contextmanager
def atomic_file(path: Path | str, mode: str = "wb", *, hint: str = "") -> Iterator[IO]:
    """A stream into a temporary file beside ``path`` (``mode`` "wb", or "w" for UTF-8 text), renamed to
    ``path`` once the block succeeds and the data is on disk; if the block raises, ``path`` is untouched and
    the temporary file removed. An ``OSError`` (read-only, disk full, a file where the folder should be)
    raises :class:`StorageError`, which says the previous ``path`` is intact and ends with ``hint`` (default:
    what frees the fault). The file gets the mode ``open`` would give a new file (0o666 less the umask: 0o644
    under the usual 022), not mkstemp's 0o600, so others on a shared machine read it as they read the user's
    other files.

    Example:
        >>> path = Path(tempfile.mkdtemp()) / "notes.txt"
        >>> with atomic_file(path, "w") as f:
        ...     _ = f.write("written whole or not at all")
        >>> path.read_text()
        'written whole or not at all'
    """
    path = Path(path)
    with writing(path, hint=hint):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0o600
        try:
            os.fchmod(fd, 0o666 & ~current_umask())
            text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
            with os.fdopen(fd, mode, **text) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_bytes(path: Path, data: bytes, *, hint: str = "") -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path, "wb", hint=hint) as f:
        f.write(data)


_TEMPORARY = re.compile(r"^(\..+\.[a-z0-9_]{8}\.tmp|\.trainlab-write-test\.[a-z0-9_]{8})$")  # names mkstemp gave above


def remove_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files :func:`atomic_write_bytes` and :func:`check_writable` left in ``folder`` when
    their process was killed (``.last.pt.k3j4h5g6.tmp``); return them. Only for a folder no other process
    writes to (the caller holds its lock): a running writer's temporary file is not stale.

    Example:
        >>> folder = Path(tempfile.mkdtemp()); _ = (folder / ".last.pt.k3j4h5g6.tmp").write_bytes(b"half")
        >>> [p.name for p in remove_temporaries(folder)], sorted(folder.iterdir())
        (['.last.pt.k3j4h5g6.tmp'], [])
    """
    removed = []
    for path in sorted(Path(folder).glob(".*")) if Path(folder).is_dir() else []:
        if _TEMPORARY.match(path.name) and path.is_file():
            with writing(path, doing="remove the stale temporary file"):
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def read_text(path: Path | str, *, what: str = "file", error: type[TrainlabError] = ConfigError,
              max_bytes: int = 10 * 2**20) -> str:
    """The UTF-8 text of a small file (a params file, a word list); faults raise ``error``.

    Example:
        >>> p = Path(tempfile.mkdtemp()) / "params.json"; _ = p.write_bytes("{'name': 'caf\\xe9'}".encode("latin-1"))
        >>> read_text(p, what="params file")
        Traceback (most recent call last):
        ...
        trainlab.errors.ConfigError: params file ... is not UTF-8 text (byte 0xe9 at position 13 cannot be decoded); save it with the UTF-8 encoding.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{what} {path} is {size / 2**20:.1f} MB; a {what} is text of at most "
                        f"{max_bytes // 2**20} MB. Pass the right file.")
        data = path.read_bytes()
    except OSError as err:
        raise error(str(storage_error(err, path, doing="read"))) from None
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not an error
    except UnicodeDecodeError as err:
        raise error(f"{what} {path} is not UTF-8 text (byte 0x{data[err.start]:02x} at position {err.start} "
                    "cannot be decoded); save it with the UTF-8 encoding.") from None


def load_torch_file(path: Path | str, *, what: str = "checkpoint", error: type[TrainlabError] = CheckpointError,
                    map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; a missing, damaged or unsafe file raises ``error``.

    A file that needs more than tensors and plain data to load (a pickled class, a function) is refused as
    not loadable safely. Loading it with ``weights_only=False`` would run whatever code it carries, so that
    advice (which torch's own message gives) is never passed on.

    Example:
        >>> import torch
        >>> p = Path(tempfile.mkdtemp()) / "w.pt"; torch.save({"model": {}}, p)
        >>> load_torch_file(p)
        {'model': {}}
    """
    import pickle

    import torch

    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder; pass the file (e.g. {path}/best.pt).")
    if not path.is_file():
        raise error(f"{what} {path} does not exist; check the path.")
    try:
        with warnings.catch_warnings():  # torch's remarks on pickle protocols: the outcome is reported below
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message here advises weights_only=False, i.e. running the file's code: never repeat it.
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        refers = f"; it refers to {found.group(1)}" if found else ""
        raise error(f"{what} {path} cannot be read safely: it is damaged, or holds Python objects beyond tensors "
                    f"and plain data, which trainlab never unpickles{refers}. Use a file written by trainlab, or a "
                    "torch.save-d state dict.") from None
    except OSError as err:
        raise error(str(storage_error(err, path, doing="read"))) from None
    except Exception as err:  # torch raises many types for damaged files (RuntimeError, EOFError, ValueError...)
        detail = one_line_detail(err)
        raise error(f"{what} {path} cannot be read: it is damaged or not a torch file ({detail}). "
                    "Use another file, or train again.") from None


def resource_error(exc: BaseException) -> TrainlabError | None:
    """The one-line error for a fault of the machine rather than of trainlab, as the CLI reports it: an
    ``OSError`` (a file or folder read-only, a full disk, a dropped connection) or memory that ran out; None
    for anything else (a bug, whose traceback is wanted).

    Example:
        >>> str(resource_error(OSError(errno.ENOSPC, "No space left on device", "exp/history.csv")))
        'cannot write exp/history.csv: the disk is full (ENOSPC). Free some space and run again.'
        >>> resource_error(KeyError("x")) is None
        True
    """
    if isinstance(exc, OSError):
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
        return storage_error(exc, exc.filename or "a file or connection", doing="write" if full else "use")
    text = str(exc)[:500]
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in text:
        return TrainingError(f"out of memory ({one_line_detail(exc)}). Lower data.batch_size or data.image_size, "
                             "or use a smaller model.")
    return None


def one_line_detail(err: BaseException, limit: int = 80) -> str:
    """``"Type: message"`` of an exception, one line, cut to ``limit`` characters, for a message's brackets.

    Example:
        >>> one_line_detail(ValueError("bad\\nthing"))
        'ValueError: bad thing'
    """
    text = one_line(str(err).split("weights_only")[0]).rstrip(" .,;:(")  # never a hint to load unsafely
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"
