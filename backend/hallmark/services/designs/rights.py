"""Assignments and licences of registered designs, on chain through the DesignRegistry.

A registration's rights are managed by its current registrant — the account of the registrar
organisation that filed it, or that it was last assigned to — while that account holds
REGISTRAR_ROLE:

* assignment, in two steps: the registrant's organisation proposes (the new registrant: another
  registrar organisation; the new owner reference; the SHA-256 of the signed assignment
  document), the new registrant's organisation accepts the same document; the proposer or the
  named new registrant (declining) cancels a pending one;
* licence grant (licensee reference, document SHA-256, validity) and termination with a reason
  code, final.

Only a final filing is assigned or licensed: one day after its commitment (`finalAt`), when no
earlier commitment can displace it any more.

Every action follows the house rule for chain writes (no database transaction across chain
I/O), in three steps:

1. request (the API, `plan_*` then `check_on_chain` then `record_action`): the action is checked
   against the database (the caller's organisation, the registration) and simulated on chain
   from the account that will send it, so a refusal answers at once with the contract's reason
   (4xx, `refusal`); then, in one database transaction, the action is recorded (`requested`)
   and audited;
2. send (the worker, `RightsSender.run_once`, on the organisation accounts' nonces): simulated
   again, signed, recorded with its raw transaction (`sending`) and committed, then broadcast;
3. outcome (the worker): the receipt → `done` (an accepted assignment moves the registration's
   owner) or `failed` with the contract's reason. A worker killed between any two steps resumes
   from the database: the recorded transaction is broadcast again, or, its nonce used by
   another transaction, the chain is read for the action's effect.

References are never on chain in clear: the new owner and the licensee are hashed with a fresh
32-byte salt (as the registration's owner is, `registry.owner_ref_hash`); the salt stays here.

Raises:
    PermissionDeniedError: not a registrar, or not the organisation the contract allows (403).
    DesignNotFinalError: the filing is not final yet (409, `finalAt` in details).
    RightsConflictError: the contract refuses the action in the registration's state (409).
    InvalidInputError: a malformed document hash, reference, period or reason (422).
    NotFoundError: an unknown registration, organisation, licence or action (404).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.client import Fees
from hallmark.chain.registry import DesignRights
from hallmark.core.errors import (
    ChainError,
    ChainUnavailableError,
    ConflictError,
    ContractRevertError,
    HallmarkError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from hallmark.services.access import audit
from hallmark.services.access.keys import Actor
from hallmark.services.access.organisations import find_organisation
from hallmark.services.designs.registry import (
    find_registration,
    owner_ref_hash,
    require_registrar,
)
from hallmark.services.designs.sending import (
    Nonces,
    broadcast_once,
    put_back_reorged,
    send_recorded,
)
from hallmark.store.models import DesignRegistration, DesignRightsAction, Organisation
from hallmark.store.records import new_record_id

log = structlog.get_logger(__name__)

ACTIONS = ("propose", "accept", "cancel", "grant", "terminate")
#: Named termination reasons (any code 1-65535 is accepted; these are Hallmark's own).
TERMINATION_REASONS = {
    "breach": 1,
    "non_payment": 2,
    "mutual_agreement": 3,
    "rights_dispute": 4,
    "licensee_ceased": 5,
    "other": 99,
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DesignNotFinalError(ConflictError):
    """The filing may still be displaced by an earlier commitment until `final_at`."""

    code = "design_not_final"


class RightsConflictError(ConflictError):
    """The registry refuses the action in the design's present state (the reason is named)."""

    code = "design_rights_conflict"


# --- the contract's refusals ---------------------------------------------------------------------

