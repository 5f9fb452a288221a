"""Flags and compromise declarations: a batch withdrawn by its own organisation, an account
declared compromised by the administrator (version 2 ledgers).

Flagging (`flag_batch`): an organisation flags one of its own batches, on chain, with its own
account (`flagBatch(anchorer, root, reason)`); the batch then reads Flagged — its certificates
Revoked — for ever. Another organisation's batch is not found (404), a batch not on chain yet or
on a version 1 ledger is refused (409).

Compromise (`mark_compromised`): the administrator declares an account compromised from a block
on (`markCompromised(account, fromBlock, reason)`); every batch that account anchored from that
block on reads Flagged (certificates: Revoked), and the account loses its roles for good.

A batch's standing (`batch_standing`) is read from the ledger of the batch's own deployment:
version 2's `batchOf(anchorer, root)` and `batchStatus`, version 1's `batchOf(root)`; the batch
counts as anchored only when the anchoring found is its own (account, kind, count).

Both writes send the transaction first, with no database transaction open, then record the
outcome and its audit entry in one transaction (the chain is the truth; the rows only cache it
for the record views). A flag the chain holds already is recorded as it stands there, and so is
a compromise declaration from the same block (running an interrupted command again finishes it).

Reason codes are numbers on chain; their meaning is the table `REASONS`.

Raises:
    InvalidInputError: unknown reason, bad block, unknown account.
    NotFoundError: no such batch of the caller's organisation.
    ConflictError: the batch is not on chain yet, or its ledger is version 1.
    ChainError: the chain refused or is unreachable (nothing recorded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from hallmark.chain.ledger import Ledger
from hallmark.core.errors import (
    ConflictError,
    ContractRevertError,
    InvalidInputError,
    NotFoundError,
)
from hallmark.services.access import audit
from hallmark.services.access.organisations import organisation_account
from hallmark.services.anchoring.batches import ON_CHAIN, BatchRow
from hallmark.store.db import transaction
from hallmark.store.models import AccountCompromise, AnchorBatch, Organisation
from hallmark.store.records import RECORD_KINDS

log = structlog.get_logger(__name__)

#: Reason codes written on chain (uint16), by name. The names are what the API, the CLI and
#: the record views use; the chain holds only the number.
REASONS: dict[str, int] = {
    "issued_in_error": 1,
    "data_error": 2,
    "key_compromised": 3,
    "withdrawn": 4,
    "other": 99,
}
REASON_NAMES = {code: name for name, code in REASONS.items()}


def reason_code(reason: str) -> int:
    """The code of a reason given by name (or as its number).

    Raises:
        InvalidInputError: no such reason.
    """
    if reason in REASONS:
        return REASONS[reason]
    if reason.isdigit() and int(reason) in REASON_NAMES:
        return int(reason)
    raise InvalidInputError(
        f"unknown reason {reason!r}; one of {', '.join(REASONS)}", details={"reason": reason}
    )


@dataclass(frozen=True, slots=True)
class Flagged:
    """A batch's flag as recorded: `flagged` (by its organisation) or `compromised`."""

    batch_id: int
    root: str
    anchorer: str
    cause: str
    reason: str
    reason_code: int
    tx_hash: str | None


