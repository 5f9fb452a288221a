"""Staff accounts in the service layer and at the command line: roles by organisation kind,
temporary passwords, resets, argon2id hashes, TOTP secrets encrypted and bound to their user,
the settings that govern them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from pydantic import ValidationError
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from hallmark.cli import app
from hallmark.config import Settings
from hallmark.core.errors import InvalidInputError, KeystoreError, NotFoundError
from hallmark.services.access import audit, totp
from hallmark.services.access import staff as staff_accounts
from hallmark.store import db
from hallmark.store.models import Principal, StaffUser
from tests.console.conftest import Console, csrf, post_sign_in


@pytest.mark.parametrize(
    ("organisation", "role", "field"),
    [
        ("Maison Lune", "legal", "role"),  # legal staff belong to a legal team
        ("Shenzhen Atelier", "issuer", "role"),  # certificates are issued by brands
        ("Lune Legal", "designer", "role"),
        ("Maison Lune", "owner", "role"),
    ],
)
def test_roles_are_held_by_organisations_of_their_kind(
    console: Console, organisation: str, role: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        staff_accounts.create_staff(
            sessions=console.sessions,
            policy=console.policy,
            organisation_ref=organisation,
            username="someone",
            name="Someone",
            role=role,
        )
    assert refused.value.details["field"] == field


@pytest.mark.parametrize(
    ("username", "name"), [("ab", "Short"), ("bad name", "Spaces"), ("ok.name", ""), ("-x-", "X")]
)
def test_malformed_usernames_and_names_are_refused(
    console: Console, username: str, name: str
) -> None:
    with pytest.raises(InvalidInputError):
        staff_accounts.create_staff(
            sessions=console.sessions,
            policy=console.policy,
            organisation_ref="Maison Lune",
            username=username,
            name=name,
            role="viewer",
        )


def test_creating_staff_makes_a_person_principal_and_audits(console: Console) -> None:
    user, password = staff_accounts.create_staff(
        sessions=console.sessions,
        policy=console.policy,
        organisation_ref="Maison Lune",
        username="ana.silva",
        name="Ana Silva",
        role="issuer",
    )
    assert len(password) >= 20
    with console.sessions() as session:
        principal = session.get(Principal, user.principal_id)
        stored = session.get(StaffUser, user.id)
    assert principal is not None and (principal.kind, principal.name) == ("person", "Ana Silva")
    assert stored is not None and stored.must_change_password
    assert stored.password_hash.startswith("$argon2id$") and password not in stored.password_hash
    assert console.audit("staff.create")[-1].details["role"] == "issuer"
    for duplicate in (
        {"username": "ANA.SILVA", "name": "Other"},
        {"username": "x.y", "name": "Ana Silva"},
    ):
        with pytest.raises(InvalidInputError, match=r"taken|already has"):
            staff_accounts.create_staff(
                sessions=console.sessions,
                policy=console.policy,
                organisation_ref="Maison Lune",
                role="viewer",
                **duplicate,
            )
    with console.sessions() as session:
        assert audit.verify_chain(session) is None


def test_reset_password_ends_sessions_and_can_remove_the_authenticator(console: Console) -> None:
    account = console.account("Lune Legal", "li.wei", "legal")
    client = console.sign_in(account)
    user, temporary = staff_accounts.reset_password(
        sessions=console.sessions, policy=console.policy, ref="li.wei", reset_totp=True
    )
    assert user.must_change_password and user.totp_secret is None
    assert client.get("/console/account").status_code == 303
    assert post_sign_in(console.client(), "li.wei", account.password).status_code == 401
    answer = post_sign_in(console.client(), "li.wei", temporary)
    assert answer.headers["location"] == "/console/sign-in/authenticator"  # legal: enrol again
    with pytest.raises(NotFoundError):
        staff_accounts.reset_password(
            sessions=console.sessions, policy=console.policy, ref="nobody"
        )


def test_totp_secrets_are_encrypted_and_bound_to_their_user(console: Console) -> None:
    legal = console.account("Lune Legal", "li.wei", "legal")
    other = console.account("Lune Legal", "zhang.min", "legal")
    assert legal.secret is not None
    sealed = console.user(legal).totp_secret
    assert sealed is not None and legal.secret not in sealed
    assert totp.unseal(console.policy.totp_key, legal.id, sealed) == legal.secret
    with pytest.raises(KeystoreError):
        totp.unseal(console.policy.totp_key, other.id, sealed)
    # A secret copied onto another account does not sign that account in: it fails loudly.
    with db.transaction(console.sessions) as session:
        session.execute(
            update(StaffUser).where(StaffUser.id == other.id).values(totp_secret=sealed)
        )
    client = console.client()
    post_sign_in(client, other.username, other.password)
    answer = client.post(
        "/console/sign-in/code",
        data={
            "code": pyotp.TOTP(legal.secret).now(),
            "csrf_token": csrf(client.get("/console/sign-in/code")),
        },
    )
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "keystore_error"
    assert client.get("/console/account").status_code == 303


def test_accepted_step_allows_one_step_of_drift_and_never_an_older_step() -> None:
    secret = pyotp.random_base32()
    now = datetime.now(UTC)
    step = pyotp.TOTP(secret).timecode(now)
    at = pyotp.TOTP(secret).at
    assert totp.accepted_step(secret, at(now), last_step=None, now=now) == step
    assert (
        totp.accepted_step(secret, at(now - timedelta(seconds=30)), last_step=None, now=now)
        == step - 1
    )
    assert (
        totp.accepted_step(secret, at(now + timedelta(seconds=30)), last_step=None, now=now)
        == step + 1
    )
    assert (
        totp.accepted_step(secret, at(now - timedelta(seconds=90)), last_step=None, now=now) is None
    )
    assert totp.accepted_step(secret, at(now), last_step=step, now=now) is None
    assert (
        totp.accepted_step(
            secret, " ".join(at(now)[i : i + 3] for i in (0, 3)), last_step=None, now=now
        )
        == step
    )


def test_settings_for_staff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLMARK_STAFF_TOTP_ROLES", "Admin, issuer")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.staff_totp_roles == "admin,issuer"
    policy = staff_accounts.StaffPolicy.from_settings(
        settings.model_copy(update={"password_hash_memory_kib": 64})
    )
    assert policy.totp_required("legal") and policy.totp_required("admin")
    assert not policy.totp_required("viewer")
    monkeypatch.setenv("HALLMARK_STAFF_TOTP_ROLES", "legal,wizard")
    with pytest.raises(InvalidInputError, match="wizard"):
        staff_accounts.StaffPolicy.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="time zone"):
        Settings(display_timezone="Mars/Olympus", _env_file=None)  # type: ignore[call-arg]
    production: dict[str, Any] = {
        "environment": "production",
        "key_passphrase": "a real passphrase of some length",
        "file_key": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
        "_env_file": None,
    }
    with pytest.raises(ValidationError, match="PASSWORD_HASH_MEMORY_KIB"):
        Settings(**production, password_hash_memory_kib=1024)
    assert Settings(**production).password_hash_memory_kib == 65536


def _staff_cli(console: Console, *args: str) -> Result:
    environment = {
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(console.settings.data_dir),
        "HALLMARK_DATABASE_URL": console.settings.effective_database_url,
        "HALLMARK_PASSWORD_HASH_MEMORY_KIB": "1024",
        "COLUMNS": "250",
    }
    return CliRunner().invoke(app, ["admin", "staff", *args], env=environment)


def test_staff_administered_from_the_command_line(console: Console) -> None:
    created = _staff_cli(
        console, "create", "Lune Legal", "li.wei", "--name", "Li Wei", "--role", "legal"
    )
    assert created.exit_code == 0, created.output
    temporary = created.stdout.strip().splitlines()[-1]
    assert "shown only now" in created.stderr
    answer = post_sign_in(console.client(), "li.wei", temporary)
    assert answer.headers["location"] == "/console/sign-in/authenticator"

    listed = _staff_cli(console, "list", "--organisation", "Lune Legal")
    assert listed.exit_code == 0 and "li.wei" in listed.stdout and "Li Wei" in listed.stdout

    disabled = _staff_cli(console, "disable", "li.wei")
    assert disabled.exit_code == 0 and "sessions have ended" in disabled.stdout
    assert post_sign_in(console.client(), "li.wei", temporary).status_code == 401
    assert _staff_cli(console, "enable", "li.wei").exit_code == 0

    reset = _staff_cli(console, "reset-password", "li.wei", "--reset-totp")
    assert reset.exit_code == 0, reset.output
    new_temporary = reset.stdout.strip().splitlines()[-1]
    assert new_temporary != temporary
    assert post_sign_in(console.client(), "li.wei", new_temporary).status_code == 303
    with console.sessions() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == "li.wei")).one()
    assert user.must_change_password


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("disable", "nobody"), "error: staff user nobody not found"),
        (
            ("create", "Maison Lune", "x.y", "--name", "X", "--role", "legal"),
            "error: a brand organisation cannot have legal staff",
        ),
        (
            ("create", "No Such Org", "x.y", "--name", "X", "--role", "viewer"),
            "error: organisation No Such Org not found",
        ),
    ],
)
def test_staff_command_failures_are_one_line(
    console: Console, args: tuple[str, ...], reason: str
) -> None:
    result = _staff_cli(console, *args)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == reason
