"""Exclusive, non-blocking `flock`s on files that name their holder.

The lock lives as long as its file is open; the kernel drops it with the process, so a crashed
holder never leaves it taken. The file's text says who holds it, for operators and for the
processes that find the holder through it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO


def try_lock(path: Path, holder: str) -> IO[str] | None:
    """Take the lock on `path` without waiting and write `holder` into it: the open file that
    holds it, or None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Read-write, created if missing, never truncated by opening, and not in append mode, so
    # that `rewrite` writes over the old text (`open`'s modes have no such one).
    handle = open(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    rewrite(handle, holder)
    return handle


def rewrite(handle: IO[str], holder: str) -> None:
    """Say anew who holds the lock (it must be held through `handle`).

    Written over the old text, then cut after it: at no moment is the file empty, so a holder
    frozen halfway through (a process stopped or hung here) is still named by its file, and a
    standby can end it (truncating first left an empty file in between)."""
    handle.seek(0)
    handle.write(holder + "\n")
    handle.flush()
    handle.truncate()  # at the position the text ends: the file's own, at once


def unlock(handle: IO[str]) -> None:
    """Release the lock held through `handle` and close it (closing alone would release it)."""
    with contextlib.suppress(OSError):
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    handle.close()
