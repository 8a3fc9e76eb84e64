"""How much memory this machine (or this container) can give a training run now.

Read from Linux's ``/proc/meminfo`` (``MemAvailable``: free memory plus the
page cache the kernel can drop) and, inside a container, the cgroup v2 limit
(``memory.max`` less ``memory.current``) when that is lower. Elsewhere, or
when neither can be read, the answer is ``None`` and the caller decides.
"""

from __future__ import annotations

from pathlib import Path

MEMINFO = Path("/proc/meminfo")
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Share of the available memory a training run may plan to use by default: the
#: rest is left for the estimate's error, the server and the page cache.
DEFAULT_FRACTION = 0.8


def meminfo_available(path: Path | None = None) -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` (or ``path``) in bytes (``None`` when it cannot be read)."""
    try:
        for line in (path or MEMINFO).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                fields = line.split()
                return int(fields[1]) * (1024 if len(fields) > 2 and fields[2].lower() == "kb" else 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def cgroup_available(root: Path | None = None) -> int | None:
    """What the cgroup v2 limit still allows, ``memory.max - memory.current``, in bytes.

    ``None`` without a cgroup v2 limit (``max``) or when the files cannot be read.

    Args:
        root: the cgroup's folder (default :data:`CGROUP_ROOT`).
    """
    root = root or CGROUP_ROOT
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((root / "memory.current").read_text().strip()), 0)
    except (OSError, ValueError):
        return None


def available_bytes(meminfo: Path | None = None, cgroup_root: Path | None = None) -> int | None:
    """The memory available now: the lower of ``MemAvailable`` and the cgroup's headroom (``None``: unknown).

    Args:
        meminfo, cgroup_root: where to read them (default :data:`MEMINFO` and :data:`CGROUP_ROOT`).
    """
    known = [v for v in (meminfo_available(meminfo or MEMINFO), cgroup_available(cgroup_root or CGROUP_ROOT))
             if v is not None]
    return min(known) if known else None


def default_limit(fraction: float = DEFAULT_FRACTION) -> int | None:
    """``fraction`` of :func:`available_bytes` (``None`` when the available memory is unknown)."""
    available = available_bytes()
    return None if available is None else int(available * fraction)


def format_bytes(n: float) -> str:
    """``n`` bytes for people, in the binary units ``CINEREC_TRAIN_MEMORY_LIMIT`` takes: ``18.3 GiB``, ``512 MiB``."""
    for unit, size in (("TiB", 1024.0**4), ("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n)} bytes"
