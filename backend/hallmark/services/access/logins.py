"""Staff sign-in and console sessions: throttled steps, server-side sessions, CSRF tokens.

Flow:
1. `sign_in` checks the throttle (failures per username and per address in a sliding window),
   then the password (an unknown username costs the same time and gets the same answer). The
   new session starts at the stage the account needs next:
   `second_factor` (a TOTP code) → `enrol` (a role that needs TOTP and has none) →
   `new_password` (a temporary password from an administrator) → `active`.
2. Each step (`second_factor`, `confirm_enrolment`, `change_password`) promotes the session and
   gives it a new token and CSRF token, so a token seen before a step is worth nothing after it.
   A session short of `active` lives at most `PENDING_LIFETIME`.
3. `current` finds the session of a cookie's token, ending it when it is idle too long, past its
   absolute end, or its account or organisation is disabled.
4. `sign_out` ends it. Changing a password or the authenticator ends the user's other sessions.

Only the SHA-256 of a session token is stored. Every sign-in, failure, sign-out and session end
is written to the audit log; failures and their audit entries commit before the error is raised.

Raises:
    SignInRefusedError: wrong password or code (`reason`: credentials, code), or a disabled
        account or organisation (`disabled`).
    TooManyAttemptsError: the username or the address is throttled.
    InvalidInputError: a new password breaks a rule, or its confirmation differs.
    PermissionDeniedError: removing an authenticator the role requires.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.errors import (
    HallmarkError,
    PermissionDeniedError,
    ServiceUnavailableError,
    SignInRefusedError,
    TooManyAttemptsError,
    invalid_field,
)
from hallmark.core.times import utc, utcnow
from hallmark.services.access import audit, totp
from hallmark.services.access.passwords import check_new_password
from hallmark.services.access.staff import StaffPolicy, end_sessions, normalise_username
from hallmark.store.db import transaction
from hallmark.store.models import (
    Organisation,
    Principal,
    StaffLoginFailure,
    StaffSession,
    StaffUser,
)

log = structlog.get_logger(__name__)

SECOND_FACTOR, ENROL, NEW_PASSWORD, ACTIVE = "second_factor", "enrol", "new_password", "active"
#: How long a session may wait between its first step and becoming active.
PENDING_LIFETIME = timedelta(minutes=10)
#: A session's last activity is written at most this often (not on every page view).
TOUCH_EVERY = timedelta(seconds=60)
#: How long a page view waits for the write lock to note a session's activity or end.
NOTE_WAIT = 0.2
WRONG_CREDENTIALS = "the username or the password is wrong"
WRONG_CODE = "the code is wrong, expired or already used"


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in (or signing-in) staff user, as the console sees it."""

    token_hash: str
    csrf_token: str
    stage: str
    expires_at: datetime
    user_id: str
    username: str
    name: str
    role: str
    principal_id: str
    organisation_id: str
    organisation_name: str
    organisation_kind: str
    totp_enrolled: bool
    totp_pending: bool
    totp_required: bool
    last_login_at: datetime | None

    @property
    def active(self) -> bool:
        return self.stage == ACTIVE

    @property
    def audit(self) -> audit.AuditActor:
        return audit.AuditActor(self.organisation_id, self.principal_id, None)


@dataclass(frozen=True, slots=True)
class Caller:
    """Where a sign-in step comes from: the database (`sessions` to write, `reads` to read),
    the rules, the session cookie's token ("" before sign-in) and the caller's address."""

    sessions: sessionmaker[Session]
    policy: StaffPolicy
    token: str
    address: str
    reads: sessionmaker[Session]


@dataclass(frozen=True, slots=True)
class Issued:
    """A session after a step: the token for the cookie (never stored) and who it is."""

    token: str
    staff: Staff


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- sign-in steps -------------------------------------------------------------------------------


