"""A designer's departure: deactivate the designer's principal at once, and report every
registration it made or is named in.

Deactivating a principal, in one database transaction: the principal is marked `disabled`,
every API key of it is revoked (refused from the next request in every process), every staff
account of it is disabled and its console sessions ended; the change is audited. The report
lists the registrations the principal registered, and those naming it among their designers
(by the principal's name, compared case-insensitively), with their filing (time, block,
transaction), the organisation holding them now, and their assignments and licences — what the
legal team needs to keep the designer's work defended after the designer has gone.

Raises:
    PermissionDeniedError: the caller is not a registrar, or deactivates itself.
    NotFoundError: no such principal (another organisation's is not found either).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hallmark.core.errors import NotFoundError, PermissionDeniedError
from hallmark.services.access import audit
from hallmark.services.access.keys import Actor
from hallmark.services.access.staff import end_sessions, normalise_username
from hallmark.services.designs.registry import require_registrar
from hallmark.services.designs.rights import actions_of, holder
from hallmark.store.models import ApiKey, DesignRegistration, Principal, StaffUser


def find_principal(session: Session, ref: str, *, by: Actor | None = None) -> Principal:
    """A principal by id, by one of its API keys (id or prefix) or by its staff username;
    `by`: only within the caller's organisation."""
    ref = ref.strip()
    principal = session.get(Principal, ref)
    if principal is None:
        key = session.get(ApiKey, ref) or session.scalar(select(ApiKey).where(ApiKey.prefix == ref))
        if key is not None:
            principal = session.get(Principal, key.principal_id)
    if principal is None:
        user = session.scalar(
            select(StaffUser).where(StaffUser.username == normalise_username(ref))
        )
        if user is not None:
            principal = session.get(Principal, user.principal_id)
    if principal is None or (by is not None and principal.organisation_id != by.organisation_id):
        raise NotFoundError("principal", ref)
    return principal


def deactivate_principal(
    *, session: Session, ref: str, by: Actor | None = None
) -> tuple[Principal, dict[str, Any]]:
    """Deactivate a designer principal in the caller's transaction (see the module docstring);
    `by`: a registrar of the principal's organisation, None: an operator at the command line.
    Again on a deactivated principal: nothing more to revoke, the counts are 0."""
    if by is not None:
        require_registrar(by)
    principal = find_principal(session, ref, by=by)
    if by is not None and principal.id == by.principal_id:
        raise PermissionDeniedError("a principal cannot deactivate itself")
    now = datetime.now(UTC)
    principal.status = "disabled"
    keys = session.execute(
        update(ApiKey)
        .where(ApiKey.principal_id == principal.id, ApiKey.status == "active")
        .values(status="revoked", revoked_at=now)
    )
    staff_disabled = 0
    sessions_ended = 0
    for user in session.scalars(select(StaffUser).where(StaffUser.principal_id == principal.id)):
        if user.status != "disabled":
            user.status = "disabled"
            user.disabled_at = now
            staff_disabled += 1
        sessions_ended += end_sessions(session, user.id)
    done = {
        "at": now.isoformat(),
        "keys_revoked": int(getattr(keys, "rowcount", 0) or 0),
        "staff_disabled": staff_disabled,
        "sessions_ended": sessions_ended,
    }
    session.flush()
    audit.append(
        session,
        actor=by.audit if by is not None else audit.SYSTEM,
        action="principal.deactivate",
        object_kind="principal",
        object_id=principal.id,
        details={"name": principal.name, **done},
    )
    return principal, done


def departure_report(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Every registration `principal` registered or is named in as a designer, oldest first."""
    name = principal.name.strip().casefold()
    # Designers are a JSON list: matched here so SQLite and PostgreSQL agree (names and ids
    # only are read for the scan).
    matched: dict[str, tuple[bool, bool]] = {}
    for registration_id, principal_id, designers in session.execute(
        select(DesignRegistration.id, DesignRegistration.principal_id, DesignRegistration.designers)
    ):
        registered_by = principal_id == principal.id
        named = any(str(d).strip().casefold() == name for d in designers or ())
        if registered_by or named:
            matched[registration_id] = (registered_by, named)
    rows = session.scalars(
        select(DesignRegistration)
        .where(DesignRegistration.id.in_(list(matched)))
        .order_by(DesignRegistration.created_at, DesignRegistration.id)
    ).all()
    report = []
    for row in rows:
        registered_by, named = matched[row.id]
        organisation_id, account = holder(session, row)
        actions = actions_of(session, row)
        report.append(
            {
                "registration": row.number,
                "fingerprint": row.fingerprint,
                "title": row.title,
                "designers": list(row.designers),
                "registered_by_principal": registered_by,
                "named_as_designer": named,
                "status": row.status,
                "owner_ref": row.owner_ref,
                "holder_organisation": organisation_id,
                "registrant": account,
                "registered_at": row.created_at.isoformat(),
                "filed_at": row.filed_at.isoformat() if row.filed_at else None,
                "filed_block": row.filed_block,
                "final_at": row.final_at.isoformat() if row.final_at else None,
                "tx_hash": row.tx_hash,
                "block_number": row.block_number,
                "assignments": [
                    {"action": a.action, "status": a.status, "document_sha256": a.document_sha256}
                    for a in actions
                    if a.action in ("propose", "accept", "cancel")
                ],
                "licences": [
                    {
                        "action": a.action,
                        "status": a.status,
                        "document_sha256": a.document_sha256,
                        "licensee_ref": a.licensee_ref,
                        "reason": a.reason,
                    }
                    for a in actions
                    if a.action in ("grant", "terminate")
                ],
            }
        )
    return report


def principal_public(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.id,
        "name": principal.name,
        "kind": principal.kind,
        "organisation": principal.organisation_id,
        "status": principal.status,
    }
