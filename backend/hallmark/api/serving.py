"""Serving the API: in this process, or in several API processes on one port.

`hallmark serve` starts the runtime (the local chain, the deployment, the database) in its own
process first. With one API process it then serves the app in that process. With more
(`HALLMARK_API_PROCESSES` / `--processes`), uvicorn's supervisor starts that many child
processes, each building the app around a runtime of its own that attaches to the same chain and
database (the local chain by its port, given to them in the environment). Each API process
listens on a socket of its own, all bound to the one port with SO_REUSEPORT, so the kernel spreads
new connections over the processes by a hash of their addresses; with one shared socket, a burst
of connections went to whichever process woke first. The supervisor binds the sockets and keeps
them open, so a restarted process takes over its predecessor's socket and what queued on it. One
Python process runs one core's worth of work; several share the machine's cores, and on one
database they are what several machines would be: each commits its own writes. The children stop
when `hallmark serve` dies, even by SIGKILL (on Linux), as its worker process and anvil do.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
from typing import Any
from urllib.parse import urlparse

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from hallmark.api.app import create_app
from hallmark.core import processes
from hallmark.runtime import Runtime

#: What each API child process builds its app with (a runtime from its own Settings()).
APP_FACTORY = "hallmark.api.serving:create_child_app"

logger = logging.getLogger("uvicorn.error")


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
        options: dict[str, Any] = {"factory": True, "workers": processes, "log_config": None}
        # The supervisor stops its children on SIGINT/SIGTERM and returns.
        if sys.platform.startswith("linux"):
            config = uvicorn.Config(APP_FACTORY, host=host, port=port, **options)
            SocketPerProcess(config, bind_listeners(host, port, processes)).run()
        else:
            # Only Linux spreads connections over the sockets of a port (elsewhere one of them
            # would get them all): there, the API processes share one socket.
            uvicorn.run(APP_FACTORY, host=host, port=port, **options)
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


def bind_listeners(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to `host`:`port` with SO_REUSEPORT (not yet listening: each API
    process listens on its own once its app has started). A port some other socket holds is
    refused as uvicorn refuses it (the error logged, exit status 3): a plain bind is tried
    first, since sockets with SO_REUSEPORT would share the port with a listener of this user."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = port or probe.getsockname()[1]
        listeners = [_reuse_port_socket(family, host, port) for _ in range(count)]
    except OSError as exc:
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    scheme_host = f"[{host}]" if family == socket.AF_INET6 else host
    logger.info(
        "Uvicorn running on http://%s:%d with a socket per process (Press CTRL+C to quit)",
        scheme_host,
        port,
    )
    return listeners


def _reuse_port_socket(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class SocketPerProcess(Multiprocess):
    """uvicorn's supervisor of API processes, each process given a listening socket of its own.

    What uvicorn's `workers` does is kept: a process that dies or stops answering its health
    check is replaced (one that failed before it started serving stops the supervisor, as a
    broken app or port would fail every restart), SIGINT and SIGTERM stop every process and
    return, SIGHUP replaces the processes one at a time, SIGTTIN and SIGTTOU add or retire one.
    A replacement takes over its predecessor's socket: connections queued there while it
    started are answered by it. The supervisor holds every socket until it returns.
    """

    def __init__(self, config: uvicorn.Config, listeners: list[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self.listeners = list(listeners)  # listeners[i] is processes[i]'s socket
        self.processes_num = len(self.listeners)

    def _start(self, listener: socket.socket) -> Process:
        process = Process(self.config, [listener])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(listener) for listener in self.listeners]

    def run(self) -> None:
        try:
            super().run()
        finally:
            for listener in self.listeners:
                listener.close()

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: killed; dead: reaped
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error(
                    "API process [%s] failed to start, stopping the parent process.", process.pid
                )
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("API process [%s] died", process.pid)
            self.processes[idx] = self._start(self.listeners[idx])

    def restart_all(self) -> None:
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(self.listeners[idx])  # both accept on the socket for a while
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error(
                        "New API process [%s] was not ready in time; keeping [%s] and "
                        "aborting the restart.",
                        new.pid,
                        old.pid,
                    )
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def handle_ttin(self) -> None:
        logger.info("Received SIGTTIN, increasing the number of processes.")
        first = self.listeners[0]
        host, port = first.getsockname()[:2]
        try:
            listener = _reuse_port_socket(first.family, str(host), int(port))
        except OSError as exc:
            logger.error("No socket for another API process: %s", exc)
            return
        self.listeners.append(listener)
        self.processes.append(self._start(listener))
        self.processes_num += 1

    def handle_ttou(self) -> None:
        logger.info("Received SIGTTOU, decreasing number of processes.")
        if self.processes_num <= 1:
            logger.info("Already reached one process, cannot decrease it any more.")
            return
        self.processes_num -= 1
        process, listener = self.processes.pop(), self.listeners.pop()
        process.terminate()
        process.join()
        listener.close()
