"""Crash-safe file writes: the one temp-file-fsync-rename in cinerec.

A reader of ``path`` sees either the old file or the complete new one, never a
partial write: the data go to a temporary file in the same folder (so the
rename stays on one filesystem), are flushed and fsynced, made world-readable
(``0o644``; ``mkstemp`` creates files ``0o600``) and renamed over ``path`` with
:func:`os.replace`. On any failure the temporary file is removed and ``path``
is untouched.

Temporary files are named ``.<name>.<random>.tmp`` next to ``path``, so a
folder's leftovers from a killed process are easy to recognise and clean.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_open", "atomic_write"]

#: Permissions of every file written here (owner rw, group and others r).
FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` atomically when the block ends.

    For writers that stream (``np.savez`` into a handle) instead of building
    the bytes in memory first. If the block raises, ``path`` is left as it
    was and the temporary file is removed.

    Args:
        path: the destination; its folder must exist.

    Yields:
        A binary file open for writing.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    Args:
        path: the destination; its folder must exist.
        data: the complete new content.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full.
    """
    with atomic_open(path) as fh:
        fh.write(data)
    return Path(path)