_FORBIDDEN = {
    "NotActiveRegistrant": "only the design's current registrant, while it holds REGISTRAR_ROLE, "
    "may do this",
    "NotProposedRegistrant": "only the new registrant the pending assignment names may accept it",
    "UnauthorisedCancellation": "only the proposer or the proposed new registrant may cancel "
    "a pending assignment",
    "RegistrantStillActive": "the ledger admin may only assign designs of a registrar that "
    "lost its role",
    "AccessControlUnauthorizedAccount": "the account does not hold REGISTRAR_ROLE",
    "AssignmentNoLongerAuthorised": "the proposer has lost its authority to assign the design; "
    "the proposal can no longer be accepted",
}
_CONFLICTS = {
    "AssignmentDocumentMismatch": "the pending assignment is under another document: accept "
    "exactly the document that was proposed",
    "NoPendingAssignment": "the design has no pending assignment",
    "LicenceAlreadyGranted": "a licence under this document is recorded already",
    "LicenceAlreadyTerminated": "the licence was terminated already (terminations are final)",
    "DesignNotRegistered": "the design is not registered on chain",
}
_INVALID = {
    "ZeroRegistrant": "new_registrant",
    "ZeroOwnerRef": "new_owner_ref",
    "ZeroDocumentHash": "document_sha256",
    "ZeroLicenseeRef": "licensee_ref",
    "InvalidLicencePeriod": "valid_until",
    "ZeroTerminationReason": "reason",
}


def refusal(exc: ContractRevertError) -> HallmarkError:
    """The API's error for a refusal of the registry (one table; the contract's reason kept)."""
    name, args = exc.error_name, exc.arguments
    details: dict[str, Any] = {"contract_error": name, "arguments": args, "reason": exc.signature}
    if name == "DesignNotFinal":
        final_at = int(args.get("finalAt", 0))
        when = _iso(final_at)
        details |= {"final_at": when, "final_at_unix": final_at}
        return DesignNotFinalError(
            "only a final filing can be assigned or licensed: an earlier commitment may still "
            f"displace this one until {when} (a day after its commitment) — {exc.signature}",
            details=details,
        )
    if name in _FORBIDDEN:
        return PermissionDeniedError(f"{_FORBIDDEN[name]} — {exc.signature}", details=details)
    if name == "LicenceNotGranted":
        return NotFoundError("licence", str(args.get("documentHash", "")))
    if name in _CONFLICTS:
        return RightsConflictError(f"{_CONFLICTS[name]} — {exc.signature}", details=details)
    if name in _INVALID:
        return InvalidInputError(
            f"the registry refuses the value — {exc.signature}",
            details={"field": _INVALID[name], **details},
        )
    return exc


# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """An action checked against the database, to be simulated and recorded."""

    action: str
    registration_id: str
    fingerprint: str
    organisation_id: str
    sender: str
    #: The chain call's named values (`chain.registry.rights_arguments`).
    values: dict[str, Any]
    #: Column values of the action row besides the common ones.
    columns: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        action: str,
        organisation: Organisation,
        registration: DesignRegistration,
        values: dict[str, Any],
        columns: dict[str, Any] | None = None,
    ) -> Planned:
        """`action` on `registration`, sent with the account of `organisation`."""
        return cls(
            action=action,
            registration_id=registration.id,
            fingerprint=registration.fingerprint,
            organisation_id=organisation.id,
            sender=organisation.account_address,
            values=values,
            columns=columns or {},
        )


def _invalid(name: str, message: str) -> InvalidInputError:
    return InvalidInputError(message, details={"field": name})


def check_document(value: str) -> str:
    """A document's SHA-256 as 64 lower-case hex digits (an optional 0x removed)."""
    text = value.strip().lower().removeprefix("0x")
    if not _SHA256.match(text):
        raise _invalid("document_sha256", "the SHA-256 of the signed document: 64 hex digits")
    return text


def _check_ref(name: str, value: str) -> str:
    text = value.strip()
    if not text or len(text) > 200:
        raise _invalid(name, f"{name}: a reference of 1 to 200 characters")
    return text


def check_reason(value: int | str) -> int:
    """A termination reason: a code 1-65535 or one of `TERMINATION_REASONS`."""
    if isinstance(value, str) and not value.strip().isdigit():
        code = TERMINATION_REASONS.get(value.strip().lower())
        if code is None:
            raise _invalid(
                "reason", f"reason: a code 1-65535 or one of {', '.join(TERMINATION_REASONS)}"
            )
        return code
    code = int(value)
    if not 1 <= code <= 0xFFFF:
        raise _invalid("reason", "reason: a code 1-65535")
    return code


