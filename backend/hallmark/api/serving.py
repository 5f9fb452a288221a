"""Serving the API: in this process, or in several API processes on one port.

`hallmark serve` starts the runtime (the local chain, the deployment, the database) in its own
process first. With one API process it then serves the app in that process. With more
(`HALLMARK_API_PROCESSES` / `--processes`), uvicorn's supervisor binds the port and starts that
many child processes, each building the app around a runtime of its own that attaches to the
same chain and database (the local chain by its port, given to them in the environment). One
Python process runs one core's worth of work; several share the machine's cores, and on one
database they are what several machines would be: each commits its own writes. The children stop
when `hallmark serve` dies, even by SIGKILL (on Linux), as its worker process and anvil do.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from urllib.parse import urlparse

import uvicorn
from fastapi import FastAPI

from hallmark.api.app import create_app
from hallmark.core import processes
from hallmark.runtime import Runtime

#: What each API child process builds its app with (a runtime from its own Settings()).
APP_FACTORY = "hallmark.api.serving:create_child_app"


def create_child_app() -> FastAPI:
    """An API child process's app, in a process that gets SIGTERM when `hallmark serve` dies
    (uvicorn's supervisor starts children from its main thread)."""
    processes.set_parent_death_signal(signal.SIGTERM)
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():  # died before the request was made
        raise SystemExit(1)
    return create_app()


def serve(runtime: Runtime, *, host: str, port: int, processes: int) -> None:
    """Serve the API until SIGINT or SIGTERM; returns once every API process has stopped."""
    if processes > 1:
        _share_chain_with_children(runtime)
        # The supervisor stops its children on SIGINT/SIGTERM and returns.
        uvicorn.run(
            APP_FACTORY, factory=True, host=host, port=port, workers=processes, log_config=None
        )
        return
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host=host, port=port, log_config=None)
    )
    # uvicorn re-raises SIGINT/SIGTERM once it has shut down; these handlers let that signal end
    # `run()` normally, so the caller stops the runtime cleanly (anvil saves its state).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    server.run()


def _share_chain_with_children(runtime: Runtime) -> None:
    """Children inherit the environment: point them at the local chain this process runs."""
    settings = runtime.settings
    if settings.uses_local_chain and runtime.chain is not None:
        port = urlparse(runtime.chain.url).port
        if port:
            os.environ["HALLMARK_ANVIL_PORT"] = str(port)
