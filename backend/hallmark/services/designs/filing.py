"""The filing step: committed registrations are filed on chain with `register`, durably.

The anchoring worker runs `DesignFiler.run_once` at the end of each of its cycles (it holds the
lead, so one process files). Every step starts from what the database says, so a filer killed at
any point resumes where it stopped; no database transaction is held across chain I/O:

1. `committed` → once the commitment's batch is mined in a block below the head (the contract
   wants it in an earlier block), `register` is simulated. A refusal is mapped honestly:
   DesignAlreadyRegistered (an equal or earlier filing holds the fingerprint: priority lost)
   and any other refusal mark the registration `failed` with the reason; the fingerprint is
   freed. Otherwise, under the account's nonce lock, a nonce is allocated, the transaction
   signed and recorded (`filing`, raw transaction and hash) and committed — the intent —
   and only then broadcast.
2. `filing` → its receipt: mined and successful → `registered` with block number and hash, gas,
   and the filing time, block and final time read from `designOf` (the commitment's anchoring:
   the priority). Reverted → replayed at its block and decoded (`failed`). No receipt: the same
   raw transaction is broadcast again (idempotent) while its nonce is free; if the nonce was
   consumed by another transaction, the design is looked up on chain (filed by this
   registrant with this metadata: adopted from its log) or signed again with a fresh nonce.
3. Reorgs: a `registered` filing whose block hash is no longer the chain's goes back to
   `filing` (the same signed transaction is broadcast again).

A commitment older than the contract's reveal window (1 day) can no longer be revealed: the
registration fails with CommitmentExpired and must be made again.

Raises:
    Nothing from `run_once` for one registration: its error is noted in `last_error` and the
    registration is tried again next cycle. Node and database failures end the cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.client import Fees
from hallmark.chain.registry import CommitmentRef, DesignRegistryContract
from hallmark.core.errors import (
    ChainError,
    ChainUnavailableError,
    ContractRevertError,
    HallmarkError,
)
from hallmark.services.anchoring.status import record_status
from hallmark.services.designs.sending import (
    NonceSource,
    broadcast_once,
    put_back_reorged,
    send_recorded,
)
from hallmark.store.models import DesignRegistration

log = structlog.get_logger(__name__)


class DesignFiler:
    """Files committed registrations on chain (see the module docstring)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        registry: DesignRegistryContract,
        account_of: Callable[[str], LocalAccount],
        nonces: NonceSource,
        chain_id: int,
        fees: Callable[[], Fees] | None = None,
        deployment_id: int | None = None,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.client = registry.client
        self.account_of = account_of
        self.nonces = nonces
        self.chain_id = chain_id
        self.fees = fees or self.client.retrieve_fees
        self.deployment_id = deployment_id

    # --- one cycle ---------------------------------------------------------------------------
    def run_once(self) -> int:
        """One pass; how many registrations changed state."""
        changed = 0
        head = self.client.retrieve_block_number()
        changed += self._check_reorgs(head)
        for registration_id in self._ids("filing"):
            changed += self._isolated(registration_id, self._advance_filing)
        for registration_id in self._ids("committed"):
            changed += self._isolated(registration_id, lambda r: self._file(r, head))
        return changed

    def _ids(self, status: str) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(DesignRegistration.id)
                    .where(DesignRegistration.status == status)
                    .order_by(DesignRegistration.created_at)
                )
            )

    def _isolated(self, registration_id: str, work: Callable[[str], bool]) -> int:
        try:
            return 1 if work(registration_id) else 0
        except ChainUnavailableError:
            raise
        except HallmarkError as exc:
            self._note(registration_id, exc.message)
            log.warning("designs.filing_error", registration=registration_id, error=exc.message)
            return 0

    def _note(self, registration_id: str, error: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(DesignRegistration)
                .where(DesignRegistration.id == registration_id)
                .values(last_error=error, attempts=DesignRegistration.attempts + 1)
            )

    # --- committed → filing -------------------------------------------------------------------
    def _file(self, registration_id: str, head: int) -> bool:
        with self.sessions() as session:
            row = session.get(DesignRegistration, registration_id)
            if row is None or row.status != "committed":
                return False
            status = record_status(session=session, record_id=row.commitment_record_id)
            if status.status not in ("anchored", "confirmed") or status.block_number is None:
                return False
            if status.block_number >= head + 1:  # filed in the next block at the earliest
                return False
            assert status.root is not None and status.anchorer is not None
            commitment = CommitmentRef(
                anchorer=status.anchorer,
                root=status.root,
                salt=row.salt,
                proof=tuple(status.proof or ()),
            )
            parent = None
            if row.parent_id is not None:
                parent_row = session.get(DesignRegistration, row.parent_id)
                if parent_row is None or parent_row.status != "registered":
                    return False  # the parent is filed first (the contract checks it)
                parent = parent_row.fingerprint
            call = {
                "fingerprint": row.fingerprint,
                "perceptual_code": _perceptual_code(row),
                "metadata_hash": row.metadata_hash,
                "owner_ref": row.owner_ref_hash,
                "parent": parent,
                "commitment": commitment,
            }
            organisation_id, registrant = row.organisation_id, row.registrant
        # Outside any transaction: the simulation and the signing key.
        try:
            self.registry.retrieve_register_check(registrant, **call)  # type: ignore[arg-type]
        except ContractRevertError as exc:
            self._fail(registration_id, _reason(exc))
            return True
        account = self.account_of(organisation_id)
        fees = self.fees()
        signed = send_recorded(
            sessions=self.sessions,
            nonces=self.nonces,
            account=account,
            sign=lambda nonce: self.registry.build_register(
                account,
                nonce=nonce,
                fees=fees,
                chain_id=self.chain_id,
                **call,  # type: ignore[arg-type]
            ),
            model=DesignRegistration,
            row_id=registration_id,
            moves=("committed", "filing"),
            also={"deployment_id": self.deployment_id},
            what="registration",
            broadcast=self._broadcast,
        )
        log.info("designs.filing_sent", registration=registration_id, tx=signed.tx_hash)
        return True

    def _broadcast(self, raw_tx: str) -> None:
        broadcast_once(self.client, raw_tx, refused_event="designs.broadcast_refused")

    # --- filing → registered ------------------------------------------------------------------
    def _advance_filing(self, registration_id: str) -> bool:
        with self.sessions() as session:
            row = session.get(DesignRegistration, registration_id)
            if row is None or row.status != "filing" or row.tx_hash is None:
                return False
            tx_hash, raw_tx, nonce = row.tx_hash, row.raw_tx, row.nonce
            registrant, fingerprint = row.registrant, row.fingerprint
            metadata = row.metadata_hash
        receipt = self.client.retrieve_receipt(tx_hash)
        if receipt is not None:
            if int(receipt["status"]) == 1:
                self._mark_registered(
                    registration_id,
                    tx_hash=tx_hash,
                    block_number=int(receipt["blockNumber"]),
                    block_hash="0x" + bytes(receipt["blockHash"]).hex(),
                    gas_used=int(receipt["gasUsed"]),
                )
                return True
            self._fail(
                registration_id, self._replayed(registration_id, int(receipt["blockNumber"]))
            )
            return True
        latest = self.client.retrieve_nonce(registrant, "latest")
        if nonce is not None and nonce < latest:
            # Its nonce was used by another transaction: filed meanwhile (a copy of ours,
            # replaced), or not.
            for found in self.registry.retrieve_registered_logs(fingerprints=[fingerprint]):
                if (
                    found.registrant.lower() == registrant.lower()
                    and found.metadata_hash == metadata
                ):
                    self._mark_registered(
                        registration_id,
                        tx_hash=found.tx_hash,
                        block_number=found.block_number,
                        block_hash=found.block_hash,
                        gas_used=None,
                    )
                    return True
            with self.sessions() as session, session.begin():
                session.execute(
                    update(DesignRegistration)
                    .where(DesignRegistration.id == registration_id)
                    .values(status="committed", raw_tx=None, tx_hash=None, nonce=None)
                )
            log.warning("designs.filing_resigned", registration=registration_id)
            return True
        assert raw_tx is not None
        self._broadcast(raw_tx)
        return False

    def _replayed(self, registration_id: str, block: int) -> str:
        with self.sessions() as session:
            row = session.get(DesignRegistration, registration_id)
            assert row is not None
            status = record_status(session=session, record_id=row.commitment_record_id)
            call = {
                "fingerprint": row.fingerprint,
                "perceptual_code": _perceptual_code(row),
                "metadata_hash": row.metadata_hash,
                "owner_ref": row.owner_ref_hash,
                "parent": None,
                "commitment": CommitmentRef(
                    status.anchorer or row.registrant,
                    status.root or "0x" + "00" * 32,
                    row.salt,
                    tuple(status.proof or ()),
                ),
            }
            if row.parent_id is not None:
                parent = session.get(DesignRegistration, row.parent_id)
                call["parent"] = parent.fingerprint if parent is not None else None
            registrant = row.registrant
        try:
            self.registry.retrieve_register_check(registrant, **call)  # type: ignore[arg-type]
        except ContractRevertError as exc:
            return _reason(exc)
        except ChainError as exc:
            return exc.message
        return f"the register transaction reverted in block {block} without a custom error"

    def _mark_registered(
        self,
        registration_id: str,
        *,
        tx_hash: str,
        block_number: int,
        block_hash: str,
        gas_used: int | None,
    ) -> None:
        with self.sessions() as session:
            fingerprint = session.scalar(
                select(DesignRegistration.fingerprint).where(
                    DesignRegistration.id == registration_id
                )
            )
        assert fingerprint is not None
        design = self.registry.retrieve_design(fingerprint)
        with self.sessions() as session, session.begin():
            session.execute(
                update(DesignRegistration)
                .where(DesignRegistration.id == registration_id)
                .values(
                    status="registered",
                    tx_hash=tx_hash,
                    block_number=block_number,
                    block_hash=block_hash,
                    gas_used=gas_used,
                    filed_at=datetime.fromtimestamp(design.filed_at, UTC),
                    filed_block=design.filed_block,
                    final_at=datetime.fromtimestamp(design.final_at, UTC),
                    registered_at=datetime.now(UTC),
                    last_error=None,
                )
            )
        log.info("designs.filed", registration=registration_id, block=block_number)

    def _fail(self, registration_id: str, reason: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(DesignRegistration)
                .where(DesignRegistration.id == registration_id)
                .values(status="failed", failure=reason, active_fingerprint=None)
            )
        log.warning("designs.filing_failed", registration=registration_id, reason=reason)

    # --- reorgs -------------------------------------------------------------------------------
    def _check_reorgs(self, head: int) -> int:
        lost = put_back_reorged(
            sessions=self.sessions,
            client=self.client,
            model=DesignRegistration,
            moves=("registered", "filing"),
            head=head,
        )
        if lost:
            log.warning("designs.filing_reorged", registrations=len(lost))
        return len(lost)


def _reason(exc: ContractRevertError) -> str:
    """An honest one-line reason for a refused filing."""
    if exc.error_name == "DesignAlreadyRegistered":
        args = exc.arguments
        return (
            f"priority lost: the design is filed by {args.get('registrant')} with priority from "
            f"block {args.get('filedBlock')} ({exc.signature})"
        )
    if exc.error_name == "CommitmentExpired":
        return f"the commitment can no longer be revealed; register again ({exc.signature})"
    return exc.signature


def _perceptual_code(row: DesignRegistration) -> int:
    """The 64-bit body of the filed Image-Code, as stored (hex)."""
    return int(row.perceptual_code, 16)