def sign_in(caller: Caller, *, username: str, password: str, now: datetime | None = None) -> Issued:
    """The password step: a new session at the stage the account needs next.

    The password hash (slow by design) is checked outside any transaction: the account and the
    throttle are read in a read session (`reads`), the password verified, and only then the
    outcome written in a short write transaction, which refuses when the throttle was reached
    or the password changed meanwhile. On SQLite no write lock is held during the hash.
    """
    username = normalise_username(username)[:64]
    now = now or utcnow()
    address = caller.address[:64]
    with caller.reads() as session:
        row = session.execute(_USER.where(StaffUser.username == username)).first()
        stored_hash = row[0].password_hash if row is not None else None
        throttled = bool(_throttle_waits(session, caller.policy, username, address, now))
    verified = rehashed = None
    if not throttled:  # a throttled step answers without spending a hash
        if stored_hash is None:
            caller.policy.passwords.burn(password)  # an unknown username costs the same time
            verified = False
        else:
            verified = caller.policy.passwords.verify(stored_hash, password)
            if verified and caller.policy.passwords.needs_rehash(stored_hash):
                rehashed = caller.policy.passwords.hash(password)
    with _step(caller, "staff.sign_in", now, username=username) as step:
        user, organisation = step.user, step.organisation
        # The same `now`: whatever was throttled in the read is throttled here too.
        if step.throttled():
            pass
        elif (
            user is None
            or organisation is None
            or not verified
            or user.password_hash != stored_hash  # changed since it was verified
        ):
            step.fail("credentials")
        elif user.status != "active" or organisation.status != "active":
            step.fail("disabled")
        else:
            if rehashed is not None:
                user.password_hash = rehashed
            step.clear_failures()
            step.open(_next_stage(user, caller.policy, factor_done=False))
    return step.outcome()


def second_factor(caller: Caller, *, code: str, now: datetime | None = None) -> Issued:
    """The TOTP step of a session at `second_factor`."""
    with _step(caller, "staff.second_factor", now, stages={SECOND_FACTOR}) as step:
        if step.live() and not step.throttled() and step.code_holds(code):
            step.clear_failures()
            step.promote(_next_stage(step.known_user, caller.policy, factor_done=True))
    return step.outcome()


def pending_secret(
    *,
    sessions: sessionmaker[Session],
    policy: StaffPolicy,
    staff: Staff,
    create: bool,
    reads: sessionmaker[Session] | None = None,
) -> str | None:
    """The secret being enrolled (created when asked and none is pending); None if none.
    Without `create` it is only read (in a read session, `reads`)."""
    if not create:
        with (reads or sessions)() as session:
            sealed = session.scalar(
                select(StaffUser.totp_pending).where(StaffUser.id == staff.user_id)
            )
        return totp.unseal(policy.totp_key, staff.user_id, sealed) if sealed else None
    with transaction(sessions, wait=policy.write_wait) as session:
        user = session.get(StaffUser, staff.user_id, with_for_update=True)
        assert user is not None
        if user.totp_pending is None:
            if not create:
                return None
            user.totp_pending = totp.seal(policy.totp_key, user.id, totp.new_secret())
        return totp.unseal(policy.totp_key, user.id, user.totp_pending)


def begin_enrolment(caller: Caller, *, password: str, now: datetime | None = None) -> None:
    """Start setting up a first authenticator from the account page: with the password, so a
    session taken over without it cannot tie the account to someone else's app. The password
    is checked outside any transaction (see `sign_in`)."""
    now = now or utcnow()
    checked = _check_password(caller, password=password, now=now)
    with _step(caller, "staff.totp_begin", now, stages={ACTIVE}) as step:
        if step.live() and not step.throttled():
            user = step.known_user
            if not checked.holds_for(user):
                step.fail("credentials", field="current_password")
            elif user.totp_secret is None and user.totp_pending is None:
                user.totp_pending = totp.seal(caller.policy.totp_key, user.id, totp.new_secret())
                step.succeed()
    step.check()


def replace_authenticator(caller: Caller, *, code: str, now: datetime | None = None) -> None:
    """Start replacing an enrolled authenticator: with a code from the current one, a new
    secret is pending until `confirm_enrolment` (the current one stays in force until then)."""
    with _step(caller, "staff.totp_replace", now, stages={ACTIVE}) as step:
        if step.live() and not step.throttled() and step.code_holds(code):
            user = step.known_user
            user.totp_pending = totp.seal(caller.policy.totp_key, user.id, totp.new_secret())
            step.succeed()
    step.check()


