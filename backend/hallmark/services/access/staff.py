"""Staff accounts: the people who sign in to the console, their roles, and their administration.

A staff user is a person principal of one organisation (the audit log names it), with one role,
a username unique across Hallmark, an argon2id password and an optional TOTP second factor. An
account is created, and a password reset, by an administrator at the command line: both print
a temporary password once, which the user must replace at the next sign-in. Disabling an
account ends its sessions in the same transaction; a disabled organisation's staff cannot sign
in either. Every change is written to the audit log.

Raises:
    InvalidInputError: unknown role, a role the organisation's kind cannot hold, a malformed or
        taken username, a name taken by another principal of the organisation.
    NotFoundError: unknown organisation or staff user.
    PermissionDeniedError: a console administrator acting outside its organisation, or on itself.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hallmark.config import Settings
from hallmark.core.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    invalid_field,
)
from hallmark.services.access import audit, totp
from hallmark.services.access.organisations import find_organisation
from hallmark.services.access.passwords import Passwords
from hallmark.store.db import transaction
from hallmark.store.models import Organisation, Principal, StaffSession, StaffUser

ALL_KINDS = frozenset({"brand", "supplier", "factory", "legal"})

#: Staff roles, and the organisation kinds that may hold each. What each may do is decided by
#: the consoles built on these accounts (docs/CONSOLE.md lists the intent of each).
ROLE_ORG_KINDS: dict[str, frozenset[str]] = {
    # manages the staff of its own organisation (the staff list page)
    "admin": ALL_KINDS,
    # the legal team: design search, review queue, evidence, originals
    "legal": frozenset({"legal"}),
    # registers designs for its organisation (the legal team, or a designer organisation's)
    "registrar": frozenset({"legal", "brand", "factory"}),
    # creates designs and registers its own drafts
    "designer": frozenset({"brand", "factory"}),
    # brand staff issuing, reissuing and revoking certificates
    "issuer": frozenset({"brand"}),
    # reads what its organisation may see, changes nothing
    "viewer": ALL_KINDS,
}
ROLES = tuple(ROLE_ORG_KINDS)
#: Roles that must sign in with a TOTP code whatever the settings say.
ALWAYS_TOTP_ROLES = frozenset({"legal"})

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,62}[a-z0-9]$")
#: A temporary password: 128 random bits, typed once by the user and then replaced.
TEMPORARY_PASSWORD_BYTES = 16


@dataclass(frozen=True, slots=True)
class StaffPolicy:
    """What the staff rules need from the settings."""

    passwords: Passwords
    totp_key: bytes
    totp_roles: frozenset[str]
    idle: timedelta
    lifetime: timedelta
    window: timedelta
    account_failures: int
    address_failures: int
    #: Seconds a console write waits for SQLite's write lock before it is answered 503.
    write_wait: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> StaffPolicy:
        totp_roles = frozenset(filter(None, settings.staff_totp_roles.split(",")))
        unknown = sorted(totp_roles - set(ROLES))
        if unknown:
            raise InvalidInputError(
                f"HALLMARK_STAFF_TOTP_ROLES names unknown roles: {', '.join(unknown)} "
                f"(roles: {', '.join(ROLES)})"
            )
        return cls(
            passwords=Passwords(settings.password_hash_memory_kib),
            totp_key=totp.derive_key(settings.file_key_bytes),
            totp_roles=totp_roles | ALWAYS_TOTP_ROLES,
            idle=timedelta(minutes=settings.staff_session_idle_minutes),
            lifetime=timedelta(hours=settings.staff_session_max_hours),
            window=timedelta(minutes=settings.staff_login_window_minutes),
            account_failures=settings.staff_login_account_failures,
            address_failures=settings.staff_login_address_failures,
            write_wait=settings.write_wait,
        )

    def totp_required(self, role: str) -> bool:
        return role in self.totp_roles


@dataclass(frozen=True, slots=True)
class StaffView:
    """A staff user as lists show it."""

    id: str
    username: str
    name: str
    role: str
    status: str
    organisation_id: str
    organisation_name: str
    totp_enrolled: bool
    must_change_password: bool
    last_login_at: datetime | None
    created_at: datetime


def normalise_username(username: str) -> str:
    return username.strip().lower()


def temporary_password() -> str:
    return secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)


def create_staff(
    *,
    sessions: sessionmaker[Session],
    policy: StaffPolicy,
    organisation_ref: str,
    username: str,
    name: str,
    role: str,
) -> tuple[StaffUser, str]:
    """A new account and its temporary password (shown once; replaced at first sign-in)."""
    username = normalise_username(username)
    name = name.strip()
    if not USERNAME.match(username):
        raise invalid_field(
            "username",
            "a username has 3 to 64 characters: letters, digits and . _ @ -, "
            "starting and ending with a letter or digit",
        )
    if not name or len(name) > 200:
        raise invalid_field("name", "a staff user needs a name of 1 to 200 characters")
    if role not in ROLE_ORG_KINDS:
        raise invalid_field("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    password = temporary_password()
    password_hash = policy.passwords.hash(password)
    with transaction(sessions) as session:
        organisation = find_organisation(session, organisation_ref)
        if organisation.status != "active":
            raise InvalidInputError(f"{organisation.name} is disabled")
        if organisation.kind not in ROLE_ORG_KINDS[role]:
            raise invalid_field(
                "role", f"a {organisation.kind} organisation cannot have {role} staff"
            )
        if session.scalars(select(StaffUser.id).where(StaffUser.username == username)).first():
            raise invalid_field("username", f"the username {username!r} is taken")
        if session.scalars(
            select(Principal.id).where(
                Principal.organisation_id == organisation.id, Principal.name == name
            )
        ).first():
            raise invalid_field(
                "name", f"{organisation.name} already has a principal named {name!r}"
            )
        principal = Principal(
            id=str(uuid.uuid4()), organisation_id=organisation.id, name=name, kind="person"
        )
        session.add(principal)
        session.flush()
        user = StaffUser(
            id=str(uuid.uuid4()),
            organisation_id=organisation.id,
            principal_id=principal.id,
            username=username,
            role=role,
            status="active",
            password_hash=password_hash,
            must_change_password=True,
        )
        session.add(user)
        session.flush()
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="staff.create",
            object_kind="staff_user",
            object_id=user.id,
            details={"organisation": organisation.id, "username": username, "role": role},
        )
    return user, password


def find_staff(session: Session, ref: str) -> StaffUser:
    """By id or by username."""
    found = (
        session.get(StaffUser, ref)
        or session.scalars(
            select(StaffUser).where(StaffUser.username == normalise_username(ref))
        ).first()
    )
    if found is None:
        raise NotFoundError("staff user", ref)
    return found


def end_sessions(session: Session, user_id: str, *, keep: str | None = None) -> int:
    """End every session of a user (but `keep`, a token hash); how many ended."""
    statement = delete(StaffSession).where(StaffSession.staff_user_id == user_id)
    if keep is not None:
        statement = statement.where(StaffSession.token_hash != keep)
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class ConsoleAdmin:
    """A signed-in organisation administrator acting from the console."""

    user_id: str
    organisation_id: str
    actor: audit.AuditActor


def set_staff_enabled(
    *,
    sessions: sessionmaker[Session],
    ref: str,
    enabled: bool,
    by: ConsoleAdmin | None = None,
    wait: float | None = None,
) -> StaffUser:
    """Disable (ending every session at once) or enable an account. `by`: an organisation
    administrator in the console, who may act on its own organisation's other staff only;
    None: an operator at the command line. `wait`: bounds the wait for the write lock."""
    with transaction(sessions, wait=wait) as session:
        user = find_staff(session, ref)
        if by is not None:
            if user.organisation_id != by.organisation_id:
                raise NotFoundError("staff user", ref)  # another organisation's: not said
            if user.id == by.user_id:
                raise PermissionDeniedError("an administrator cannot disable or enable itself")
        ended = 0
        if enabled:
            user.status = "active"
            user.disabled_at = None
        else:
            user.status = "disabled"
            user.disabled_at = datetime.now(UTC)
            ended = end_sessions(session, user.id)
        audit.append(
            session,
            actor=by.actor if by is not None else audit.SYSTEM,
            action="staff.enable" if enabled else "staff.disable",
            object_kind="staff_user",
            object_id=user.id,
            details={"username": user.username, "sessions_ended": ended},
        )
        return user


def reset_password(
    *, sessions: sessionmaker[Session], policy: StaffPolicy, ref: str, reset_totp: bool = False
) -> tuple[StaffUser, str]:
    """An administrator's reset: a new temporary password (shown once), every session ended;
    with `reset_totp` the authenticator is removed too (lost phone: enrol again at sign-in)."""
    password = temporary_password()
    password_hash = policy.passwords.hash(password)
    with transaction(sessions) as session:
        user = find_staff(session, ref)
        user.password_hash = password_hash
        user.must_change_password = True
        user.password_changed_at = datetime.now(UTC)
        if reset_totp:
            user.totp_secret = None
            user.totp_pending = None
            user.totp_last_step = None
            user.totp_enrolled_at = None
        ended = end_sessions(session, user.id)
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="staff.password_reset",
            object_kind="staff_user",
            object_id=user.id,
            details={"username": user.username, "totp_reset": reset_totp, "sessions_ended": ended},
        )
        return user, password


def list_staff(session: Session, *, organisation_id: str | None = None) -> Sequence[StaffView]:
    """Staff users by organisation name and username, of one organisation or of all."""
    query = (
        select(StaffUser, Principal.name, Organisation.name)
        .join(Principal, Principal.id == StaffUser.principal_id)
        .join(Organisation, Organisation.id == StaffUser.organisation_id)
        .order_by(Organisation.name, StaffUser.username)
    )
    if organisation_id is not None:
        query = query.where(StaffUser.organisation_id == organisation_id)
    return [
        StaffView(
            id=user.id,
            username=user.username,
            name=name,
            role=user.role,
            status=user.status,
            organisation_id=user.organisation_id,
            organisation_name=organisation_name,
            totp_enrolled=user.totp_secret is not None,
            must_change_password=user.must_change_password,
            last_login_at=user.last_login_at,
            created_at=user.created_at,
        )
        for user, name, organisation_name in session.execute(query)
    ]
