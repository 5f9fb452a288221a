"""The batches' transactions: signed with the organisation's key, sent, re-signed, replaced.

Each organisation anchors with its own account (its key decrypted once per process). A batch's
`anchor(root, kind, count)` transaction is signed locally with a fixed gas limit, EIP-1559 fees
read once per cycle and a nonce from the per-account `NonceAllocator`; it is stored before it is
broadcast. A transaction the node refuses is kept and the account backs off. One that waits
unmined longer than `fee_bump_after` is replaced: same nonce, fees 12.5 % higher and at least
today's, within `max_fee_gwei` (`hallmark.chain.fees`); whichever of the two is mined, the batch
adopts it. One whose nonce was lost is signed again with a fresh nonce; a nonce no batch holds
below waiting transactions (a gap) is filled with a transfer of nothing to the account itself.

Each batch is anchored on its deployment's ledger (`ledger_of`): a batch signed for an earlier
deployment is still looked up there; signing again (`resign`, `reform`) moves it to the current
deployment. An anchoring found on chain is the batch's only when its anchorer, kind and count
are what the batch signed (`owns`); otherwise the batch is formed again with a random salt leaf,
so its root differs (`reform`), and `last_error` says why.

Raises:
    ChainError: the node does not answer (ends the worker's cycle).
    NotFoundError: an organisation that no longer exists.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import structlog
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.client import Fees
from hallmark.chain.fees import fees_of, replacement_fees
from hallmark.chain.ledger import AnchorLog, Ledger, SignedTransaction, sign_locally
from hallmark.config import Settings
from hallmark.core.backoff import Backoff
from hallmark.core.errors import NotFoundError, TransactionRejectedError
from hallmark.services.access.organisations import organisation_account
from hallmark.services.anchoring.batches import BatchRow, BatchStatus, batch_tree, root_hex
from hallmark.services.anchoring.nonces import NonceAllocator
from hallmark.services.anchoring.readiness import WorkerState
from hallmark.store.db import transaction
from hallmark.store.models import AnchorBatch, Organisation, Record, RecordAnchor
from hallmark.store.records import RECORD_KINDS

log = structlog.get_logger(__name__)

#: Seconds a broadcast transaction may stay unmined before it is checked and re-broadcast.
REBROADCAST_AFTER = 30.0
#: Gas of a plain transfer, the filler of a nonce gap.
GAP_FILLER_GAS = 21_000


class Transactions:
    """Signs, sends and replaces the batches' transactions for one worker.

    Collaborators: `sessions` (the batch rows), `ledger` (its chain client sends), `settings`
    (gas limit, fee rules, passphrase), `chain_id`, the worker's `state` (last error, batches
    sent) and `backoff` (per account: a refused transaction holds the account's batches back).
    """

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        ledger: Ledger,
        settings: Settings,
        chain_id: int,
        deployment_block: int,
        state: WorkerState,
        backoff: Backoff,
        deployment_id: int | None = None,
        ledgers: Callable[[int], Ledger] | None = None,
    ) -> None:
        self.sessions = sessions
        self.ledger = ledger
        #: The current deployment (new and re-signed batches go there) and the ledgers of the
        #: earlier ones, by deployment id.
        self.deployment_id = deployment_id
        self._ledgers = ledgers
        self._ledger_cache: dict[int, Ledger] = {}
        self.client = ledger.client
        self.settings = settings
        self.chain_id = chain_id
        self.deployment_block = deployment_block
        self.state = state
        self.backoff = backoff
        self.nonces = self._new_allocator()
        self._accounts: dict[str, LocalAccount] = {}
        self._fees: Fees | None = None
        self._broadcast_at: dict[int, float] = {}
        #: Batch id -> (its transaction, when that transaction was first broadcast).
        self._waiting_since: dict[int, tuple[str, float]] = {}
        #: The node's pending nonce of each account, while `pending_nonces_once` holds.
        self._pending_nonces: dict[str, int] | None = None

    # --- per cycle, per leadership ---------------------------------------------------------
    def new_cycle(self) -> None:
        """Fees are read again, once, in the next cycle."""
        self._fees = None

    def new_lead(self) -> None:
        """Another leader may have used nonces meanwhile: the node's counts are the truth."""
        self.nonces = self._new_allocator()

    def _new_allocator(self) -> NonceAllocator:
        return NonceAllocator(fetch_pending=self._pending_nonce)

    @contextlib.contextmanager
    def pending_nonces_once(self) -> Iterator[None]:
        """While forming: the node's pending count is asked once per account (the allocator
        counts the nonces it hands out itself; one round trip per batch was needless work)."""
        self._pending_nonces = {}
        try:
            yield
        finally:
            self._pending_nonces = None

    def _pending_nonce(self, address: str) -> int:
        """The node's pending transaction count of the account, for the allocator."""
        if self._pending_nonces is None:
            return self.client.retrieve_nonce(address, "pending")
        known = self._pending_nonces.get(address)
        if known is None:
            known = self._pending_nonces[address] = self.client.retrieve_nonce(address, "pending")
        return known

    def fees_now(self) -> Fees:
        if self._fees is None:
            self._fees = self.client.retrieve_fees()
        return self._fees

    def account(self, organisation_id: str) -> LocalAccount:
        """The organisation's signing key (decrypted once per process: scrypt is slow)."""
        account = self._accounts.get(organisation_id)
        if account is None:
            with self.sessions() as session:
                organisation = session.get(Organisation, organisation_id)
                if organisation is None:
                    raise NotFoundError("organisation", organisation_id)
            # After the session: on SQLite it holds the write lock, and scrypt takes a second.
            account = organisation_account(organisation, self.settings.passphrase)
            self._accounts[organisation_id] = account
        return account

    def ledger_of(self, batch: BatchRow) -> Ledger:
        """The ledger of the deployment the batch's transaction is signed for."""
        if batch.deployment_id is None or batch.deployment_id == self.deployment_id:
            return self.ledger
        if self._ledgers is None:
            raise NotFoundError("deployment", str(batch.deployment_id))
        found = self._ledger_cache.get(batch.deployment_id)
        if found is None:
            found = self._ledger_cache[batch.deployment_id] = self._ledgers(batch.deployment_id)
        return found

    # --- signing ---------------------------------------------------------------------------
    def sign(
        self,
        account: LocalAccount,
        *,
        root: str,
        kind: str,
        count: int,
        nonce: int,
        fees: Fees | None = None,
        ledger: Ledger | None = None,
    ) -> SignedTransaction:
        """`anchor(root, kind, count)` signed with `account` for `ledger` (the current one by
        default; fees: this cycle's by default)."""
        return (ledger or self.ledger).build_anchor(
            account,
            root=root,
            kind=RECORD_KINDS[kind],
            count=count,
            nonce=nonce,
            fees=fees if fees is not None else self.fees_now(),
            chain_id=self.chain_id,
            gas=self.settings.anchor_gas_limit,
        )

    def check_anchor(self, batch: BatchRow, *, block: int | str = "latest") -> None:
        """Simulate the batch's `anchor` from its account at `block` on its ledger; raises what
        it reverts with (RootAlreadyAnchoredError: the root is anchored already)."""
        self.ledger_of(batch).retrieve_anchor_check(
            batch.account_address,
            root=batch.root,
            kind=RECORD_KINDS[batch.kind],
            count=batch.record_count,
            gas=self.settings.anchor_gas_limit,  # the one gas limit: simulated as it is sent
            block=block,
        )

    def is_anchored(self, batch: BatchRow) -> bool:
        """Whether the batch's root is anchored on its ledger: by its account (version 2), by
        anyone (version 1, one batch per root)."""
        ledger = self.ledger_of(batch)
        return ledger.retrieve_batch(batch.root, anchorer=batch.account_address).anchored

    def find_anchoring(self, batch: BatchRow) -> AnchorLog | None:
        """Where the batch's root is anchored on the canonical chain (its BatchAnchored log; on
        version 2 by the batch's account), if it is."""
        ledger = self.ledger_of(batch)
        return ledger.retrieve_anchor_log(
            batch.root,
            anchorer=batch.account_address,
            from_block=ledger.deployment_block or self.deployment_block,
            block_range=self.settings.log_block_range,
        )

    @staticmethod
    def owns(batch: BatchRow, found: AnchorLog) -> bool:
        """Whether an anchoring on chain is the one the batch signed: same anchorer, kind and
        count. Anything else (a root copied by another account, as another kind or count) is
        never taken as the batch's."""
        return (
            found.anchorer.lower() == batch.account_address.lower()
            and found.kind == RECORD_KINDS[batch.kind]
            and found.record_count == batch.record_count
        )

    # --- sending ---------------------------------------------------------------------------
    def broadcast(self, batch: BatchRow, *, defer_status: bool = False) -> bool:
        """Send the batch's raw transaction, then mark it `sent` (or leave that to the caller's
        bulk `mark_sent` with `defer_status`). A refusal is kept, not raised."""
        try:
            self.client.send_raw_transaction(batch.raw_tx)
        except TransactionRejectedError as exc:
            if "nonce too low" in exc.reason.lower():
                # Mined meanwhile, or its nonce went to another transaction: the next cycle's
                # receipt check or nonce resolution tells which.
                log.info("anchoring.nonce_used", batch=batch.id, nonce=batch.nonce)
                return False
            delay = self.backoff.fail(("account", batch.account_address))
            self.note_batch_error(batch.id, exc.message)
            log.warning("anchoring.rejected", batch=batch.id, error=exc.reason, retry_in=delay)
            return False
        self.backoff.clear(("account", batch.account_address))
        self._broadcast_at[batch.id] = now = time.monotonic()
        if self._waiting_since.get(batch.id, ("", 0.0))[0] != batch.tx_hash:
            self._waiting_since[batch.id] = (batch.tx_hash, now)
        self.state.batches_sent += 1
        if not defer_status:
            self.mark_sent([batch.id])
        return True

    def mark_sent(self, batch_ids: list[int]) -> None:
        """Broadcast: `signed` → `sent` (a crash before this only means one more broadcast)."""
        if not batch_ids:
            return
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch)
                .where(AnchorBatch.id.in_(batch_ids), AnchorBatch.status == BatchStatus.SIGNED)
                .values(status=BatchStatus.SENT)
            )

    def waited_long(self, batch_id: int, now: float) -> bool:
        """Whether the batch's transaction was not broadcast here, or long enough ago to be
        looked at again (re-broadcast, replaced)."""
        sent_at = self._broadcast_at.get(batch_id)
        return sent_at is None or now - sent_at > self._look_again_after

    @property
    def _look_again_after(self) -> float:
        """Seconds before an unmined transaction is looked at again (re-broadcast, replaced)."""
        bump_after = self.settings.fee_bump_after
        return min(REBROADCAST_AFTER, bump_after) if bump_after > 0 else REBROADCAST_AFTER

    def forget(self, batch_id: int) -> None:
        """The batch's transaction is mined, failed or lost: its clocks stop."""
        self._broadcast_at.pop(batch_id, None)
        self._waiting_since.pop(batch_id, None)

    def note_batch_error(self, batch_id: int, error: str) -> None:
        self.state.failed(error)
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch).where(AnchorBatch.id == batch_id).values(last_error=error)
            )

    def fill_gap(self, organisation_id: str, nonce: int) -> str:
        """Close a nonce gap of the organisation's account: a transfer of nothing to itself at
        `nonce` (21,000 gas, this cycle's fees); its transaction hash. Refusals raise
        TransactionRejectedError (the account backs off)."""
        account = self.account(organisation_id)
        fees = self.fees_now()
        signed = sign_locally(
            account,
            to=account.address,
            data=None,
            nonce=nonce,
            fees=fees,
            chain_id=self.chain_id,
            gas=GAP_FILLER_GAS,
        )
        tx_hash = self.client.send_raw_transaction(signed.raw_tx)
        log.warning("anchoring.nonce_gap_filled", account=account.address, nonce=nonce, tx=tx_hash)
        return tx_hash

    # --- signing again ---------------------------------------------------------------------
    def resign(self, batch: BatchRow) -> None:
        """Sign the batch again with a fresh nonce, for the current deployment, and send it
        (caller holds the account's nonce lock)."""
        self._sign_again(batch, root=batch.root, salt=batch.salt, error=None)

    def reform(self, batch: BatchRow, found: AnchorLog) -> None:
        """The batch's root is anchored, but not as the batch signed it (`owns` is false): form
        the batch again over the same records plus a fresh random salt leaf, so its root
        differs, and sign and send that (caller holds the account's nonce lock). Its records
        keep their batch; their proofs follow the new tree."""
        with self.sessions() as session:
            hashes = list(
                session.scalars(
                    select(Record.record_hash)
                    .join(RecordAnchor, RecordAnchor.record_id == Record.id)
                    .where(RecordAnchor.batch_id == batch.id)
                ).all()
            )
        salt = "0x" + os.urandom(32).hex()
        root = root_hex(batch_tree(hashes, salt)[0])
        error = (
            f"root {batch.root} is anchored by {found.anchorer} as kind {found.kind} with count "
            f"{found.record_count} (block {found.block_number}), not as this batch signed it "
            f"({batch.account_address}, kind {RECORD_KINDS[batch.kind]}, count "
            f"{batch.record_count}): formed again with a salt leaf as root {root}"
        )
        log.warning(
            "anchoring.reformed",
            batch=batch.id,
            root=batch.root,
            new_root=root,
            anchorer=found.anchorer,
            kind=found.kind,
            count=found.record_count,
        )
        self.state.failed(error)
        self._sign_again(batch, root=root, salt=salt, error=error)

    def _sign_again(
        self, batch: BatchRow, *, root: str, salt: str | None, error: str | None
    ) -> None:
        account = self.account(batch.organisation_id)
        nonce = self.nonces.allocate(account.address)
        values: dict[str, object] = {}
        if root != batch.root:
            values = {"root": root, "salt": salt, "last_error": error}
        try:
            signed = self.sign(
                account, root=root, kind=batch.kind, count=batch.record_count, nonce=nonce
            )
            with transaction(self.sessions) as session:
                session.execute(
                    update(AnchorBatch)
                    .where(AnchorBatch.id == batch.id)
                    .values(
                        status=BatchStatus.SIGNED,
                        nonce=nonce,
                        tx_hash=signed.tx_hash,
                        raw_tx=signed.raw_tx,
                        attempts=AnchorBatch.attempts + 1,
                        block_number=None,
                        block_hash=None,
                        gas_used=None,
                        mined_at=None,
                        confirmed_at=None,
                        deployment_id=self.deployment_id,
                        **values,
                    )
                )
        except BaseException:
            self.nonces.release(account.address, nonce)
            raise
        log.info("anchoring.resigned", batch=batch.id, root=root, nonce=nonce)
        self.broadcast(
            replace(
                batch,
                status=BatchStatus.SIGNED,
                account_address=account.address,
                nonce=nonce,
                tx_hash=signed.tx_hash,
                raw_tx=signed.raw_tx,
                root=root,
                salt=salt,
                deployment_id=self.deployment_id,
            )
        )

    def replacement_due(self, batch: BatchRow) -> bool:
        """Whether the batch's transaction waited longer than `fee_bump_after` since this worker
        first broadcast it, or first looked at it (a new leader gives it that time again)."""
        if self.settings.fee_bump_after <= 0:
            return False
        tx_hash, since = self._waiting_since.get(batch.id, ("", 0.0))
        if tx_hash != batch.tx_hash:  # never broadcast by this worker (refused): the clock starts
            self._waiting_since[batch.id] = (batch.tx_hash, time.monotonic())
            return False
        return time.monotonic() - since > self.settings.fee_bump_after

    def replace(self, batch: BatchRow) -> None:
        """Replace the batch's waiting transaction: same nonce, fees 12.5 % higher and at least
        what a new transaction pays now (caller holds the account's nonce lock).

        If the replaced transaction is mined after all, the replacement's nonce is used: the next
        look finds the root anchored and adopts that transaction."""
        old = fees_of(HexBytes(batch.raw_tx))
        fees = replacement_fees(old, self.fees_now(), cap=self.settings.max_fee_per_gas_cap)
        if fees is None:
            error = (
                f"transaction {batch.tx_hash} waits unmined and HALLMARK_MAX_FEE_GWEI leaves no "
                "room for a replacement with higher fees"
            )
            self.note_batch_error(batch.id, error)
            log.warning("anchoring.fee_cap_reached", batch=batch.id, fees=old._asdict())
            self._waiting_since[batch.id] = (batch.tx_hash, time.monotonic())  # said again later
            self.broadcast(batch)
            return
        signed = self.sign(
            self.account(batch.organisation_id),
            root=batch.root,
            kind=batch.kind,
            count=batch.record_count,
            nonce=batch.nonce,
            fees=fees,
            ledger=self.ledger_of(batch),  # the same contract as the transaction it replaces
        )
        with transaction(self.sessions) as session:
            stored: int = session.execute(  # type: ignore[attr-defined]
                update(AnchorBatch)
                .where(AnchorBatch.id == batch.id, AnchorBatch.tx_hash == batch.tx_hash)
                .values(
                    status=BatchStatus.SIGNED,
                    tx_hash=signed.tx_hash,
                    raw_tx=signed.raw_tx,
                    attempts=AnchorBatch.attempts + 1,
                )
            ).rowcount
        if stored != 1:  # the batch moved on meanwhile: the next look sees how
            log.warning("anchoring.replacement_dropped", batch=batch.id, replaced=batch.tx_hash)
            return
        log.info(
            "anchoring.fees_raised",
            batch=batch.id,
            nonce=batch.nonce,
            replaced=batch.tx_hash,
            tx=signed.tx_hash,
            fees=fees._asdict(),
        )
        self.broadcast(
            replace(batch, status=BatchStatus.SIGNED, tx_hash=signed.tx_hash, raw_tx=signed.raw_tx)
        )