def confirm_enrolment(caller: Caller, *, code: str, now: datetime | None = None) -> Issued:
    """A code from the pending secret puts it in force; the session moves on (from `enrol`)
    under a new token, and the user's other sessions end."""
    with _step(caller, "staff.totp_enrol", now, stages={ENROL, ACTIVE}) as step:
        if step.live() and not step.throttled():
            user = step.known_user
            accepted = (
                totp.accepted_step(
                    totp.unseal(caller.policy.totp_key, user.id, user.totp_pending),
                    code,
                    last_step=None,
                    now=step.now,
                )
                if user.totp_pending is not None
                else None
            )
            if accepted is None:
                step.fail("code")
            else:
                replaced = user.totp_secret is not None
                user.totp_secret, user.totp_pending = user.totp_pending, None
                user.totp_last_step = accepted
                user.totp_enrolled_at = step.now
                issued = step.promote(_next_stage(user, caller.policy, factor_done=True))
                ended = end_sessions(step.session, user.id, keep=issued.staff.token_hash)
                step.extra.update(replaced=replaced, sessions_ended=ended)
    return step.outcome()


def cancel_enrolment(
    *, sessions: sessionmaker[Session], staff: Staff, wait: float | None = None
) -> None:
    """Drop a pending secret (the enrolled one, if any, stays); `wait` bounds the wait for the
    write lock (see `transaction`)."""
    with transaction(sessions, wait=wait) as session:
        session.execute(
            update(StaffUser).where(StaffUser.id == staff.user_id).values(totp_pending=None)
        )


def remove_authenticator(caller: Caller, *, code: str, now: datetime | None = None) -> None:
    """Turn the second factor off, with a current code; refused for a role that requires it."""
    with _step(caller, "staff.totp_remove", now, stages={ACTIVE}) as step:
        if step.live():
            user = step.known_user
            if caller.policy.totp_required(user.role):
                raise PermissionDeniedError(
                    f"the {user.role} role must sign in with a code: its authenticator can be "
                    "replaced, not removed"
                )
            if not step.throttled() and step.code_holds(code):
                user.totp_secret = user.totp_pending = None
                user.totp_enrolled_at = None
                step.succeed()
    step.check()


def change_password(
    caller: Caller, *, current: str, new: str, confirm: str, now: datetime | None = None
) -> Issued:
    """A new password, with the current one (at `new_password`: the temporary one); the
    session moves on under a new token and the user's other sessions end. Both hashes (the
    check of the current password, the new one's) are worked out outside any transaction."""
    now = now or utcnow()
    checked = _check_password(caller, password=current, now=now)
    new_hash: str | None = None
    if checked.verified:
        _check_new(checked.username, current=current, new=new, confirm=confirm)
        new_hash = caller.policy.passwords.hash(new)
    with _step(caller, "staff.password_change", now, stages={NEW_PASSWORD, ACTIVE}) as step:
        if step.live() and not step.throttled():
            user = step.known_user
            if not checked.holds_for(user) or new_hash is None:
                step.fail("credentials", field="current_password")
            else:
                user.password_hash = new_hash
                user.must_change_password = False
                user.password_changed_at = step.now
                issued = step.promote(_next_stage(user, caller.policy, factor_done=True))
                ended = end_sessions(step.session, user.id, keep=issued.staff.token_hash)
                step.extra.update(sessions_ended=ended)
    return step.outcome()


# --- sessions ----------------------------------------------------------------------------------


def current(
    *,
    sessions: sessionmaker[Session],
    policy: StaffPolicy,
    token: str | None,
    now: datetime | None = None,
    reads: sessionmaker[Session] | None = None,
) -> Staff | None:
    """The session of a cookie's token, or None (unknown, ended, expired, disabled). Read in
    a read session (`reads`). Ending a session or noting its activity (at most every
    `TOUCH_EVERY`) is left to a later request when the write lock stays taken `NOTE_WAIT`
    seconds: the answer is the same, and a page view never waits for another writer."""
    if not token:
        return None
    now = now or utcnow()
    hashed = token_hash(token)
    with (reads or sessions)() as session:
        row = session.execute(_CONTEXT.where(StaffSession.token_hash == hashed)).first()
    if row is None:
        return None
    staff_session, user, organisation, name = row
    reason = _end_reason(staff_session, user, organisation, policy, now)
    if reason is not None:
        with _unless_busy(), transaction(sessions, wait=NOTE_WAIT) as session:
            ended = session.execute(delete(StaffSession).where(StaffSession.token_hash == hashed))
            if getattr(ended, "rowcount", 0):
                audit.append(
                    session,
                    actor=_actor(user),
                    action="staff.session_end",
                    object_kind="staff_user",
                    object_id=user.id,
                    details={"username": user.username, "reason": reason},
                )
        return None
    if now - utc(staff_session.last_seen_at) >= TOUCH_EVERY:
        with _unless_busy(), transaction(sessions, wait=NOTE_WAIT) as session:
            session.execute(
                update(StaffSession)
                .where(StaffSession.token_hash == hashed)
                .values(last_seen_at=now)
            )
    return _staff(staff_session, user, organisation, name, policy)


