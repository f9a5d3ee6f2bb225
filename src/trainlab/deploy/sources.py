"""What ``trainlab predict SOURCE...`` reads: image files, folders, globs, ``@list.txt`` and ``-`` (stdin).

:func:`image_paths` yields ``(path, root)`` in the order given, lazily (a folder of 100,000 images is walked,
never listed in memory at once): a file as it is (a file that is no image is reported when it is read); a
folder recursively, its image files (by extension, hidden entries skipped) in sorted order per folder, with
``root`` the folder; a glob (``*``, ``?``, ``[``; ``**`` recursive) its matches in sorted order; ``@FILE``
one path (file, folder or glob) per line, relative to FILE's folder; ``-`` one per line from standard input.
A SOURCE that does not exist, a glob without matches and a folder without images are one-line errors (a
missing file named in a list is reported and skipped when it is read, as an unreadable one).

Example:
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); (d / "b").mkdir(); _ = (d / "b" / "x.png").write_bytes(b"")
    >>> _ = (d / "a.jpg").write_bytes(b""); _ = (d / "notes.txt").write_text("")
    >>> [str(p.relative_to(d)) for p, _ in image_paths([str(d)])]
    ['a.jpg', 'b/x.png']
"""
from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from ..errors import DataError, echo
from ..images import IMAGE_EXTENSIONS


def _walk(folder: Path) -> Iterator[Path]:
    found = False
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found = True
                yield Path(root) / name
    if not found:
        raise DataError(f"folder {echo(str(folder), 120)} holds no image file ({', '.join(IMAGE_EXTENSIONS)}); "
                        "check the path.")


def _one(source: str, base: Path | None, *, listed: bool = False) -> Iterator[tuple[Path, Path | None]]:
    path = Path(source).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if path.is_dir():
        yield from ((p, path) for p in _walk(path))
    elif path.is_file():
        yield path, None
    elif any(c in source for c in "*?["):
        matches = sorted(glob.glob(str(path), recursive=True))
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            raise DataError(f"the pattern {echo(source, 120)} matches no file; check it (quote it so that the "
                            "shell does not expand it).")
        yield from ((p, None) for p in files)
    elif listed:  # a line of a list: reported and skipped when it is read, like an unreadable file
        yield path, None
    else:
        raise DataError(f"{echo(source, 120)} does not exist (no file, folder or pattern match); check the path.")


def _lines(stream: Iterable[str]) -> Iterator[str]:
    for line in stream:
        line = line.rstrip("\r\n")
        if line.strip() and not line.lstrip().startswith("#"):
            yield line.strip()


def image_paths(sources: Iterable[str], *, stdin: TextIO | None = None) -> Iterator[tuple[Path, Path | None]]:
    """``(image path, SOURCE folder it was found in or None)`` for every SOURCE, in order (see the module
    docstring)."""
    for source in sources:
        if source == "-":
            for line in _lines(stdin if stdin is not None else sys.stdin):
                yield from _one(line, None, listed=True)
        elif source.startswith("@"):
            listing = Path(source[1:]).expanduser()
            try:
                with open(listing, encoding="utf-8") as f:
                    for line in _lines(f):
                        yield from _one(line, listing.parent, listed=True)
            except (OSError, UnicodeDecodeError) as e:
                raise DataError(f"cannot read the list {echo(str(listing), 120)}: {e}; give a UTF-8 text file "
                                "with one path a line.") from None
        else:
            yield from _one(source, None)
