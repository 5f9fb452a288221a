"""A designer's departure: deactivate the designer's principal at once, and report every
registration it made or is named in; then hand a departed registrar's registrations to another
registrar of its organisation (`reassign_registrations`), or, when the organisation's registrant
account itself lost its role, have the ledger admin propose its designs to another registrar
organisation on chain (`propose_rescue`).

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

import secrets
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.registry import DesignRights
from hallmark.core.errors import (
    ConflictError,
    ContractRevertError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from hallmark.services.access import audit
from hallmark.services.access.keys import Actor
from hallmark.services.access.organisations import find_organisation
from hallmark.services.access.staff import end_sessions, normalise_username
from hallmark.services.designs.registry import (
    REGISTRAR_ROLES,
    find_registration,
    owner_ref_hash,
    require_registrar,
)
from hallmark.services.designs.rights import (
    RightsConflictError,
    actions_of,
    check_document,
    holder,
    refusal,
)
from hallmark.store.db import transaction
from hallmark.store.models import (
    ApiKey,
    DesignRegistration,
    DesignRightsAction,
    Principal,
    StaffUser,
)
from hallmark.store.records import new_record_id


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


def is_registrar(session: Session, principal: Principal) -> bool:
    """Whether the principal registers designs now: active, with an active API key of role
    legal or an active console account of role legal or registrar."""
    if principal.status != "active":
        return False
    key = session.scalar(
        select(ApiKey.id).where(
            ApiKey.principal_id == principal.id,
            ApiKey.status == "active",
            ApiKey.role.in_(sorted(REGISTRAR_ROLES)),
        )
    )
    if key is not None:
        return True
    user = session.scalar(
        select(StaffUser.id).where(
            StaffUser.principal_id == principal.id,
            StaffUser.status == "active",
            StaffUser.role.in_(sorted(REGISTRAR_ROLES)),
        )
    )
    return user is not None


def reassign_registrations(
    *,
    session: Session,
    source: str,
    target: str,
    registrations: list[str] | None = None,
    by: Actor | None = None,
) -> dict[str, Any]:
    """Move the registrations a disabled (departed) registrar principal registered to another
    registrar of the same organisation, in the caller's transaction; audited. `registrations`:
    only these (numbers or fingerprints; all of the principal's when None). `by`: a registrar
    of that organisation; None: an operator at the command line.

    Nothing is sent on chain: a registration's registrant on chain is its organisation's account
    (`holder`), the same before and after, and it keeps REGISTRAR_ROLE while the organisation is
    active. (A registrant account that lost its role — a disabled organisation — is rescued
    across organisations: the ledger admin proposes an assignment to another registrar
    organisation, which accepts; docs/CONTRACTS.md.)

    Raises:
        NotFoundError: no such principal (another organisation's is not found either), or a
            registration the principal did not register.
        ConflictError: the source principal is still active (its own registrar keeps them).
        InvalidInputError: the target is the source, is in another organisation, or is not an
            active registrar.
        PermissionDeniedError: the caller is not a registrar.
    """
    if by is not None:
        require_registrar(by)
    from_principal = find_principal(session, source, by=by)
    if from_principal.status == "active":
        raise ConflictError(
            f"{from_principal.name} is active: only a disabled or departed registrar's "
            "registrations are reassigned (deactivate it first: designs departure)",
            details={"principal": from_principal.id, "status": from_principal.status},
        )
    to_principal = find_principal(session, target, by=by)
    if to_principal.organisation_id != from_principal.organisation_id:
        raise InvalidInputError(
            "registrations are reassigned within their organisation only",
            details={"field": "to", "organisation": from_principal.organisation_id},
        )
    if to_principal.id == from_principal.id or not is_registrar(session, to_principal):
        raise InvalidInputError(
            f"{to_principal.name} is not another active registrar of the organisation",
            details={"field": "to", "principal": to_principal.id},
        )
    query = select(DesignRegistration).where(DesignRegistration.principal_id == from_principal.id)
    rows = list(session.scalars(query.order_by(DesignRegistration.created_at)))
    if registrations is not None:
        wanted = {find_registration(session, ref).id for ref in registrations}
        unknown = wanted - {row.id for row in rows}
        if unknown:
            raise NotFoundError("registration of this principal", ", ".join(sorted(unknown)))
        rows = [row for row in rows if row.id in wanted]
    for row in rows:
        row.principal_id = to_principal.id
    session.flush()
    moved = [row.number for row in rows]
    audit.append(
        session,
        actor=by.audit if by is not None else audit.SYSTEM,
        action="design.reassign",
        object_kind="principal",
        object_id=from_principal.id,
        details={"to": to_principal.id, "registrations": moved},
    )
    return {
        "principal": principal_public(from_principal),
        "to": principal_public(to_principal),
        "registrations": moved,
        "count": len(moved),
        "on_chain": "unchanged: the registrant is the organisation's account",
    }


def propose_rescue(
    *,
    sessions: sessionmaker[Session],
    rights: DesignRights,
    admin: LocalAccount,
    ref: str,
    new_registrant: str,
    new_owner_ref: str,
    document_sha256: str,
    new_owner_organisation: str | None = None,
) -> DesignRightsAction:
    """The ledger admin proposes, on chain, to assign a final registration whose registrant
    account lost REGISTRAR_ROLE (its organisation disabled, or the account declared compromised)
    to another registrar organisation, `new_registrant`, which accepts it as any assignment
    (`designs assign accept` with the same document). The contract allows the admin nothing
    more: not a design whose registrant still holds its role, not the acceptance.

    Checked against the database, simulated from the admin account (a refusal raises the
    contract's reason), sent and waited for; then recorded as a done `propose` action of the
    holding organisation (sent by the admin) and audited.

    Raises:
        PermissionDeniedError: the registrant still holds its role (RegistrantStillActive).
        RightsConflictError, DesignNotFinalError: not filed, not final, or refused in its state.
        InvalidInputError: a malformed document hash or reference; a target that is not another
            active registrar organisation.
        NotFoundError: an unknown registration or organisation.
    """
    document = check_document(document_sha256)
    owner = new_owner_ref.strip()
    if not owner or len(owner) > 200:
        raise InvalidInputError(
            "new_owner_ref: a reference of 1 to 200 characters", details={"field": "new_owner_ref"}
        )
    with sessions() as session:
        registration = find_registration(session, ref)
        if registration.status != "registered":
            raise RightsConflictError(
                f"design {registration.number} is {registration.status}, not filed on chain",
                details={"registration": registration.number, "status": registration.status},
            )
        holding, _ = holder(session, registration)
        target = find_organisation(session, new_registrant)
        if target.kind != "legal" or target.status != "active" or target.id == holding:
            raise InvalidInputError(
                f"{target.name} is not another active registrar organisation",
                details={"field": "new_registrant"},
            )
        owner_organisation = (
            find_organisation(session, new_owner_organisation).id
            if new_owner_organisation
            else None
        )
        number, fingerprint = registration.number, registration.fingerprint
        registration_id, target_id, target_account = (
            registration.id,
            target.id,
            target.account_address,
        )
    salt = secrets.token_bytes(32).hex()
    owner_hash = owner_ref_hash(owner, salt)
    values = {
        "new_registrant": target_account,
        "new_owner_ref": owner_hash,
        "document_hash": "0x" + document,
    }
    # Outside any transaction: the simulation, then the transaction, mined.
    try:
        rights.retrieve_action_check(admin.address, "propose", fingerprint, values)
        sent = rights.send_action(admin, "propose", fingerprint, values)
    except ContractRevertError as exc:
        raise refusal(exc) from exc
    with transaction(sessions) as session:
        row = DesignRightsAction(
            id=new_record_id(),
            registration_id=registration_id,
            fingerprint=fingerprint,
            action="propose",
            organisation_id=holding,
            sender=admin.address,
            principal_id=None,
            status="done",
            attempts=0,
            tx_hash=sent.tx_hash,
            block_number=sent.block_number,
            gas_used=sent.gas_used,
            done_at=datetime.now(UTC),
            document_sha256=document,
            new_organisation_id=target_id,
            new_registrant=target_account,
            owner_ref=owner,
            owner_salt=salt,
            owner_ref_hash=owner_hash,
            owner_organisation_id=owner_organisation,
        )
        session.add(row)
        session.flush()
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="design.rights.propose",
            object_kind="design",
            object_id=number,
            details={
                "action": row.id,
                "by": "ledger admin",
                "document_sha256": document,
                "new_registrant": target_id,
                "tx_hash": sent.tx_hash,
            },
        )
        session.expunge(row)
    return row