def _registered(session: Session, ref: str) -> DesignRegistration:
    registration = find_registration(session, ref)
    if registration.status != "registered":
        raise RightsConflictError(
            f"design {registration.number} is {registration.status}, not filed on chain: only "
            "a registered, final filing can be assigned or licensed",
            details={"registration": registration.number, "status": registration.status},
        )
    return registration


def _organisation(session: Session, actor: Actor) -> Organisation:
    require_registrar(actor)
    organisation = session.get(Organisation, actor.organisation_id)
    if organisation is None or organisation.kind != "legal" or organisation.status != "active":
        raise PermissionDeniedError(
            "only an active registrar organisation manages design rights",
            details={"organisation": actor.organisation_id},
        )
    return organisation


def holder(session: Session, registration: DesignRegistration) -> tuple[str, str]:
    """The organisation and account the registration belongs to now: the filer's, or the
    latest accepted assignment's."""
    accepted = session.scalar(
        select(DesignRightsAction)
        .where(
            DesignRightsAction.registration_id == registration.id,
            DesignRightsAction.action == "accept",
            DesignRightsAction.status == "done",
        )
        .order_by(DesignRightsAction.done_at.desc(), DesignRightsAction.created_at.desc())
    )
    if accepted is None:
        return registration.organisation_id, registration.registrant
    return accepted.organisation_id, accepted.sender


def _require_holder(session: Session, registration: DesignRegistration, actor: Actor) -> None:
    organisation_id, account = holder(session, registration)
    if actor.organisation_id != organisation_id:
        raise PermissionDeniedError(
            f"design {registration.number} is managed by its registrant ({account}); "
            "another organisation may not assign or licence it",
            details={"registration": registration.number, "registrant": account},
        )


def _acting_on(
    session: Session, actor: Actor, ref: str, *, as_holder: bool
) -> tuple[Organisation, DesignRegistration]:
    """The caller's registrar organisation and the registered design `ref`; `as_holder`: only
    for the organisation that holds the design now (the registry decides for the others)."""
    organisation = _organisation(session, actor)
    registration = _registered(session, ref)
    if as_holder:
        _require_holder(session, registration, actor)
    return organisation, registration


def plan_propose(
    *,
    session: Session,
    actor: Actor,
    ref: str,
    new_registrant: str,
    new_owner_ref: str,
    document_sha256: str,
    new_owner_organisation: str | None = None,
) -> Planned:
    """Propose to assign `ref` to the registrar organisation `new_registrant` (id or name) for
    the owner `new_owner_ref`, under the signed document `document_sha256`."""
    organisation, registration = _acting_on(session, actor, ref, as_holder=True)
    document = check_document(document_sha256)
    owner = _check_ref("new_owner_ref", new_owner_ref)
    target = find_organisation(session, new_registrant)
    if target.kind != "legal" or target.status != "active":
        raise _invalid(
            "new_registrant",
            f"{target.name} is not an active registrar organisation: designs only go to registrars",
        )
    if target.id == organisation.id:
        raise _invalid("new_registrant", "the design is this organisation's already")
    owner_organisation_id = None
    if new_owner_organisation:
        owner_organisation_id = find_organisation(session, new_owner_organisation).id
    salt = secrets.token_bytes(32).hex()
    owner_hash = owner_ref_hash(owner, salt)
    return Planned.of(
        "propose",
        organisation,
        registration,
        values={
            "new_registrant": target.account_address,
            "new_owner_ref": owner_hash,
            "document_hash": "0x" + document,
        },
        columns={
            "document_sha256": document,
            "new_organisation_id": target.id,
            "new_registrant": target.account_address,
            "owner_ref": owner,
            "owner_salt": salt,
            "owner_ref_hash": owner_hash,
            "owner_organisation_id": owner_organisation_id,
        },
    )