def sign_out(
    *, sessions: sessionmaker[Session], token: str, address: str, wait: float | None = None
) -> None:
    """End the session (nothing happens for one already ended)."""
    hashed = token_hash(token)
    with transaction(sessions, wait=wait) as session:
        row = session.execute(_CONTEXT.where(StaffSession.token_hash == hashed)).first()
        if row is None:
            return
        user = row[1]
        session.execute(delete(StaffSession).where(StaffSession.token_hash == hashed))
        audit.append(
            session,
            actor=_actor(user),
            action="staff.sign_out",
            object_kind="staff_user",
            object_id=user.id,
            details={"username": user.username, "address": address[:64]},
        )


def record_denial(
    *,
    sessions: sessionmaker[Session],
    staff: Staff | None,
    action: str,
    details: dict[str, Any],
    wait: float | None = None,
) -> None:
    """Audit a refused console request (a missing or wrong CSRF token, a forbidden page)."""
    with transaction(sessions, wait=wait) as session:
        audit.append(
            session,
            actor=staff.audit if staff is not None else audit.SYSTEM,
            action=action,
            outcome="denied",
            object_kind="staff_user" if staff is not None else None,
            object_id=staff.user_id if staff is not None else None,
            details=details,
        )


# --- internals ---------------------------------------------------------------------------------

_USER = (
    select(StaffUser, Organisation, Principal.name)
    .join(Organisation, Organisation.id == StaffUser.organisation_id)
    .join(Principal, Principal.id == StaffUser.principal_id)
)
_CONTEXT = (
    select(StaffSession, StaffUser, Organisation, Principal.name)
    .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
    .join(Organisation, Organisation.id == StaffUser.organisation_id)
    .join(Principal, Principal.id == StaffUser.principal_id)
)
_MESSAGES = {
    "credentials": WRONG_CREDENTIALS,
    "code": WRONG_CODE,
    "disabled": "this account or its organisation is disabled",
    "expired": "the session expired or the step is done already; sign in again",
}


def _actor(user: StaffUser) -> audit.AuditActor:
    return audit.AuditActor(user.organisation_id, user.principal_id, None)


