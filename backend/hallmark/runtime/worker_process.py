"""The anchoring worker as a supervised child process (what `hallmark serve` runs by default).

Parent side, `WorkerProcess`: runs `python -m hallmark worker` (this interpreter) with this
process's settings as HALLMARK_* variables, attached to the database and the chain this process
uses (`worker_environment`), so anchoring never competes with the API for the GIL. A supervising
thread restarts the child when it exits unexpectedly, after a capped exponential backoff, and
logs why; `stop()` sends it SIGTERM, waits, and SIGKILLs it after a timeout. The child runs in a
session of its own, so a Ctrl-C on the terminal reaches only the parent, which stops it.

Secrets never go through the environment (anyone who may read `/proc/<pid>/environ` could read
them there): the keystore passphrase, the file key and the database URL (it may hold a
password) are written, as one JSON object, to a pipe whose read end the child gets as
`--secrets-fd FD` (`worker_secrets`, `read_secrets`); the child reads it and closes it at start.

Child side (`hallmark worker --parent PID --report-fd FD --secrets-fd FD`, see `hallmark.cli`):
* `StopRequest`: how SIGTERM, SIGINT, the parent watch and the reporter ask the worker to stop.
  A signal handler only sets a flag and writes a byte to a pipe: it takes no lock, so a signal
  arriving while the main thread holds one (or three nested handlers) cannot deadlock it.
* `die_with_parent`: the child never outlives its parent. On Linux the kernel sends it SIGTERM
  when the parent dies (`prctl(PR_SET_PDEATHSIG)`); everywhere a thread also watches the
  parent's pid. Either way the child stops as on SIGTERM (gives up the lead, exits).
* `StateReporter`: the worker's state (role, lock, last cycle, last error: `WorkerState`) as one
  JSON line on a pipe whenever it changes, and at least every second; `WorkerProcess.report()`
  gives /readyz the latest, with the child's pid, restarts and last exit. A pipe whose reader
  is gone also means the parent is gone.

Raises:
    Nothing: a child that cannot start (no database, no chain) exits with an error, is logged
    and is started again after the backoff.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr

from hallmark.config import Settings
from hallmark.core import processes
from hallmark.core.backoff import Backoff
from hallmark.core.errors import ConfigurationError

log = structlog.get_logger(__name__)

#: First and longest pause before a child that exited is started again.
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 30.0
#: A child that ran this long counts as healthy: the next restart waits RESTART_DELAY again.
STABLE_AFTER = 60.0
#: Seconds between two state reports of the child when nothing changes.
REPORT_INTERVAL = 1.0


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def worker_environment(
    settings: Settings, *, chain_url: str | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a worker process that works on this process's database and chain.

    `base` (default: this process's environment) without its HALLMARK_* variables, then every
    setting of `settings` that has a value, so a child gets the settings its parent was given,
    whether they came from the environment, `.env` or code. The database URL and the keystore
    passphrase go as their effective values. With a local chain (no `rpc_url`), `chain_url`
    becomes the child's HALLMARK_RPC_URL: it attaches to the parent's node and never starts one
    of its own (not even while the parent's node restarts). The secrets (`SECRET_SETTINGS`)
    are left out: they go through a pipe (`worker_secrets`).
    """
    environment = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if not key.upper().startswith("HALLMARK_")
    }
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is not None and name not in SECRET_SETTINGS:
            environment[f"HALLMARK_{name.upper()}"] = _env_value(value)
    if settings.uses_local_chain and chain_url is not None:
        environment["HALLMARK_RPC_URL"] = chain_url
        environment["HALLMARK_ANVIL_PORT"] = chain_url.rsplit(":", 1)[1]
    return environment


#: Settings a worker process gets through its secrets pipe, never in its environment.
SECRET_SETTINGS = frozenset({"key_passphrase", "file_key", "database_url"})


def worker_secrets(settings: Settings) -> dict[str, str]:
    """The secret settings of a worker process, as their effective values."""
    secrets = {
        "key_passphrase": settings.passphrase,
        "database_url": settings.effective_database_url,
    }
    if settings.file_key is not None and settings.file_key.get_secret_value():
        secrets["file_key"] = settings.file_key.get_secret_value()
    return secrets


