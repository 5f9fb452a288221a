"""The console over HTTP: a Hallmark app on a fresh database per test (SQLite, and PostgreSQL
when configured), organisations of each kind, and helpers that sign staff in.

The pages need only the database, so the app's runtime is given its engine and sessions and
no chain (tests/pages drives a fully started Hallmark in a browser). Settings are small: cheap
argon2, low throttle limits.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.services.access import staff as staff_accounts
from hallmark.services.access import totp
from hallmark.store import db
from hallmark.store.models import AuditEntry, Organisation, StaffUser

ORGANISATIONS = {
    "Lune Legal": "legal",
    "Maison Lune": "brand",
    "Atelier Rivoli": "brand",
    "Shenzhen Atelier": "factory",
}
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Account:
    """A staff account the test knows the secrets of."""

    id: str
    username: str
    organisation: str
    role: str
    password: str
    secret: str | None


@dataclass
class Console:
    settings: Settings
    runtime: Runtime
    sessions: sessionmaker[Session]
    policy: staff_accounts.StaffPolicy
    app: Any
    _clients: list[TestClient] = field(default_factory=list)

    def client(
        self, *, base_url: str = "http://testserver", address: str = "192.0.2.1"
    ) -> TestClient:
        """A browser at `address`."""
        client = TestClient(
            self.app, base_url=base_url, follow_redirects=False, client=(address, 50000)
        )
        self._clients.append(client)
        return client

    def account(
        self,
        organisation: str,
        username: str,
        role: str,
        *,
        totp_enrolled: bool | None = None,
        name: str | None = None,
    ) -> Account:
        """An account past its first sign-in: its own password, and an authenticator when
        `totp_enrolled` (default: when the role requires one)."""
        user, _ = staff_accounts.create_staff(
            sessions=self.sessions,
            policy=self.policy,
            organisation_ref=organisation,
            username=username,
            name=name or username.replace(".", " ").title(),
            role=role,
        )
        enrolled = self.policy.totp_required(role) if totp_enrolled is None else totp_enrolled
        secret = pyotp.random_base32() if enrolled else None
        with db.transaction(self.sessions) as session:
            session.execute(
                update(StaffUser)
                .where(StaffUser.id == user.id)
                .values(
                    password_hash=self.policy.passwords.hash(PASSWORD),
                    must_change_password=False,
                    totp_secret=totp.seal(self.policy.totp_key, user.id, secret)
                    if secret
                    else None,
                )
            )
        return Account(user.id, user.username, organisation, role, PASSWORD, secret)

    def sign_in(self, account: Account, client: TestClient | None = None) -> TestClient:
        """A client signed in as `account` (through the pages, its TOTP code included)."""
        client = client or self.client()
        answer = post_sign_in(client, account.username, account.password)
        assert answer.status_code == 303, answer.text
        if answer.headers["location"].startswith("/console/sign-in/code"):
            assert account.secret is not None
            page = client.get("/console/sign-in/code")
            answer = client.post(
                "/console/sign-in/code",
                data={"code": self.unused_code(account), "csrf_token": csrf(page)},
            )
            assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/console/account", answer.headers["location"]
        return client

    def unused_code(self, account: Account) -> str:
        """A code of the account's authenticator not used yet (a code is accepted once: after
        one was used in this 30-second step, the next step's, which is accepted too)."""
        assert account.secret is not None
        now = pyotp.TOTP(account.secret).timecode(datetime.now(UTC))
        last = self.user(account).totp_last_step
        ahead = 0 if last is None or last < now else last - now + 1
        assert ahead <= 1, "two codes used in one step: wait for the next"
        return code(account.secret, steps=ahead)

    def audit(self, action: str) -> list[AuditEntry]:
        denials = self.runtime.denial_log()
        assert denials is not None
        denials.flush()  # denials are queued, then written in batches
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
                )
            )

    def user(self, account: Account) -> StaffUser:
        with self.sessions() as session:
            user = session.get(StaffUser, account.id)
            assert user is not None
            return user


def code(secret: str, *, steps: int = 0) -> str:
    """The authenticator's code `steps` 30-second steps from now."""
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30 * steps))


def csrf(page: httpx2.Response) -> str:
    """The CSRF token of the (first) form of a page."""
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def post_sign_in(client: TestClient, username: str, password: str) -> httpx2.Response:
    page = client.get("/console/sign-in")
    assert page.status_code == 200
    return client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "csrf_token": csrf(page)},
    )


def console_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "password_hash_memory_kib": 1024,
        "staff_login_account_failures": 3,
        "staff_login_address_failures": 6,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def console_overrides() -> dict[str, Any]:
    """Settings a test module changes for its console (override this fixture)."""
    return {}


@pytest.fixture
def console(
    database_url: str, tmp_path: Path, console_overrides: dict[str, Any]
) -> Iterator[Console]:
    settings = console_settings(database_url, tmp_path / "data", **console_overrides)
    engine = db.make_engine(settings.effective_database_url)
    db.migrate(engine)
    sessions = db.session_factory(engine)
    with db.transaction(sessions) as session:
        for name, kind in ORGANISATIONS.items():
            session.add(
                Organisation(
                    id=str(uuid.uuid4()),
                    name=name,
                    kind=kind,
                    status="active",
                    account_address="0x" + uuid.uuid4().hex[:20] * 2,
                    keystore={},
                )
            )
    runtime = Runtime(settings, engine=engine, sessions=sessions, read_sessions=sessions)
    runtime.started = True  # what the pages use is here: the database
    console = Console(
        settings,
        runtime,
        sessions,
        staff_accounts.StaffPolicy.from_settings(settings),
        create_app(runtime),
    )
    try:
        yield console
    finally:
        for client in console._clients:
            client.close()
        engine.dispose()
