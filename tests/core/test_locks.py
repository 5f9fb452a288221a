"""The lock files that name their holder (`core.locks`)."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from hallmark.core import locks


class _Watched:
    """A lock file's handle that reads the file from disk after each of its calls, as another
    process looking for the holder would see it if this one froze right then."""

    def __init__(self, handle: IO[str], path: Path) -> None:
        self.handle, self.path, self.seen = handle, path, list[str]()

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.handle, name)

        def watched(*args: Any) -> Any:
            result = call(*args)
            self.seen.append(self.path.read_text("utf-8"))
            return result

        return watched


def test_the_lock_file_names_a_holder_at_every_moment_of_a_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "worker.lock"
    handle = locks.try_lock(path, "hallmark-worker pid=123456789 host=earlier")
    assert handle is not None
    try:
        watched = _Watched(handle, path)
        locks.rewrite(watched, "hallmark-worker pid=7 host=now")  # type: ignore[arg-type]
        assert watched.seen, "the rewrite made no call"
        for text in watched.seen:
            assert text.startswith("hallmark-worker pid="), watched.seen
        assert path.read_text("utf-8") == "hallmark-worker pid=7 host=now\n"  # no old tail
    finally:
        locks.unlock(handle)


def test_a_second_taker_is_refused_and_the_file_keeps_the_first_holder(tmp_path: Path) -> None:
    path = tmp_path / "worker.lock"
    first = locks.try_lock(path, "pid=1")
    assert first is not None
    try:
        assert locks.try_lock(path, "pid=2") is None
        assert path.read_text("utf-8") == "pid=1\n"
    finally:
        locks.unlock(first)
    again = locks.try_lock(path, "pid=3")
    assert again is not None
    locks.unlock(again)
    assert path.read_text("utf-8") == "pid=3\n"