def read_secrets(fd: int) -> dict[str, str]:
    """The child side: the secrets its parent wrote to the pipe `fd`, which is closed."""
    try:
        with os.fdopen(fd, "rb") as pipe:
            data = pipe.read()
        secrets = json.loads(data) if data else {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the secrets pipe {fd}: {exc}") from exc
    if not isinstance(secrets, dict) or set(secrets) - SECRET_SETTINGS:
        raise ConfigurationError(f"the secrets pipe {fd} holds settings Hallmark does not know")
    return {str(name): str(value) for name, value in secrets.items()}


def _secrets_pipe(secrets: Mapping[str, str]) -> int:
    """A pipe holding `secrets` as JSON, its write end closed: the read end, for a child."""
    read_end, write_end = os.pipe()
    data = json.dumps(dict(secrets)).encode()
    try:
        # A few hundred bytes: far below a pipe's buffer, so writing never waits for the child.
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        os.close(read_end)
        raise
    return read_end


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerProcess:
    """`hallmark worker` as a supervised child: `start()`, `report()`, `stop()`.

    `environment` is the child's whole environment (see `worker_environment`); `secrets` what
    it reads from its secrets pipe (see `worker_secrets`); `command` the program (default: this
    interpreter, `-m hallmark worker`), to which the parent's pid and the pipes are added.
    """

    def __init__(
        self,
        environment: Mapping[str, str],
        *,
        secrets: Mapping[str, str] | None = None,
        command: list[str] | None = None,
        cwd: Path | None = None,
        restart_delay: float = RESTART_DELAY,
        restart_delay_max: float = RESTART_DELAY_MAX,
    ) -> None:
        self.environment = dict(environment)
        self.secrets = dict(secrets or {})
        self.command = command or [sys.executable, "-m", "hallmark", "worker"]
        self.cwd = cwd
        self.restart_delay = restart_delay
        self.restart_delay_max = restart_delay_max
        #: How often the child was started again after it exited on its own.
        self.restarts = 0
        self.last_exit: str | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._popen: subprocess.Popen[bytes] | None = None
        self._started_at: datetime | None = None
        self._state: dict[str, Any] | None = None
        self._state_at = 0.0
        self._reported = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the child and supervise it from a thread (returns at once)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        # The child is started from this thread, which lives as long as the child may: on
        # Linux a child's parent-death signal follows the thread that started it.
        self._thread = threading.Thread(
            target=self._supervise, name="worker-process-supervisor", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the child, wait up to `timeout` seconds, then SIGKILL it; no restart."""
        with self._lock:
            self._stopping.set()
            popen = self._popen
            self._reported.notify_all()
        if popen is not None and popen.poll() is None:
            log.info("worker_process.stopping", pid=popen.pid)
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("worker_process.killed", pid=popen.pid, after_seconds=timeout)
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                popen.wait()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def pid(self) -> int | None:
        """The running child's pid (None between two runs and after `stop()`)."""
        popen = self._popen
        return popen.pid if popen is not None and popen.poll() is None else None

    def wait_started(self, timeout: float = 60.0) -> bool:
        """Wait until the running child reports that it leads or stands by."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._stopping.is_set():
                if self._state is not None and self._state.get("role") in ("leader", "standby"):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._reported.wait(left)
        return False

    def report(self) -> dict[str, Any]:
        """The child's latest state (as `WorkerState.to_json()`), and the process itself."""
        with self._lock:
            popen, state, state_at = self._popen, self._state, self._state_at
            started_at = self._started_at
        running = popen is not None and popen.poll() is None
        if self._stopping.is_set():
            report: dict[str, Any] = {"role": "stopped"}
        elif not running:
            report = {"role": "restarting"}
        elif state is None:
            report = {"role": "starting"}
        else:
            report = dict(state)
        report["process"] = {
            "pid": popen.pid if running and popen is not None else None,
            "running": running,
            "started_at": started_at.isoformat() if running and started_at else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "last_report_age_seconds": (
                round(time.monotonic() - state_at, 3) if running and state is not None else None
            ),
        }
        return report

    # --- supervision -----------------------------------------------------------------------
    def _supervise(self) -> None:
        backoff = Backoff(base=self.restart_delay, cap=self.restart_delay_max)
        while not self._stopping.is_set():
            try:
                ran_for, code = self._run_once()
            except Exception as exc:  # a child that cannot even be started is retried too
                log.exception("worker_process.start_failed")
                ran_for, code, self.last_exit = 0.0, None, f"cannot start: {exc}"
            if self._stopping.is_set():
                break
            if ran_for >= STABLE_AFTER:
                backoff.clear()
            if code is not None:
                self.last_exit = _describe_exit(code)
            self.restarts += 1
            delay = backoff.fail()
            log.warning(
                "worker_process.exited",
                exit=self.last_exit,
                ran_seconds=round(ran_for, 1),
                restart_in=round(delay, 2),
                restarts=self.restarts,
            )
            if self._stopping.wait(delay):
                break
        log.info("worker_process.stopped", restarts=self.restarts)

    def _run_once(self) -> tuple[float, int]:
        """Start the child, read its reports until it exits; (seconds it ran, exit code)."""
        read_end, write_end = os.pipe()
        secrets_end = None
        try:
            with self._lock:
                if self._stopping.is_set():
                    os.close(read_end)
                    return 0.0, 0
                command = [
                    *self.command,
                    "--parent",
                    str(os.getpid()),
                    "--report-fd",
                    str(write_end),
                ]
                if self.secrets:
                    secrets_end = _secrets_pipe(self.secrets)
                    command += ["--secrets-fd", str(secrets_end)]
                popen = subprocess.Popen(
                    command,
                    env=self.environment,
                    cwd=self.cwd,
                    pass_fds=(write_end,) if secrets_end is None else (write_end, secrets_end),
                    start_new_session=True,  # a terminal's Ctrl-C is the parent's to handle
                )
                self._popen, self._state = popen, None
                self._started_at = datetime.now(UTC)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
            if secrets_end is not None:
                os.close(secrets_end)
        started = time.monotonic()
        log.info("worker_process.started", pid=popen.pid)
        with os.fdopen(read_end, "rb") as reports:
            for line in reports:  # until the child exits (the pipe's only writer)
                self._take_report(line)
        code = popen.wait()
        with self._lock:
            self._state = None
        return time.monotonic() - started, code

    def _take_report(self, line: bytes) -> None:
        try:
            state = json.loads(line)
        except ValueError:
            return
        if isinstance(state, dict):
            with self._lock:
                self._state, self._state_at = state, time.monotonic()
                self._reported.notify_all()


# --- the child's side -----------------------------------------------------------------------


class StopRequest:
    """A request to stop, safe to make from a signal handler or any thread (see the module
    docstring): `request()` sets a flag and writes one byte to a pipe; `wait()` sleeps on the
    pipe. Hand-written: `threading.Event.set` takes a lock, which a handler must not."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.requested = False

    def install(self, *signums: int) -> None:
        """Make these signals request the stop."""
        for signum in signums:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.request()

    def request(self) -> None:
        """Ask for the stop (idempotent; no lock taken)."""
        self.requested = True
        with contextlib.suppress(OSError):  # a full pipe: a wake-up is pending already
            os.write(self._write, b"\0")

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until the stop is requested (or `timeout` seconds pass); whether it was."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.requested:
            left = 1.0 if deadline is None else min(deadline - time.monotonic(), 1.0)
            if left <= 0:
                break
            readable, _, _ = select.select([self._read], [], [], left)
            if readable:
                with contextlib.suppress(OSError):
                    os.read(self._read, 512)
        return self.requested

    def close(self) -> None:
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


def die_with_parent(parent: int, on_parent_gone: Callable[[], None]) -> None:
    """Call `on_parent_gone` (once) when the process `parent` is no longer this one's parent.

    On Linux the kernel also sends SIGTERM the moment the parent dies (PR_SET_PDEATHSIG); the
    caller's SIGTERM handler stops the process. The watch covers the other platforms and a
    parent that died before the request was made.
    """
    if processes.supported() and not processes.set_parent_death_signal(signal.SIGTERM):
        log.warning("worker_process.no_parent_death_signal")

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        log.warning("worker_process.parent_gone", parent=parent)
        on_parent_gone()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class StateReporter:
    """Writes `state()` as one JSON line to the pipe `fd` when it changes, and at least every
    `interval` seconds; calls `on_reader_gone` (once) when nobody reads the pipe any more."""

    def __init__(
        self,
        fd: int,
        state: Callable[[], dict[str, Any]],
        on_reader_gone: Callable[[], None],
        *,
        interval: float = REPORT_INTERVAL,
    ) -> None:
        self.fd = fd
        self.state = state
        self.on_reader_gone = on_reader_gone
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        os.set_inheritable(self.fd, False)
        self._thread = threading.Thread(target=self._run, name="state-reporter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Send the last state, then close the pipe."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        last: str | None = None
        last_at = 0.0
        try:
            while True:
                stopping = self._stop.is_set()
                line = json.dumps(self.state(), sort_keys=True)
                if line != last or time.monotonic() - last_at >= self.interval or stopping:
                    os.write(self.fd, line.encode() + b"\n")  # < PIPE_BUF: written at once
                    last, last_at = line, time.monotonic()
                if stopping:
                    return
                self._stop.wait(0.1)
        except OSError:  # EPIPE: the parent is gone
            self.on_reader_gone()
        finally:
            with contextlib.suppress(OSError):
                os.close(self.fd)
