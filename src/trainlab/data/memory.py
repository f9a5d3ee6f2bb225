"""The memory guard: before a dataset is allocated in memory, its size is estimated and refused when it would
not fit, with the numbers, instead of the process being killed by the kernel's out-of-memory killer.

Example:
    >>> check_memory(10 * 2**20, "1,000 images of 100×100×1 (uint8)")  # 10 MB: fits
    >>> check_memory(2**62, "the images", hint="Lower data.image_size.")
    Traceback (most recent call last):
    ...
    trainlab.errors.DataError: the images would need 4194304.0 TB of memory, but ... are available. Lower data.image_size.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

# Share of the available memory one allocation may take: the model, its gradients and the batches need the rest.
SHARE = 0.8


def available_memory() -> int:
    """Bytes this process may still allocate: the kernel's MemAvailable, lowered to a cgroup (container)
    limit when one applies.

    Example:
        >>> available_memory() > 0
        True
    """
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if available is None:  # not Linux: free physical pages
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 2**63 - 1  # unknown: do not refuse
    for limit_file, usage_file in (("memory.max", "memory.current"),  # cgroup v2, v1
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = Path("/sys/fs/cgroup", limit_file).read_text().strip()
            usage = int(Path("/sys/fs/cgroup", usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:
            available = min(available, max(0, int(limit) - usage))
        break
    return available


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest unit that keeps it ≥ 1 (B, KB, MB, GB, TB; powers of 1024).

    Example:
        >>> format_bytes(3 * 2**30)
        '3.0 GB'
    """
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def check_memory(nbytes: int, what: str, *, hint: str = "") -> None:
    """Raise :class:`DataError` when allocating ``nbytes`` for ``what`` would take more than
    :data:`SHARE` of :func:`available_memory`; the message states both numbers and ends with ``hint``."""
    available = available_memory()
    if nbytes > SHARE * available:
        raise DataError(f"{what} would need {format_bytes(nbytes)} of memory, but {format_bytes(available)} "
                        f"are available. {hint}".rstrip())