def flag_batch(
    *,
    sessions: sessionmaker[Session],
    ledger_of: Callable[[BatchRow], Ledger],
    passphrase: str,
    actor: audit.AuditActor,
    organisation_id: str,
    batch_id: int,
    reason: str,
) -> Flagged:
    """Flag one of the organisation's own batches on chain with its own account.

    Raises:
        NotFoundError: the organisation has no such batch.
        ConflictError: the batch is not on chain yet, or is on a version 1 ledger.
        InvalidInputError: unknown reason.
        ChainError: the chain refused or is unreachable.
    """
    code = reason_code(reason)
    with sessions() as session:
        batch = session.get(AnchorBatch, batch_id)
        if batch is None or batch.organisation_id != organisation_id:
            raise NotFoundError("batch", str(batch_id))
        if batch.status not in ON_CHAIN:
            raise ConflictError(
                f"batch {batch_id} is not anchored yet ({batch.status}): flag it once it is",
                details={"batch": batch_id, "status": batch.status},
            )
        row = BatchRow.of(batch)
        organisation = session.get(Organisation, organisation_id)
        assert organisation is not None
        account: LocalAccount = organisation_account(organisation, passphrase)
    ledger = ledger_of(row)
    tx_hash: str | None = None
    try:
        tx_hash = ledger.send_flag_batch(
            account, anchorer=row.account_address, root=row.root, reason=code
        ).tx_hash
    except ContractRevertError as exc:
        if exc.error_name != "BatchAlreadyFlagged":
            raise
        code = int(exc.arguments["reason"])  # flagged before: record what the chain holds
    with transaction(sessions) as session:
        session.execute(
            update(AnchorBatch)
            .where(AnchorBatch.id == batch_id, AnchorBatch.flag_cause.is_(None))
            .values(flag_cause="flagged", flag_reason=code, flagged_at=datetime.now(UTC))
        )
        audit.append(
            session,
            actor=actor,
            action="batch.flag",
            object_kind="batch",
            object_id=str(batch_id),
            details={
                "root": row.root,
                "anchorer": row.account_address,
                "ledger": ledger.address,
                "reason": REASON_NAMES.get(code, str(code)),
                "tx": tx_hash,
            },
        )
    log.info("anchoring.batch_flagged", batch=batch_id, reason=code, tx=tx_hash)
    return Flagged(
        batch_id,
        row.root,
        row.account_address,
        "flagged",
        REASON_NAMES.get(code, str(code)),
        code,
        tx_hash,
    )


@dataclass(frozen=True, slots=True)
class Compromised:
    """A compromise declaration as recorded, and how many of the account's batches it covers."""

    account: str
    organisation_id: str | None
    from_block: int
    reason: str
    tx_hash: str
    batches: int


def mark_compromised(
    *,
    sessions: sessionmaker[Session],
    ledger: Ledger,
    deployment_id: int,
    admin: LocalAccount,
    account: str,
    from_block: int,
    reason: str,
    note: str | None = None,
) -> Compromised:
    """Declare an account compromised from `from_block` on the current ledger (admin).

    Raises:
        InvalidInputError: not an address, a negative block, unknown reason.
        ConflictError: the ledger is version 1.
        ChainError: the chain refused (e.g. `InvalidCompromiseBlock`, `AccountNotBound`,
            `CompromiseCannotMoveLater`) or is unreachable.
    """
    if not Web3.is_address(account):
        raise InvalidInputError(f"{account!r} is not an account address")
    if from_block < 0:
        raise InvalidInputError("--from-block must be 0 or more")
    code = reason_code(reason)
    address = Web3.to_checksum_address(account)
    declared = _declared_at(ledger, address, from_block)
    if declared is None:
        sent = ledger.send_mark_compromised(admin, address, from_block=from_block, reason=code)
        tx_hash = sent.tx_hash
    else:  # declared at this block already (a run interrupted before it recorded): record it
        tx_hash, _, code = declared
    with transaction(sessions) as session:
        organisation_id = session.scalars(
            select(Organisation.id).where(
                func.lower(Organisation.account_address) == address.lower()
            )
        ).first()
        found = session.scalars(
            select(AccountCompromise).where(
                AccountCompromise.deployment_id == deployment_id,
                AccountCompromise.account_address == address,
            )
        ).first()
        if found is None:
            session.add(
                AccountCompromise(
                    deployment_id=deployment_id,
                    account_address=address,
                    from_block=from_block,
                    reason=code,
                    tx_hash=tx_hash,
                    marked_at=datetime.now(UTC),
                )
            )
        else:  # moved earlier (the ledger refuses later)
            found.from_block, found.reason = from_block, code
            found.tx_hash, found.marked_at = tx_hash, datetime.now(UTC)
        covered = int(
            session.scalar(
                select(func.count())
                .select_from(AnchorBatch)
                .where(
                    AnchorBatch.deployment_id == deployment_id,
                    AnchorBatch.account_address == address,
                    AnchorBatch.block_number >= from_block,
                )
            )
            or 0
        )
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="account.compromise",
            object_kind="account",
            object_id=address,
            details={
                "organisation": organisation_id,
                "from_block": from_block,
                "reason": REASON_NAMES.get(code, str(code)),
                "note": note,
                "ledger": ledger.address,
                "tx": tx_hash,
                "batches": covered,
            },
        )
    log.warning("account.compromised", account=address, from_block=from_block, batches=covered)
    return Compromised(
        address, organisation_id, from_block, REASON_NAMES.get(code, str(code)), tx_hash, covered
    )