def plan_accept(*, session: Session, actor: Actor, ref: str, document_sha256: str) -> Planned:
    """Accept, as the named new registrant, the pending assignment of `ref` under the same
    document. The new owner is the proposal's (recorded here when it was proposed)."""
    organisation, registration = _acting_on(session, actor, ref, as_holder=False)
    document = check_document(document_sha256)
    proposed = _latest(session, registration.id, "propose", document)
    columns: dict[str, Any] = {"document_sha256": document}
    if proposed is not None:
        columns |= {
            "new_organisation_id": organisation.id,
            "new_registrant": organisation.account_address,
            "owner_ref": proposed.owner_ref,
            "owner_salt": proposed.owner_salt,
            "owner_ref_hash": proposed.owner_ref_hash,
            "owner_organisation_id": proposed.owner_organisation_id,
        }
    return Planned.of(
        "accept",
        organisation,
        registration,
        values={"document_hash": "0x" + document},
        columns=columns,
    )


def plan_cancel(*, session: Session, actor: Actor, ref: str) -> Planned:
    """Cancel the pending assignment of `ref` (its proposer, or the named new registrant
    declining; the registry decides who may)."""
    organisation, registration = _acting_on(session, actor, ref, as_holder=False)
    return Planned.of(
        "cancel",
        organisation,
        registration,
        values={},
    )


def plan_grant(
    *,
    session: Session,
    actor: Actor,
    ref: str,
    licensee_ref: str,
    document_sha256: str,
    valid_from: datetime,
    valid_until: datetime | None = None,
) -> Planned:
    """Record a licence of `ref` to `licensee_ref` under `document_sha256`, valid from
    `valid_from` until `valid_until` (None: open-ended)."""
    organisation, registration = _acting_on(session, actor, ref, as_holder=True)
    document = check_document(document_sha256)
    licensee = _check_ref("licensee_ref", licensee_ref)
    start = _unix(valid_from, "valid_from")
    end = _unix(valid_until, "valid_until") if valid_until is not None else 0
    if end and end <= start:
        raise _invalid("valid_until", "a licence ends after it starts")
    salt = secrets.token_bytes(32).hex()
    licensee_hash = owner_ref_hash(licensee, salt)
    return Planned.of(
        "grant",
        organisation,
        registration,
        values={
            "licensee_ref": licensee_hash,
            "document_hash": "0x" + document,
            "valid_from": start,
            "valid_until": end,
        },
        columns={
            "document_sha256": document,
            "licensee_ref": licensee,
            "licensee_salt": salt,
            "licensee_ref_hash": licensee_hash,
            "valid_from": start,
            "valid_until": end,
        },
    )


def plan_terminate(
    *, session: Session, actor: Actor, ref: str, document_sha256: str, reason: int | str
) -> Planned:
    """Terminate, finally, the licence of `ref` under `document_sha256` for `reason`."""
    organisation, registration = _acting_on(session, actor, ref, as_holder=True)
    document = check_document(document_sha256)
    code = check_reason(reason)
    return Planned.of(
        "terminate",
        organisation,
        registration,
        values={"document_hash": "0x" + document, "reason": code},
        columns={"document_sha256": document, "reason": code},
    )


def _unix(value: datetime, name: str) -> int:
    if value.tzinfo is None:
        raise _invalid(name, f"{name}: a time with its UTC offset")
    seconds = int(value.timestamp())
    if not 0 <= seconds < 2**64:
        raise _invalid(name, f"{name}: out of range")
    return seconds


def _latest(
    session: Session, registration_id: str, action: str, document: str | None = None
) -> DesignRightsAction | None:
    query = select(DesignRightsAction).where(
        DesignRightsAction.registration_id == registration_id,
        DesignRightsAction.action == action,
        DesignRightsAction.status != "failed",
    )
    if document is not None:
        query = query.where(DesignRightsAction.document_sha256 == document)
    return session.scalar(query.order_by(DesignRightsAction.created_at.desc()))


