"""`hallmark serve` and `hallmark worker`: the long-running processes.

Commands import what they start when they run, so `hallmark --help` stays quick.
"""

from __future__ import annotations

import gc
import signal
from typing import Annotated

import typer

from hallmark.cli.console import err, load_settings, reported


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (HALLMARK_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (HALLMARK_PORT)")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run an anchoring worker, as a supervised child process "
            "(HALLMARK_WORKER_IN_SERVE)",
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(help="API processes on the one port (HALLMARK_API_PROCESSES)", min=1),
    ] = None,
) -> None:
    """Start the chain (or connect to HALLMARK_RPC_URL), migrate the database and serve the API."""
    from hallmark.api import serving
    from hallmark.runtime import Runtime

    settings = load_settings(host=host, port=port, worker_in_serve=worker, api_processes=processes)
    runtime = Runtime(settings)
    with reported():
        runtime.start()
        if settings.worker_in_serve:
            runtime.start_worker_process()
    # Everything loaded so far lives as long as the process: keep the collector from rescanning it
    # on every full collection (a 5,000-record batch allocates enough to trigger several).
    gc.freeze()
    try:
        err.print(
            f"Hallmark serving at http://{settings.host}:{settings.port} (API docs at /docs), "
            f"{settings.api_processes} API process{'es' if settings.api_processes > 1 else ''}"
        )
        serving.serve(
            runtime, host=settings.host, port=settings.port, processes=settings.api_processes
        )
    finally:
        runtime.stop()


def worker(
    parent: Annotated[
        int | None,
        typer.Option(hidden=True, help="Pid of the process that supervises this worker"),
    ] = None,
    report_fd: Annotated[
        int | None,
        typer.Option(hidden=True, help="Pipe to report the worker's state on (JSON lines)"),
    ] = None,
    secrets_fd: Annotated[
        int | None,
        typer.Option(hidden=True, help="Pipe to read the secret settings from (one JSON object)"),
    ] = None,
) -> None:
    """Run the anchoring worker alone: one leader anchors, other workers stand by."""
    from hallmark.runtime import Runtime
    from hallmark.runtime.worker_process import (
        StateReporter,
        StopRequest,
        die_with_parent,
        read_secrets,
    )

    secrets: dict[str, str] = {}
    if secrets_fd is not None:
        with reported():
            secrets = read_secrets(secrets_fd)
    settings = load_settings(**secrets)
    runtime = Runtime(settings)
    stop = StopRequest()  # signal handlers that take no lock (see StopRequest)
    stop.install(signal.SIGTERM, signal.SIGINT)
    if parent is not None:  # the worker process of `hallmark serve`: never outlive it
        die_with_parent(parent, stop.request)
    with reported():
        runtime.start()
    gc.freeze()  # as in `serve`: what start-up loaded lives as long as the process
    reporter = None
    try:
        anchor_worker = runtime.start_worker()
        if report_fd is not None:
            reporter = StateReporter(report_fd, anchor_worker.report, stop.request)
            reporter.start()
        err.print("Hallmark anchoring worker running (SIGTERM or Ctrl-C stops it)")
        stop.wait()
    finally:
        runtime.stop()
        if reporter is not None:
            reporter.stop()  # its last report: stopped
