"""`hallmark serve` runs its anchoring worker as a supervised child process: it anchors, it is
restarted when it dies, /readyz reports it, and it never outlives serve."""

from __future__ import annotations

import base64
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import psycopg
import pytest
from sqlalchemy.engine import make_url

from conftest import Harness, Process, readyz, wait_for
from hallmark.config import Settings
from hallmark.core.errors import ConfigurationError
from hallmark.core.ports import free_port
from hallmark.runtime import Runtime
from hallmark.runtime.worker_process import read_secrets, worker_environment, worker_secrets


def _alive(pid: int) -> bool:
    """Whether `pid` is a running (not dead, not a zombie) `hallmark worker` process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and b"worker" in command


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _lock_holder(h: Harness) -> int | None:
    """The pid of the process holding the anchoring leader lock, as that lock names it."""
    url = h.settings.effective_database_url
    if url.startswith("sqlite"):
        database = Path(make_url(url).database or "")
        holder = database.with_name(database.name + ".anchoring.lock").read_text()
    else:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND a.datname = current_database()"
            ).fetchone()
        holder = row[0] if row else ""
    found = re.search(r"pid=(\d+)", holder)
    return int(found.group(1)) if found else None


def _serve(h: Harness, spawn: Callable[..., Process]) -> tuple[Process, int, int]:
    """`hallmark serve` on a free port, once its worker process leads: (serve, port, worker)."""
    port = free_port()
    api = spawn(h, "serve", HALLMARK_PORT=str(port))
    wait_for(lambda: readyz(port)["anchoring"]["role"] == "leader", 270, "its worker to lead")
    worker = readyz(port)["anchoring"]["process"]["pid"]
    assert isinstance(worker, int)
    return api, port, worker


def test_serve_anchors_through_a_worker_process_of_its_own(
    harness: Callable[..., Harness], spawn: Callable[..., Process], database_url: str
) -> None:
    h = harness(database_url=database_url, anchor_batch_size=50)
    api, port, worker = _serve(h, spawn)
    assert worker != api.pid
    assert _parent_of(worker) == api.pid
    assert _lock_holder(h) == worker, "the worker process leads, not serve"
    h.add("supplier", 120)
    h.add("factory", 30)
    h.wait_drained(180)
    h.assert_anchored_exactly_once(verify_on_chain=2)

    def reported_all() -> bool:
        return bool(readyz(port)["anchoring"]["batches_sent"] == len(h.batches()))

    wait_for(reported_all, 30, "the worker's report")
    anchoring = readyz(port)["anchoring"]
    assert anchoring["role"] == "leader"
    assert anchoring["lock"] == (
        "file lock" if database_url.startswith("sqlite") else "postgresql advisory lock"
    )
    assert anchoring["process"]["pid"] == worker
    assert anchoring["process"]["running"] is True
    assert anchoring["process"]["restarts"] == 0
    assert anchoring["outbox"] == {
        "pending": 0,
        "in_batches": 0,
        "oldest_pending_age_seconds": None,
        "failed_batches": 0,
    }
    assert "worker_process.started" in api.log()


def test_a_killed_worker_process_is_restarted_and_anchoring_goes_on(
    harness: Callable[..., Harness], spawn: Callable[..., Process]
) -> None:
    h = harness(anchor_batch_size=20)
    api, port, worker = _serve(h, spawn)
    h.add("supplier", 40)
    h.wait_drained(180)

    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not _alive(worker), 30, "the worker process to die")
    h.add("supplier", 30)
    h.add("brand", 5)

    def replaced() -> bool:
        process = readyz(port)["anchoring"]["process"]
        return process["pid"] not in (None, worker) and process["restarts"] == 1

    wait_for(replaced, 90, "a new worker process")
    h.wait_drained(180)
    h.assert_anchored_exactly_once(verify_on_chain=2)
    anchoring = readyz(port)["anchoring"]
    assert anchoring["process"]["last_exit"] == "killed by SIGKILL"
    assert _parent_of(anchoring["process"]["pid"]) == api.pid
    assert "worker_process.exited" in api.log()
    assert api.popen.poll() is None, "serve itself kept running"


def test_sigterm_stops_serve_and_its_worker_process(
    harness: Callable[..., Harness], spawn: Callable[..., Process]
) -> None:
    h = harness()
    api, _port, worker = _serve(h, spawn)
    api.popen.send_signal(signal.SIGTERM)
    assert api.popen.wait(60) == 0, api.log()
    assert not _alive(worker), "the worker process outlived serve"
    log = api.log()
    assert "anchoring.stopped" in log  # the worker gave up the lead and stopped
    assert "worker_process.stopped" in log
    assert "worker_process.killed" not in log, "it had to be killed"


def test_a_killed_serve_takes_its_worker_process_with_it(
    harness: Callable[..., Harness], spawn: Callable[..., Process]
) -> None:
    h = harness()
    api, _port, worker = _serve(h, spawn)
    os.kill(api.pid, signal.SIGKILL)
    api.popen.wait(30)  # SIGKILL: it ends at once (TimeoutExpired otherwise)
    wait_for(lambda: not _alive(worker), 45, "the worker process to follow serve")
    assert "anchoring.stopped" in api.log(), "it did not stop cleanly"
    again = h.worker()
    again.step()
    assert again.state.role == "leader", "the lock was left held"


def test_the_worker_process_gets_the_settings_of_its_parent(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        anchor_interval=0.3,
        anchor_batch_size=77,
        confirmations=2,
        worker_in_serve=False,
        log_json=True,
    )
    base = {"PATH": "/usr/bin", "HALLMARK_CONFIRMATIONS": "9", "HALLMARK_SOLC": "/nowhere/solc"}
    environment = worker_environment(settings, chain_url="http://127.0.0.1:45123", base=base)
    assert environment["PATH"] == "/usr/bin"
    assert "HALLMARK_SOLC" not in environment, "a setting the parent does not have"
    assert not {"HALLMARK_KEY_PASSPHRASE", "HALLMARK_FILE_KEY", "HALLMARK_DATABASE_URL"} & set(
        environment
    ), "secrets go through the secrets pipe"
    secrets = worker_secrets(settings)
    with mock.patch.dict(os.environ, environment, clear=True):
        child = Settings(_env_file=None, **secrets)  # type: ignore[call-arg, arg-type]
    attached = {"rpc_url", "anvil_port", "database_url", "key_passphrase"}
    for name in Settings.model_fields.keys() - attached:
        assert getattr(child, name) == getattr(settings, name), name
    # It attaches to the parent's node (never starts one), on the parent's database and keys.
    assert child.rpc_url == "http://127.0.0.1:45123" and not child.uses_local_chain
    assert child.anvil_port == 45123
    assert child.effective_database_url == settings.effective_database_url
    assert child.passphrase == settings.passphrase


def test_the_worker_process_gets_its_secrets_through_a_pipe_not_its_environment(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    passphrase = "a passphrase of this test only"
    file_key = base64.b64encode(bytes(range(32))).decode()
    runtime = start_runtime(make_settings(key_passphrase=passphrase, file_key=file_key))
    worker = runtime.start_worker_process()
    assert worker.wait_started(90), worker.report()
    pid = worker.pid
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"HALLMARK_" in environ, "the ordinary settings stay in the environment"
    for secret in (passphrase, file_key, runtime.settings.effective_database_url):
        assert secret.encode() not in environ
    assert "--secrets-fd" in Path(f"/proc/{pid}/cmdline").read_text()
    # It opened the organisations' keys with the passphrase: it leads and reports no error.
    assert worker.report()["role"] == "leader"
    assert worker.report()["last_error"] is None


def test_a_worker_refuses_a_secrets_pipe_it_cannot_read() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"api_processes": "9"}')
    os.close(write_end)
    with pytest.raises(ConfigurationError, match="does not know"):
        read_secrets(read_end)