def check_on_chain(rights: DesignRights | None, planned: Planned) -> None:
    """Simulate the action from its sender in the next block; a refusal raises the API's
    error (`refusal`). A chain read: call it outside any database transaction."""
    if rights is None:
        raise ServiceUnavailableError("no chain is configured: design rights are recorded on chain")
    try:
        rights.retrieve_action_check(
            planned.sender, planned.action, planned.fingerprint, planned.values
        )
    except ContractRevertError as exc:
        raise refusal(exc) from exc


def record_action(*, session: Session, actor: Actor, planned: Planned) -> DesignRightsAction:
    """Record a checked action (`requested`) and audit it, in the caller's transaction; the
    worker sends it."""
    registration = session.get(DesignRegistration, planned.registration_id)
    if registration is None or registration.status != "registered":
        raise RightsConflictError("the registration changed meanwhile; try again")
    row = DesignRightsAction(
        id=new_record_id(),
        registration_id=planned.registration_id,
        fingerprint=planned.fingerprint,
        action=planned.action,
        organisation_id=planned.organisation_id,
        sender=planned.sender,
        principal_id=actor.principal_id,
        status="requested",
        attempts=0,
        **planned.columns,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor.audit,
        action=f"design.rights.{planned.action}",
        object_kind="design",
        object_id=registration.number,
        details={"action": row.id, "document_sha256": row.document_sha256},
    )
    return row


def find_action(session: Session, action_id: str) -> DesignRightsAction:
    row = session.get(DesignRightsAction, action_id)
    if row is None:
        raise NotFoundError("design rights action", action_id)
    return row


def actions_of(session: Session, registration: DesignRegistration) -> list[DesignRightsAction]:
    return list(
        session.scalars(
            select(DesignRightsAction)
            .where(DesignRightsAction.registration_id == registration.id)
            .order_by(DesignRightsAction.created_at, DesignRightsAction.id)
        )
    )


def rights_state(rights: DesignRights, fingerprint: str, documents: list[str]) -> dict[str, Any]:
    """What the chain says now: registrant, owner hash, pending assignment, the licences under
    `documents`. A chain read: call it outside any database transaction."""
    design = rights.registry.retrieve_design(fingerprint)
    pending = rights.retrieve_pending_assignment(fingerprint)
    licences = []
    for document in documents:
        licence = rights.retrieve_licence(fingerprint, "0x" + document)
        if licence.granted_at:
            licences.append(
                {
                    "document_sha256": document,
                    "licensee_ref_hash": licence.licensee_ref,
                    "granted_by": licence.granted_by,
                    "granted_at": _iso(licence.granted_at),
                    "valid_from": _iso(licence.valid_from),
                    "valid_until": _iso(licence.valid_until) if licence.valid_until else None,
                    "terminated_at": _iso(licence.terminated_at) if licence.terminated_at else None,
                    "termination_reason": licence.termination_reason or None,
                    "terminated_by": licence.terminated_by if licence.terminated_at else None,
                }
            )
    return {
        "registrant": design.registrant,
        "owner_ref_hash": design.owner_ref,
        "final_at": _iso(design.final_at) if design.registered else None,
        "pending_assignment": {
            "new_registrant": pending.new_registrant,
            "new_owner_ref_hash": pending.new_owner_ref,
            "document_sha256": pending.document_hash.removeprefix("0x"),
            "proposed_by": pending.proposed_by,
            "proposed_at": _iso(pending.proposed_at),
        }
        if pending.pending
        else None,
        "licences": licences,
    }


def _iso(seconds: int) -> str:
    """A chain time (Unix seconds) as the API writes times: ISO 8601 in UTC, with Z."""
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


# --- the worker's step ---------------------------------------------------------------------------


