"""The public directory of organisations: who they are and which chain accounts act for them.

Anyone holding a record can see which organisation wrote it (the envelope's `organisation`) and,
from the anchoring transaction, which account anchored it. The directory ties the two: each
organisation's id, name, kind, GLN, its chain account and the history of that account's ledger
role (granted at creation and on re-enabling, revoked on disabling), taken from the audit log.
A reader checks the history against the ledger's `RoleGranted` / `RoleRevoked` events.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.chain.ledger import ORG_KIND_ROLES
from hallmark.core.times import utc
from hallmark.services.access.schemas import (
    AccountPublic,
    DirectoryPublic,
    OrganisationPublic,
    RoleChange,
)
from hallmark.store.models import AuditEntry, Organisation

#: Audit actions that change an organisation's ledger role, and what they did to it.
_ROLE_EVENTS = {
    "organisation.create": "granted",
    "organisation.enable": "granted",
    "organisation.disable": "revoked",
}


def directory(session: Session) -> DirectoryPublic:
    """Every organisation, by name, with its account and that account's role history."""
    organisations = session.scalars(select(Organisation).order_by(Organisation.name)).all()
    entries = session.execute(
        select(AuditEntry.object_id, AuditEntry.action, AuditEntry.at)
        .where(
            AuditEntry.object_kind == "organisation",
            AuditEntry.action.in_(list(_ROLE_EVENTS)),
            AuditEntry.outcome == "ok",
        )
        .order_by(AuditEntry.id)
    ).all()
    history: dict[str, list[RoleChange]] = {}
    for object_id, action, at in entries:
        if object_id is None:
            continue
        history.setdefault(object_id, []).append(
            RoleChange(change=_ROLE_EVENTS[action], at=utc(at))
        )
    return DirectoryPublic(
        data=[_public(org, history.get(org.id, [])) for org in organisations],
        count=len(organisations),
    )


def _public(org: Organisation, changes: Sequence[RoleChange]) -> OrganisationPublic:
    role = ORG_KIND_ROLES[org.kind]
    return OrganisationPublic(
        id=org.id,
        name=org.name,
        kind=org.kind,
        gln=org.gln,
        status=org.status,
        accounts=[AccountPublic(address=org.account_address, role=role, history=list(changes))],
    )
