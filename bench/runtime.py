"""Hallmark started for a benchmark: a runtime on its own local chain, and its API served in a
thread of the benchmark's process."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.core.logging import configure_logging
from hallmark.core.ports import free_port
from hallmark.runtime import Runtime


def start_runtime(data_dir: Path, database_url: str | None, **overrides: Any) -> Runtime:
    """A started Runtime on `data_dir` with its own local chain (test keystores, quiet logs; its
    anvil on HALLMARK_ANVIL_PORT if set, else on a free port), with the settings `overrides`."""
    if not os.environ.get("HALLMARK_ANVIL_PORT"):
        overrides["anvil_port"] = 0  # AnvilNode picks a free port and the runtime passes it on
    settings = Settings(
        environment="test",
        data_dir=data_dir,
        database_url=database_url,
        rpc_url=None,  # its own local chain, whatever the shell says
        keystore_scrypt_n=1024,
        log_level="WARNING",
        _env_file=None,
        **overrides,
    )
    configure_logging("WARNING", json=False)
    runtime = Runtime(settings)
    runtime.start()
    return runtime


def serve_in_thread(runtime: Runtime) -> tuple[uvicorn.Server, threading.Thread, str]:
    """The API of `runtime` served by uvicorn on a free loopback port: the server, its thread and
    its URL, once it answers."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"