class RightsSender:
    """Sends recorded actions and records their outcome (see the module docstring)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        rights: DesignRights,
        account_of: Callable[[str], LocalAccount],
        nonces: Nonces,
        chain_id: int,
        fees: Callable[[], Fees] | None = None,
    ) -> None:
        self.sessions = sessions
        self.rights = rights
        self.client = rights.client
        self.account_of = account_of
        self.nonces = nonces
        self.chain_id = chain_id
        self.fees = fees or self.client.retrieve_fees

    def run_once(self) -> int:
        """One pass; how many actions changed state."""
        changed = self._check_reorgs(self.client.retrieve_block_number())
        for action_id in self._ids("sending"):
            changed += self._isolated(action_id, self._advance)
        for action_id in self._ids("requested"):
            changed += self._isolated(action_id, self._send)
        return changed

    def _ids(self, status: str) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(DesignRightsAction.id)
                    .where(DesignRightsAction.status == status)
                    .order_by(DesignRightsAction.created_at, DesignRightsAction.id)
                )
            )

    def _isolated(self, action_id: str, work: Callable[[str], bool]) -> int:
        try:
            return 1 if work(action_id) else 0
        except ChainUnavailableError:
            raise
        except HallmarkError as exc:
            with self.sessions() as session, session.begin():
                session.execute(
                    update(DesignRightsAction)
                    .where(DesignRightsAction.id == action_id)
                    .values(last_error=exc.message, attempts=DesignRightsAction.attempts + 1)
                )
            log.warning("designs.rights_error", action=action_id, error=exc.message)
            return 0

    def _load(self, action_id: str) -> DesignRightsAction | None:
        with self.sessions() as session:
            row = session.get(DesignRightsAction, action_id)
            if row is not None:
                session.expunge(row)
            return row

    @staticmethod
    def values(row: DesignRightsAction) -> dict[str, Any]:
        """The chain call's values, from the recorded action."""
        document = "0x" + row.document_sha256 if row.document_sha256 else None
        if row.action == "propose":
            return {
                "new_registrant": row.new_registrant,
                "new_owner_ref": row.owner_ref_hash,
                "document_hash": document,
            }
        if row.action == "accept":
            return {"document_hash": document}
        if row.action == "grant":
            return {
                "licensee_ref": row.licensee_ref_hash,
                "document_hash": document,
                "valid_from": row.valid_from,
                "valid_until": row.valid_until,
            }
        if row.action == "terminate":
            return {"document_hash": document, "reason": row.reason}
        return {}

    # --- requested → sending ---------------------------------------------------------------
    def _send(self, action_id: str) -> bool:
        row = self._load(action_id)
        if row is None or row.status != "requested":
            return False
        values = self.values(row)
        try:
            self.rights.retrieve_action_check(row.sender, row.action, row.fingerprint, values)
        except ContractRevertError as exc:
            self._fail(action_id, exc.signature)
            return True
        account = self.account_of(row.organisation_id)
        if account.address.lower() != row.sender.lower():
            self._fail(action_id, "the organisation's account changed since the request")
            return True
        fees = self.fees()
        signed = send_recorded(
            sessions=self.sessions,
            nonces=self.nonces,
            account=account,
            sign=lambda nonce: self.rights.build_action(
                account,
                row.action,
                row.fingerprint,
                values,
                nonce=nonce,
                fees=fees,
                chain_id=self.chain_id,
            ),
            model=DesignRightsAction,
            row_id=action_id,
            moves=("requested", "sending"),
            what="action",
            broadcast=self._broadcast,
        )
        log.info("designs.rights_sent", action=action_id, kind=row.action, tx=signed.tx_hash)
        return True

    def _broadcast(self, raw_tx: str) -> None:
        broadcast_once(self.client, raw_tx, refused_event="designs.rights_broadcast_refused")

    # --- sending → done | failed -------------------------------------------------------------
    def _advance(self, action_id: str) -> bool:
        row = self._load(action_id)
        if row is None or row.status != "sending" or row.tx_hash is None:
            return False
        receipt = self.client.retrieve_receipt(row.tx_hash)
        if receipt is not None:
            block = int(receipt["blockNumber"])
            if int(receipt["status"]) == 1:
                self._done(
                    row,
                    tx_hash=row.tx_hash,
                    block_number=block,
                    block_hash="0x" + bytes(receipt["blockHash"]).hex(),
                    gas_used=int(receipt["gasUsed"]),
                )
            else:
                self._fail(action_id, self._replayed(row, block))
            return True
        latest = self.client.retrieve_nonce(row.sender, "latest")
        if row.nonce is not None and row.nonce < latest:
            # Its nonce went to another transaction (a copy of ours, replaced, or not).
            if self._effect_seen(row):
                self._done(row, tx_hash=None, block_number=None, block_hash=None, gas_used=None)
            else:
                with self.sessions() as session, session.begin():
                    session.execute(
                        update(DesignRightsAction)
                        .where(DesignRightsAction.id == action_id)
                        .values(status="requested", raw_tx=None, tx_hash=None, nonce=None)
                    )
                log.warning("designs.rights_resigned", action=action_id)
            return True
        assert row.raw_tx is not None
        self._broadcast(row.raw_tx)
        return False

    def _effect_seen(self, row: DesignRightsAction) -> bool:
        """Whether the chain shows the action's effect (its transaction's receipt is gone)."""
        document = "0x" + (row.document_sha256 or "")
        if row.action in ("propose", "cancel", "accept"):
            pending = self.rights.retrieve_pending_assignment(row.fingerprint)
            if row.action == "propose":
                return pending.pending and pending.document_hash == document
            if row.action == "cancel":
                return not pending.pending
            design = self.rights.registry.retrieve_design(row.fingerprint)
            return (
                design.registrant.lower() == row.sender.lower()
                and design.owner_ref == row.owner_ref_hash
            )
        licence = self.rights.retrieve_licence(row.fingerprint, document)
        if row.action == "grant":
            return licence.granted_at != 0 and licence.licensee_ref == row.licensee_ref_hash
        return licence.terminated_at != 0 and licence.termination_reason == row.reason

    def _replayed(self, row: DesignRightsAction, block: int) -> str:
        try:
            self.rights.retrieve_action_check(
                row.sender, row.action, row.fingerprint, self.values(row), block=block - 1
            )
        except ContractRevertError as exc:
            return exc.signature
        except ChainError as exc:
            return exc.message
        return f"the transaction reverted in block {block} without a custom error"

    def _done(
        self,
        row: DesignRightsAction,
        *,
        tx_hash: str | None,
        block_number: int | None,
        block_hash: str | None,
        gas_used: int | None,
    ) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(DesignRightsAction)
                .where(DesignRightsAction.id == row.id)
                .values(
                    status="done",
                    tx_hash=tx_hash,
                    block_number=block_number,
                    block_hash=block_hash,
                    gas_used=gas_used,
                    done_at=datetime.now(UTC),
                    last_error=None,
                )
            )
            if row.action == "accept" and row.owner_ref is not None:
                # The owner moves with the registration (the chain's ownerRef did).
                session.execute(
                    update(DesignRegistration)
                    .where(DesignRegistration.id == row.registration_id)
                    .values(
                        owner_ref=row.owner_ref,
                        owner_ref_hash=row.owner_ref_hash,
                        owner_organisation_id=row.owner_organisation_id,
                    )
                )
        log.info("designs.rights_done", action=row.id, kind=row.action, block=block_number)

    def _check_reorgs(self, head: int) -> int:
        """Actions mined in a block the chain no longer has go back to `sending` (their
        recorded transaction is broadcast again)."""
        lost = put_back_reorged(
            sessions=self.sessions,
            client=self.client,
            model=DesignRightsAction,
            moves=("done", "sending"),
            head=head,
            also={"done_at": None},
        )
        if lost:
            log.warning("designs.rights_reorged", actions=len(lost))
        return len(lost)

    def _fail(self, action_id: str, reason: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(DesignRightsAction)
                .where(DesignRightsAction.id == action_id)
                .values(status="failed", failure=reason)
            )
        log.warning("designs.rights_failed", action=action_id, reason=reason)