@dataclass
class _Step:
    """One checked step in its transaction: who (by username or by session), from where and
    when; it counts and audits failures, opens or promotes the session, and ends in `outcome`."""

    session: Session
    policy: StaffPolicy
    action: str
    address: str
    now: datetime
    username: str
    user: StaffUser | None = None
    organisation: Organisation | None = None
    name: str | None = None
    staff_session: StaffSession | None = None
    refusal: HallmarkError | None = None
    issued: Issued | None = None
    succeeded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def known_user(self) -> StaffUser:
        assert self.user is not None
        return self.user

    @property
    def actor(self) -> audit.AuditActor:
        return _actor(self.user) if self.user is not None else audit.SYSTEM

    def live(self) -> bool:
        """Whether the step's session was found live at an expected stage."""
        if self.user is None:
            self.refusal = SignInRefusedError("expired", _MESSAGES["expired"])
            return False
        return True

    def audit(self, outcome: str, **details: Any) -> None:
        audit.append(
            self.session,
            actor=self.actor,
            action=self.action,
            outcome=outcome,
            object_kind="staff_user",
            object_id=self.user.id if self.user is not None else None,
            details={"username": self.username, "address": self.address, **details},
        )

    def throttled(self) -> bool:
        """Refuse (and audit) when the username or the address has too many failures."""
        waits = _throttle_waits(self.session, self.policy, self.username, self.address, self.now)
        if not waits:
            return False
        self.refusal = TooManyAttemptsError(max(waits))
        self.audit("denied", reason="throttled")
        return True

    def fail(self, reason: str, *, field: str | None = None) -> None:
        """Count a failure for the throttle, audit it, and refuse saying why."""
        self.session.add(
            StaffLoginFailure(at=self.now, username=self.username, address=self.address)
        )
        self.audit("denied", reason=reason)
        self.refusal = SignInRefusedError(reason, _MESSAGES[reason])
        if field is not None:
            self.refusal.details["field"] = field

    def succeed(self) -> None:
        self.succeeded = True

    def clear_failures(self) -> None:
        self.session.execute(
            delete(StaffLoginFailure).where(StaffLoginFailure.username == self.username)
        )

    def use_code(self, sealed: str, code: str) -> bool:
        """Accept a code of the user's enrolled secret once: its time step is recorded with a
        compare-and-set, so two requests racing with one code cannot both pass."""
        user = self.known_user
        secret = totp.unseal(self.policy.totp_key, user.id, sealed)
        step = totp.accepted_step(secret, code, last_step=user.totp_last_step, now=self.now)
        if step is None:
            return False
        result = self.session.execute(
            update(StaffUser)
            .where(
                StaffUser.id == user.id,
                StaffUser.totp_last_step.is_(None) | (StaffUser.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    def code_holds(self, code: str) -> bool:
        """Whether `code` is a fresh code of the user's enrolled authenticator (`use_code`);
        when it is not, the failure is counted and the step refused (`fail("code")`)."""
        user = self.known_user
        if user.totp_secret is not None and self.use_code(user.totp_secret, code):
            return True
        self.fail("code")
        return False

    def open(self, stage: str, *, created: datetime | None = None) -> Issued:
        """A new session at `stage` (`created`: when its sign-in began, for its absolute end)."""
        user, organisation, name = self.known_user, self.organisation, self.name
        assert organisation is not None and name is not None
        token = secrets.token_urlsafe(32)
        created = created or self.now
        end = created + self.policy.lifetime
        row = StaffSession(
            token_hash=token_hash(token),
            staff_user_id=user.id,
            stage=stage,
            csrf_token=secrets.token_urlsafe(32),
            address=self.address,
            created_at=created,
            last_seen_at=self.now,
            # Active: the absolute end from sign-in; before that, minutes to finish signing in.
            expires_at=end if stage == ACTIVE else min(end, self.now + PENDING_LIFETIME),
        )
        self.session.add(row)
        if stage == ACTIVE:
            user.last_login_at = self.now
        self.session.flush()
        self.issued = Issued(token, _staff(row, user, organisation, name, self.policy))
        self.extra["stage"] = stage
        self.succeeded = True
        return self.issued

    def promote(self, stage: str) -> Issued:
        """Move the step's session to `stage` under a new token and CSRF token."""
        assert self.staff_session is not None
        created = utc(self.staff_session.created_at)
        self.session.delete(self.staff_session)
        self.session.flush()
        return self.open(stage, created=created)

    def check(self) -> None:
        """After the commit: raise the refusal, if any."""
        if self.refusal is not None:
            raise self.refusal

    def outcome(self) -> Issued:
        """After the commit: the refusal raised, or the session issued."""
        self.check()
        assert self.issued is not None
        return self.issued


@contextmanager
def _step(
    caller: Caller,
    action: str,
    now: datetime | None,
    *,
    username: str | None = None,
    stages: frozenset[str] | set[str] = frozenset(),
) -> Iterator[_Step]:
    """A step in one transaction, by username (sign-in) or by the caller's session token (the
    rest, at one of `stages`), its user locked; its failures and audit entries commit with it."""
    now = now or utcnow()
    policy, token = caller.policy, caller.token
    with transaction(caller.sessions, wait=policy.write_wait) as session:
        _purge(session, policy, now)
        step = _Step(session, policy, action, caller.address[:64], now, username or "")
        if username is not None:
            row = session.execute(
                _USER.where(StaffUser.username == username).with_for_update(of=StaffUser)
            ).first()
            if row is not None:
                step.user, step.organisation, step.name = row
        elif token:
            found = session.execute(
                _CONTEXT.where(StaffSession.token_hash == token_hash(token)).with_for_update(
                    of=StaffUser
                )
            ).first()
            if found is not None:
                staff_session, user, organisation, name = found
                if staff_session.stage in stages and not _end_reason(
                    staff_session, user, organisation, policy, now
                ):
                    step.staff_session, step.user = staff_session, user
                    step.organisation, step.name = organisation, name
                    step.username = user.username
        yield step
        if step.succeeded:
            step.audit("ok", **step.extra)


def _throttle_waits(
    session: Session, policy: StaffPolicy, username: str, address: str, now: datetime
) -> list[int]:
    """Seconds until the username and the address are below their failure limits (one entry
    for each that is at its limit; none when neither is)."""
    since = now - policy.window
    waits: list[int] = []
    for column, value, limit in (
        (StaffLoginFailure.username, username, policy.account_failures),
        (StaffLoginFailure.address, address, policy.address_failures),
    ):
        times = session.scalars(
            select(StaffLoginFailure.at)
            .where(column == value, StaffLoginFailure.at > since)
            .order_by(StaffLoginFailure.at.desc())
            .limit(limit)
        ).all()
        if len(times) >= limit:
            # Below the limit again once the limit-th newest failure leaves the window.
            left = utc(times[-1]) + policy.window - now
            waits.append(max(1, math.ceil(left.total_seconds())))
    return waits


@dataclass(frozen=True, slots=True)
class _CheckedPassword:
    """A password checked against the hash stored when it was read (outside any transaction)."""

    username: str
    stored_hash: str | None
    verified: bool

    def holds_for(self, user: StaffUser) -> bool:
        """Whether the check still stands for the user as locked in the step's transaction."""
        return self.verified and user.password_hash == self.stored_hash


def _check_password(caller: Caller, *, password: str, now: datetime) -> _CheckedPassword:
    """Read the password hash of a session's user in a read session and check `password`
    against it with no transaction open: argon2 is slow by design, and on SQLite a write
    transaction would hold the write lock all that time. Not checked (not verified) when the
    session is unknown or the user or the address is throttled; the step refuses those."""
    with caller.reads() as session:
        row = session.execute(
            select(StaffUser.username, StaffUser.password_hash)
            .join(StaffSession, StaffSession.staff_user_id == StaffUser.id)
            .where(StaffSession.token_hash == token_hash(caller.token))
        ).first()
        if row is None:
            return _CheckedPassword("", None, verified=False)
        username, stored = row
        if _throttle_waits(session, caller.policy, username, caller.address[:64], now):
            return _CheckedPassword(username, stored, verified=False)
    return _CheckedPassword(username, stored, caller.policy.passwords.verify(stored, password))


def _check_new(username: str, *, current: str, new: str, confirm: str) -> None:
    """Refuse a new password that breaks a rule, differs from its confirmation or is the
    current one."""
    check_new_password(new, username=username)
    if new != confirm:
        raise invalid_field("confirm_password", "the two new passwords differ", reason="mismatch")
    if new == current:
        raise invalid_field(
            "new_password", "the new password is the current one", reason="unchanged"
        )


@contextmanager
def _unless_busy() -> Iterator[None]:
    """Leave a write that can wait for a later request when the database is busy."""
    try:
        yield
    except ServiceUnavailableError:
        log.info("staff.session_note_deferred")


def _next_stage(user: StaffUser, policy: StaffPolicy, *, factor_done: bool) -> str:
    if user.totp_secret is not None and not factor_done:
        return SECOND_FACTOR
    if user.totp_secret is None and policy.totp_required(user.role):
        return ENROL
    if user.must_change_password:
        return NEW_PASSWORD
    return ACTIVE


def _purge(session: Session, policy: StaffPolicy, now: datetime) -> None:
    """Forget failures older than the window and sessions past their end."""
    session.execute(delete(StaffLoginFailure).where(StaffLoginFailure.at <= now - policy.window))
    session.execute(
        delete(StaffSession).where(
            (StaffSession.expires_at <= now) | (StaffSession.last_seen_at <= now - policy.idle)
        )
    )


def _end_reason(
    staff_session: StaffSession,
    user: StaffUser,
    organisation: Organisation,
    policy: StaffPolicy,
    now: datetime,
) -> str | None:
    if user.status != "active":
        return "account_disabled"
    if organisation.status != "active":
        return "organisation_disabled"
    if now >= utc(staff_session.expires_at):
        return "expired"
    if now - utc(staff_session.last_seen_at) >= policy.idle:
        return "idle"
    return None


def _staff(
    row: StaffSession, user: StaffUser, organisation: Organisation, name: str, policy: StaffPolicy
) -> Staff:
    return Staff(
        token_hash=row.token_hash,
        csrf_token=row.csrf_token,
        stage=row.stage,
        expires_at=utc(row.expires_at),
        user_id=user.id,
        username=user.username,
        name=name,
        role=user.role,
        principal_id=user.principal_id,
        organisation_id=organisation.id,
        organisation_name=organisation.name,
        organisation_kind=organisation.kind,
        totp_enrolled=user.totp_secret is not None,
        totp_pending=user.totp_pending is not None,
        totp_required=policy.totp_required(user.role),
        last_login_at=utc(user.last_login_at) if user.last_login_at else None,
    )
