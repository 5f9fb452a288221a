"""The local chain: one anvil process, started, watched and restarted by Hallmark.

`AnvilNode` owns the process: it loads its state from the data directory at start, dumps it every
`state_interval` seconds and at a clean stop, so what was on chain before a restart is there after
it. `NodeSupervisor` starts, watches and stops the process from a thread of its own and restarts it
when it dies; while it is down `status` says so and readiness reports "not ready".

While it runs, the node is recorded in the data directory (`owner_path`: its pid and port). A
Hallmark process that finds a node answering on its port shares it only when that record says a
Hallmark process of the same data directory runs it (`started_here`), so it never deploys on,
or funds keys on, a node it knows nothing about.

anvil never outlives Hallmark: on Linux it gets SIGTERM (and dumps its state) when the thread that
started it ends, even if Hallmark is killed with SIGKILL (`hallmark.core.processes`). Two anvils
on one state file would overwrite each other's dumps: `NodeLock`, an exclusive `flock` beside
the state file, is held by the process whose supervisor runs the node for as long as it does
(restarts included), so another process never starts a second node there, even while the first
one hangs; the kernel drops the lock with the process.

Raises:
    NodeStartError: anvil is missing, exits at once, or does not answer in time.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO

import structlog

from hallmark.config import PROJECT_ROOT
from hallmark.core import locks
from hallmark.core.backoff import Backoff
from hallmark.core.errors import NodeStartError
from hallmark.core.ports import free_port
from hallmark.core.processes import bound_command

log = structlog.get_logger(__name__)

_NPM_PLATFORMS = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64",
    ("Darwin", "arm64"): "darwin-arm64",
    ("Darwin", "x86_64"): "darwin-amd64",
}


def find_anvil(explicit: Path | None = None) -> Path:
    """The anvil executable: the setting, then the pinned npm package's native binary, then PATH.

    The npm package's own `anvil` command (node_modules/.bin) is a Node wrapper that forks the
    native binary: a signal to the wrapper would not reach the node, so the native binary is used.
    """
    if explicit is not None:
        if not explicit.exists():
            raise NodeStartError(f"HALLMARK_ANVIL_BINARY={explicit} does not exist")
        return explicit
    suffix = _NPM_PLATFORMS.get((platform.system(), platform.machine()))
    if suffix:
        native = PROJECT_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{suffix}" / "bin" / "anvil"
        if native.exists():
            return native
    on_path = shutil.which("anvil")
    if on_path and not Path(on_path).resolve().name.endswith((".mjs", ".js")):
        return Path(on_path)
    raise NodeStartError(
        "anvil not found: run `npm install` (npm @foundry-rs/anvil) or put it on PATH"
    )


def rpc_call(
    url: str, method: str, params: list[object] | None = None, timeout: float = 2.0
) -> object:
    """One JSON-RPC call with the standard library (used before Web3 exists, e.g. probing)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(  # noqa: S310 - the URL is our own loopback node
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        payload = json.loads(response.read())
    if "error" in payload:
        raise RuntimeError(f"{method}: {payload['error']}")
    return payload.get("result")


@dataclass
class AnvilNode:
    """One anvil process bound to 127.0.0.1 with persistent state.

    With `bound_to_parent` (the default) anvil gets SIGTERM when the thread that called `start`
    ends: call it from a thread that lives as long as the node should.
    """

    binary: Path
    state_path: Path
    port: int
    chain_id: int = 31337
    state_interval: int = 1
    block_time: float = 0
    host: str = "127.0.0.1"
    log_path: Path | None = None
    bound_to_parent: bool = True
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_handle: IO[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port(self.host)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        cmd = [
            str(self.binary),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", "0",  # no well-known development accounts: Hallmark funds its own keys
            "--state", str(self.state_path),
            "--state-interval", str(self.state_interval),
        ]  # fmt: skip
        if self.block_time:
            cmd += ["--block-time", str(self.block_time)]
        return cmd

    def start(self, timeout: float = 30.0) -> None:
        """Start anvil and wait until it answers JSON-RPC."""
        if self.is_running():
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        _check_state_file(self.state_path)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = self.log_path.open("ab")
        try:
            command = self.command()
            self._process = subprocess.Popen(
                bound_command(command) if self.bound_to_parent else command,
                stdout=self._log_handle or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our Ctrl-C is ours to handle: anvil gets a clean SIGTERM
            )
        except OSError as exc:
            raise NodeStartError(f"cannot run {self.binary}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise NodeStartError(
                    f"anvil exited with code {self._process.returncode} at start"
                    + (f" (see {self.log_path})" if self.log_path else "")
                )
            try:
                rpc_call(self.url, "eth_chainId", timeout=1.0)
            except (OSError, urllib.error.URLError, RuntimeError):
                time.sleep(0.05)
                continue
            owner_path(self.state_path).write_text(json.dumps({"pid": self.pid, "port": self.port}))
            log.info("anvil.started", url=self.url, pid=self.pid, state=str(self.state_path))
            return
        self.kill()
        raise NodeStartError(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop anvil cleanly: SIGTERM makes it dump its state before it exits."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
        _forget_owner(owner_path(self.state_path), process.pid)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        log.info("anvil.stopped", url=self.url)

    def kill(self) -> None:
        """SIGKILL, as a crash would: the state is what the last interval dump saved."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def wait_for_state_dump(self, after: float, timeout: float | None = None) -> bool:
        """Wait until anvil has dumped its state at or after the wall-clock time `after`."""
        deadline = time.monotonic() + (
            timeout if timeout is not None else self.state_interval * 3 + 2
        )
        while time.monotonic() < deadline:
            try:
                if self.state_path.stat().st_mtime >= after:
                    return True
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        return False


def owner_path(state_path: Path) -> Path:
    """Where the node of the data directory whose chain state is `state_path` is recorded."""
    return state_path.with_name("anvil-process.json")


def _forget_owner(path: Path, pid: int) -> None:
    """Remove the record of the node `pid` (a record written by a later node stays)."""
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def started_here(state_path: Path, port: int) -> bool:
    """Whether the node on `port` is the one a Hallmark process of this data directory started
    and still runs: its record names that port and a live process that listens on it."""
    try:
        record = json.loads(owner_path(state_path).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("port") != port:
        return False
    pid = record.get("pid")
    return isinstance(pid, int) and _runs_node_on(pid, port)


def _runs_node_on(pid: int, port: int) -> bool:
    """Whether process `pid` lives and (where /proc tells) was started with `--port port`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    except OverflowError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc/self").exists()  # no /proc (not Linux): the live pid must do
    return any(
        arg == b"--port" and args[i + 1 : i + 2] == [str(port).encode()]
        for i, arg in enumerate(args)
    )


def _check_state_file(path: Path) -> None:
    """Refuse to start from a state file anvil cannot load, instead of silently starting empty."""
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with path.open("rb") as handle:
            json.load(handle)
    except ValueError as exc:
        raise NodeStartError(
            f"the local chain's saved state {path.name} is not valid JSON ({exc}); "
            "restore it from a backup or move it away to start an empty chain"
        ) from exc


class NodeLock:
    """The data directory's node belongs to the process holding this lock (see the module
    docstring); the lock file names that process and, once it runs, the node's URL (so other
    processes find a node started on a port chosen at start)."""

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; True when this process holds it now."""
        if self._handle is None:
            self._handle = locks.try_lock(self.path, f"pid={os.getpid()}")
        return self._handle is not None

    def note_url(self, url: str) -> None:
        """Record the URL of the node this process runs (the lock must be held)."""
        assert self._handle is not None, "acquire() first"
        locks.rewrite(self._handle, f"pid={os.getpid()} url={url}")

    def holder_url(self) -> str | None:
        """The URL the holder's node runs at, as the lock file says (None: not yet known)."""
        found = re.search(r"url=(\S+)", self.holder())
        return found.group(1) if found else None

    def holder(self) -> str:
        """Who holds the lock, as its file says ("unknown" when it cannot be read)."""
        try:
            return self.path.read_text("utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            locks.unlock(handle)


class NodeStatus(StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"


class NodeSupervisor:
    """Start an AnvilNode, watch it and restart it when it dies, and stop it, all from one
    thread that lives from `start` to `stop` (the node's parent thread, see `AnvilNode`)."""

    def __init__(
        self,
        node: AnvilNode,
        *,
        poll_interval: float = 0.2,
        max_backoff: float = 10.0,
        lock: NodeLock | None = None,
    ) -> None:
        self.node = node
        #: Held from before `start` until after `stop` (released then).
        self.lock = lock
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.restarts = 0
        self.last_error: str | None = None
        self._status = NodeStatus.STOPPED
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def status(self) -> NodeStatus:
        with self._lock:
            return self._status

    def _set(self, status: NodeStatus, error: str | None = None) -> None:
        with self._lock:
            self._status = status
            self.last_error = error

    def start(self) -> None:
        """Start the node (raising if it cannot start) and begin watching it."""
        self._stop.clear()
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="anvil-supervisor", daemon=True
        )
        self._thread.start()
        try:
            started.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.node.stop()  # a node the thread never started, or one started by hand
        self._set(NodeStatus.STOPPED)
        if self.lock is not None:
            self.lock.release()

    def _run(self, started: Future[None]) -> None:
        try:
            self.node.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        self._set(NodeStatus.RUNNING)
        started.set_result(None)
        try:
            self._watch()
        finally:
            self.node.stop()

    def _watch(self) -> None:
        backoff = Backoff(base=0.5, cap=self.max_backoff)
        while not self._stop.wait(self.poll_interval):
            if self.node.is_running():
                continue
            self._set(NodeStatus.RESTARTING, "anvil exited unexpectedly")
            log.warning("anvil.died", url=self.node.url, restarts=self.restarts)
            self.node.stop()  # reap the dead process and close its log
            try:
                self.node.start()
            except NodeStartError as exc:
                delay = backoff.fail()
                self._set(NodeStatus.FAILED, str(exc))
                log.error("anvil.restart_failed", error=str(exc), retry_in=delay)
                if self._stop.wait(delay):
                    return
                continue
            self.restarts += 1
            backoff.clear()
            self._set(NodeStatus.RUNNING)
            log.info("anvil.restarted", url=self.node.url, restarts=self.restarts)