def _declared_at(ledger: Ledger, account: str, from_block: int) -> tuple[str, int, int] | None:
    """The declaration of `account` compromised from exactly `from_block` (its transaction,
    block, reason) if the ledger holds it already: the ledger refuses to declare it again."""
    if ledger.version != 2 or ledger.retrieve_account(account).compromised_from != from_block:
        return None
    found = ledger.retrieve_compromise_log(account)
    return found if found is not None and found[1] == from_block else None


@dataclass(frozen=True, slots=True)
class Standing:
    """A batch as the database holds it and as its own deployment's ledger reads it now."""

    batch_id: int
    kind: str
    root: str
    record_count: int
    status: str
    anchorer: str
    transaction: str | None
    block: int | None
    ledger: str
    #: The ledger's major version (1 or 2).
    contracts_version: int
    #: On chain: the batch's own anchoring (its account, kind and count) is there.
    anchored: bool
    #: `valid`, `flagged` or `unknown` (version 2's `batchStatus`; version 1: valid or unknown).
    state: str
    cause: str
    reason: str | None
    at: int | None


def batch_standing(
    *,
    sessions: sessionmaker[Session],
    ledger_of: Callable[[BatchRow], Ledger],
    organisation_id: str,
    batch_id: int,
) -> Standing:
    """One of the organisation's batches, checked now on the ledger it is anchored on.

    Raises:
        NotFoundError: the organisation has no such batch.
        ChainError: the node does not answer.
    """
    with sessions() as session:
        batch = session.get(AnchorBatch, batch_id)
        if batch is None or batch.organisation_id != organisation_id:
            raise NotFoundError("batch", str(batch_id))
        row = BatchRow.of(batch)
        on_chain = batch.status in ON_CHAIN
        tx_hash, block = batch.tx_hash if on_chain else None, batch.block_number
    ledger = ledger_of(row)
    found = ledger.retrieve_batch(row.root, anchorer=row.account_address)
    own = (
        found.anchored
        and found.anchorer.lower() == row.account_address.lower()
        and found.kind == RECORD_KINDS[row.kind]
        and found.record_count == row.record_count
    )
    state, cause = "valid", "none"
    reason: str | None = None
    at: int | None = found.anchored_at
    if not own:
        state, at = "unknown", None
        if not found.anchored:
            cause = "not_anchored"
        elif found.anchorer.lower() != row.account_address.lower():
            cause = "other_anchorer"  # version 1: the root is another account's
        else:
            cause = "wrong_kind"  # as another kind or count than the batch's
    elif ledger.version == 2:
        standing = ledger.retrieve_batch_status(row.account_address, row.root)
        state, cause, at = standing.state, standing.cause, standing.at
        if standing.reason:
            reason = REASON_NAMES.get(standing.reason, str(standing.reason))
    return Standing(
        batch_id=row.id,
        kind=row.kind,
        root=row.root,
        record_count=row.record_count,
        status=row.status,
        anchorer=row.account_address,
        transaction=tx_hash,
        block=block,
        ledger=ledger.address,
        contracts_version=ledger.version,
        anchored=own,
        state=state,
        cause=cause,
        reason=reason,
        at=at,
    )
