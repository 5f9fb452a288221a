"""Hallmark's API served over HTTP in a thread, for tests that need a real port (the command
line, the browser)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from hallmark.api.app import create_app
from hallmark.core.ports import free_port
from hallmark.runtime import Runtime


@contextmanager
def served_api(runtime: Runtime, *, start_within: float = 120, **config: Any) -> Iterator[str]:
    """The runtime's API answering at the URL yielded until the block ends (`config`: more
    uvicorn settings, e.g. `log_level`)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, **config)
    )
    thread = threading.Thread(target=server.run, name="served-hallmark", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_within
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "Hallmark did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
