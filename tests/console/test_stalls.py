"""The console does not stall behind SQLite's write lock: a sign-in checks its password (argon2,
slow by design) with the write lock free; while another process holds the lock, console pages
are read and a sign-in is answered (503 with Retry-After, on the translated error page, after
`write_wait` seconds) instead of waiting for the lock."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from hallmark.api.app import create_app
from hallmark.core.times import utc
from hallmark.runtime import Runtime
from hallmark.services.access import staff as staff_accounts
from hallmark.store import db
from hallmark.store.models import Organisation, StaffSession
from hallmark.store.sqlite import write_lock
from tests.conftest import DatabaseTemplates
from tests.console.conftest import Console, console_settings, csrf, post_sign_in
from tests.store.test_stalls import _hold_write_lock

#: Long, as the checks end it early (`release`): a busy machine cannot let it end before them.
HOLD_SECONDS = 60.0
WRITE_WAIT = 1.0


@pytest.fixture
def sqlite_console(tmp_path: Path, database_templates: DatabaseTemplates) -> Iterator[Console]:
    """A console on a SQLite file with its read engine, as `hallmark serve` runs it."""
    url = database_templates.sqlite_copy(tmp_path / "hallmark.sqlite3")
    settings = console_settings(url, tmp_path / "data", write_wait=WRITE_WAIT)
    engine = db.make_engine(settings.effective_database_url)
    read_engine = db.make_read_engine(settings.effective_database_url)
    assert read_engine is not None
    sessions = db.session_factory(engine)
    with db.transaction(sessions) as session:
        session.add(
            Organisation(
                id=str(uuid.uuid4()),
                name="Maison Lune",
                kind="brand",
                status="active",
                account_address="0x" + uuid.uuid4().hex[:20] * 2,
                keystore={},
            )
        )
    runtime = Runtime(
        settings,
        engine=engine,
        sessions=sessions,
        read_sessions=db.session_factory(read_engine),
    )
    runtime.started = True
    policy = staff_accounts.StaffPolicy.from_settings(settings)
    app = create_app(runtime)
    app.state.staff_policy = policy  # the one the pages use (a test wraps its password check)
    console = Console(settings, runtime, sessions, policy, app)
    try:
        yield console
    finally:
        for client in console._clients:
            client.close()
        read_engine.dispose()
        engine.dispose()


def _database_file(console: Console) -> str:
    path = make_url(console.settings.effective_database_url).database
    assert path is not None
    return path


def _write_lock_free(console: Console) -> dict[str, bool]:
    """Whether SQLite's write lock and Hallmark's write lock could be taken right now (from a
    connection and a thread of their own, without waiting)."""
    free: dict[str, bool] = {}
    connection = sqlite3.connect(_database_file(console), timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        free["sqlite"] = True
    except sqlite3.OperationalError:
        free["sqlite"] = False
    finally:
        connection.close()
    lock = write_lock(console.runtime.engine) if console.runtime.engine is not None else None
    assert lock is not None

    def try_lock() -> None:
        free["hallmark"] = lock.try_acquire()
        if free["hallmark"]:
            lock.release()

    thread = threading.Thread(target=try_lock)
    thread.start()
    thread.join(10)
    return free


def test_a_sign_in_checks_its_password_with_the_write_lock_free(
    sqlite_console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = sqlite_console
    account = console.account("Maison Lune", "ana.silva", "issuer")
    passwords = console.policy.passwords
    verify, burn = passwords.verify, passwords.burn
    seen: list[dict[str, bool]] = []

    def watched_verify(stored: str, password: str) -> bool:
        seen.append(_write_lock_free(console))
        return verify(stored, password)

    def watched_burn(password: str) -> None:
        seen.append(_write_lock_free(console))
        burn(password)

    monkeypatch.setattr(passwords, "verify", watched_verify)
    monkeypatch.setattr(passwords, "burn", watched_burn)
    client = console.client()
    signed_in = post_sign_in(client, account.username, account.password)
    assert signed_in.status_code == 303, signed_in.text
    assert post_sign_in(console.client(), account.username, "not the password").status_code == 401
    assert post_sign_in(console.client(), "nobody.here", "not the password").status_code == 401
    assert len(seen) >= 3  # (burning a hash may verify one)
    assert all(free == {"sqlite": True, "hallmark": True} for free in seen), seen
    assert client.get("/console/account").status_code == 200


def test_account_steps_check_and_hash_passwords_with_the_write_lock_free(
    sqlite_console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = sqlite_console
    account = console.account("Maison Lune", "ana.silva", "issuer", totp_enrolled=False)
    client = console.sign_in(account)
    passwords = console.policy.passwords
    verify, make_hash = passwords.verify, passwords.hash
    seen: list[tuple[str, dict[str, bool]]] = []

    def watched_verify(stored: str, password: str) -> bool:
        seen.append(("verify", _write_lock_free(console)))
        return verify(stored, password)

    def watched_hash(password: str) -> str:
        seen.append(("hash", _write_lock_free(console)))
        return make_hash(password)

    monkeypatch.setattr(passwords, "verify", watched_verify)
    monkeypatch.setattr(passwords, "hash", watched_hash)
    token = csrf(client.get("/console/account"))
    started = client.post(
        "/console/account/authenticator/start",
        data={"current_password": account.password, "csrf_token": token},
    )
    assert started.status_code == 303, started.text
    assert console.user(account).totp_pending is not None
    new = "a new and longer passphrase"
    changed = client.post(
        "/console/account/password",
        data={
            "current_password": account.password,
            "new_password": new,
            "confirm_password": new,
            "csrf_token": token,
        },
    )
    assert changed.status_code == 303, changed.text
    assert verify(console.user(account).password_hash, new)
    free = {"sqlite": True, "hallmark": True}
    assert seen == [("verify", free), ("verify", free), ("hash", free)]


def _last_seen(console: Console) -> datetime:
    assert console.runtime.read_sessions is not None
    with console.runtime.read_sessions() as session:  # no wait for the write lock
        seen = session.scalars(select(StaffSession.last_seen_at)).one()
    return utc(seen)


def _held(console: Console) -> tuple[Any, Any]:
    """Another process holding the write lock (started and holding) until the event it comes
    with is set, or `HOLD_SECONDS`."""
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    holder = context.Process(
        target=_hold_write_lock,
        args=(console.settings.effective_database_url, held, HOLD_SECONDS, release),
    )
    holder.start()
    assert held.wait(180)  # a spawned process starts slowly on a busy machine
    return holder, release


def test_console_pages_answer_while_another_process_holds_the_write_lock(
    sqlite_console: Console,
) -> None:
    console = sqlite_console
    admin = console.account("Maison Lune", "li.wei", "admin", totp_enrolled=False)
    issuer = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(admin)
    seen_before = datetime.now(UTC) - timedelta(minutes=2)  # its activity is due to be noted
    with db.transaction(console.sessions) as session:
        session.execute(update(StaffSession).values(last_seen_at=seen_before))
    holder, release = _held(console)
    try:
        started = time.monotonic()
        for path in ("/console/account", "/console/staff"):
            page = client.get(path)
            assert page.status_code == 200, (path, page.text)
        assert "ana.silva" in client.get("/console/staff").text
        read = time.monotonic() - started
        # Read meanwhile, not once the lock was free: the holder holds it until told to stop.
        assert holder.is_alive(), "the pages were read only once the lock was free"
        assert read < HOLD_SECONDS / 2, read
        assert _last_seen(console) == seen_before  # noted by a later request

        browser = console.client(address="192.0.2.7")
        form = browser.get("/console/sign-in")
        started = time.monotonic()
        busy = browser.post(
            "/console/sign-in",
            data={
                "username": issuer.username,
                "password": issuer.password,
                "csrf_token": csrf(form),
            },
        )
        waited = time.monotonic() - started
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "1"
        assert busy.headers["content-type"].startswith("text/html")
        assert "The service is busy. Nothing was changed" in busy.text
        assert "hallmark_session" not in busy.headers.get("set-cookie", "")
        assert waited < HOLD_SECONDS / 2, waited  # refused after write_wait, not the hold
        chinese = browser.post(
            "/console/sign-in",
            data={"username": issuer.username, "password": "x", "csrf_token": csrf(form)},
            headers={"Accept-Language": "zh-CN"},
        )
        assert chinese.status_code == 503
        assert "服务繁忙" in chinese.text
        assert holder.is_alive(), "the lock was released before the checks ended"
    finally:
        release.set()  # the checks are done: no need to hold the lock the whole HOLD_SECONDS
        holder.join(HOLD_SECONDS + 30)
    assert holder.exitcode == 0
    with console.sessions() as session:  # nothing was written for the refused sign-ins
        sessions = select(func.count()).select_from(StaffSession)
        assert session.scalar(sessions) == 1
    assert console.audit("staff.sign_in")[-1].details["username"] == admin.username
    assert client.get("/console/account").status_code == 200
    assert _last_seen(console) > seen_before
    signed_in = post_sign_in(console.client(), issuer.username, issuer.password)
    assert signed_in.status_code == 303, signed_in.text
