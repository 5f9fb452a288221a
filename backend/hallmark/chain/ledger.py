"""The ProvenanceLedger contract seen from Python: roles, batch anchoring, record verification.

Both versions are read and written through one `Ledger`: version 1 keys batches by root alone,
version 2 by (anchorer, root), binds accounts to organisations, and flags batches and
compromised accounts. Calls that version 2 keys by anchorer take `anchorer=`; version 1 ignores
it where it has no such key, and reports the root's one anchorer.

`build_*` methods are local, `send_*` sign, broadcast and wait, `retrieve_*` read from the node.
Reverts are decoded with the artifact's ABI into typed errors (see `hallmark.chain.errors`).

Raises:
    ContractRevertError (UnauthorisedAnchorerError, RootAlreadyAnchoredError, ...): the ledger
        refused a simulated call.
    ChainUnavailableError: the node does not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from hallmark.chain.client import ChainClient, Fees, Sent
from hallmark.chain.errors import ContractErrors
from hallmark.core.errors import ConflictError

if TYPE_CHECKING:
    from hallmark.chain.registry import DesignRegistryContract

T = TypeVar("T")

#: Blocks per `eth_getLogs` request by default (hosted nodes commonly cap it at 2,000-10,000).
LOG_BLOCK_RANGE = 2_000

#: The on-chain role each organisation kind holds on the ledger.
ORG_KIND_ROLES: dict[str, str] = {
    "supplier": "SUPPLIER_ROLE",
    "factory": "FACTORY_ROLE",
    "brand": "ISSUER_ROLE",
    "legal": "REGISTRAR_ROLE",
}


def role_id(name: str) -> bytes:
    """keccak256("X_ROLE"), as the contract defines it (the admin role is zero)."""
    return b"\x00" * 32 if name == "DEFAULT_ADMIN_ROLE" else keccak(text=name)


#: Version 2's `BatchState` and `Cause` enums, by value.
BATCH_STATES = ("unknown", "valid", "flagged")
CAUSES = (
    "none",
    "not_anchored",
    "wrong_kind",
    "other_organisation",
    "not_in_batch",
    "batch_flagged",
    "anchorer_compromised",
    "certificate_revoked",
    "issuance_revoked",
)
_ZERO_ADDRESS = "0x" + "00" * 20
#: Version 2's `CertificateState` enum, by value.
CERTIFICATE_STATES = ("unknown", "valid", "revoked", "superseded")


class AnchoredBatch(NamedTuple):
    """What the ledger stores for a batch (`batchOf`); a zero anchorer means not anchored."""

    anchorer: str
    kind: int
    record_count: int
    anchored_at: int

    @property
    def anchored(self) -> bool:
        return int(self.anchorer, 16) != 0


class BatchStanding(NamedTuple):
    """Version 2's `batchStatus(anchorer, root)`: state, cause, reason code and time."""

    state: str
    cause: str
    reason: int
    at: int


class AccountBinding(NamedTuple):
    """Version 2's `accountOf(account)`: its organisation (16 bytes, zero: unbound), the
    role bits, and the block it is compromised from (0: not compromised)."""

    organisation: bytes
    roles: int
    compromised_from: int

    @property
    def bound(self) -> bool:
        return any(self.organisation)


class BatchRecord(NamedTuple):
    """Version 2's `batchOf(anchorer, root)` in full (count 0: no such batch)."""

    kind: int
    record_count: int
    organisation: bytes
    anchored_at: int
    anchored_block: int


class CertificateStanding(NamedTuple):
    """Version 2's `certificateStatus(...)`: state, cause, reason, time and the successor."""

    state: str
    cause: str
    reason: int
    at: int
    successor_anchorer: str
    successor_root: str
    successor_hash: str


def certificate_standing(answer: Sequence[Any]) -> CertificateStanding:
    """`certificateStatus`'s answer (state, cause, reason, time, successor's anchorer, root and
    hash) as a standing."""
    state, cause, reason, at, s_anchorer, s_root, s_hash = answer
    return CertificateStanding(
        CERTIFICATE_STATES[state],
        CAUSES[cause],
        int(reason),
        int(at),
        Web3.to_checksum_address(s_anchorer),
        HexBytes(s_root).to_0x_hex(),
        HexBytes(s_hash).to_0x_hex(),
    )


class CertificateRef(NamedTuple):
    """A certificate and the batch it is proven in (`ICertificateStatus.CertificateRef`)."""

    anchorer: str
    root: str
    certificate_hash: str
    proof: Sequence[str]

    def as_abi(self) -> tuple[Any, ...]:
        return (
            Web3.to_checksum_address(self.anchorer),
            HexBytes(self.root),
            HexBytes(self.certificate_hash),
            [HexBytes(node) for node in self.proof],
        )


class SignedTransaction(NamedTuple):
    """A transaction signed locally, ready to broadcast."""

    raw_tx: str
    tx_hash: str
    nonce: int


def sign_locally(
    account: LocalAccount,
    *,
    to: str,
    data: str | None,
    nonce: int,
    fees: Fees,
    chain_id: int,
    gas: int,
) -> SignedTransaction:
    """Sign a transaction to `to` (a contract call with `data`, or a plain transfer of nothing
    when None) locally: explicit gas, nonce and fees (EIP-1559 when the fees have a max fee,
    legacy otherwise), no node call."""
    tx: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "to": to, "value": 0, "gas": gas}
    if data is not None:
        tx["data"] = data
    if fees.max_fee_per_gas is not None:
        tx |= {
            "type": 2,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
    else:
        tx["gasPrice"] = fees.gas_price
    signed = account.sign_transaction(tx)
    return SignedTransaction(
        raw_tx=HexBytes(signed.raw_transaction).to_0x_hex(),
        tx_hash=HexBytes(signed.hash).to_0x_hex(),
        nonce=nonce,
    )


def sign_call(
    account: LocalAccount,
    contract: Contract,
    function: str,
    args: Sequence[Any],
    *,
    nonce: int,
    fees: Fees,
    chain_id: int,
    gas: int,
) -> SignedTransaction:
    """Sign a call of `function(*args)` on `contract` locally: explicit gas, nonce and fees, no
    node call."""
    return sign_locally(
        account,
        to=contract.address,
        data=contract.encode_abi(function, args=list(args)),
        nonce=nonce,
        fees=fees,
        chain_id=chain_id,
        gas=gas,
    )


def read_decoded(client: ChainClient, errors: ContractErrors, call: Callable[[], T]) -> T:
    """A read through the client's guard, with reverts decoded into typed errors (`errors`:
    the contract's)."""

    def decoded() -> T:
        try:
            return call()
        except ContractLogicError as exc:
            raise errors.translate(exc) from exc

    return client.retrieve_call(decoded)


class AnchorLog(NamedTuple):
    """Where a root was anchored: the BatchAnchored log of the canonical chain."""

    tx_hash: str
    block_number: int
    block_hash: str
    anchorer: str
    kind: int
    record_count: int


class Ledger:
    """Typed access to one deployed ProvenanceLedger."""

    def __init__(
        self,
        client: ChainClient,
        address: str,
        abi: list[dict[str, Any]],
        *,
        deployment_block: int = 0,
        prepared: tuple[Contract, ContractErrors] | None = None,
    ) -> None:
        """`prepared`: the contract object and its errors made before for this address and ABI
        on this client's connection (making them reads the whole ABI)."""
        self.client = client
        #: The block the ledger was deployed in (logs are looked for from there).
        self.deployment_block = deployment_block
        self.address = Web3.to_checksum_address(address)
        self.abi = abi
        if prepared is None:
            prepared = (
                client.w3.eth.contract(address=self.address, abi=abi),
                ContractErrors("ProvenanceLedger", abi),
            )
        self.contract: Contract = prepared[0]
        self.errors = prepared[1]
        #: 2: batches keyed by (anchorer, root), accounts bound to organisations; else 1.
        self.version = 2 if any(e.get("name") == "bindAccount" for e in abi) else 1

    def design_registry(self, address: str, abi: list[dict[str, Any]]) -> DesignRegistryContract:
        """The DesignRegistry at `address`, read through this ledger's client (a ledger that
        keeps what it read may keep the registry's reads too)."""
        from hallmark.chain.registry import DesignRegistryContract  # it imports this module

        return DesignRegistryContract(self.client, address, abi)

    def _sent(self, send: Callable[[], Sent]) -> Sent:
        """A transaction whose revert is decoded into a typed error (simulated first)."""
        try:
            return send()
        except ContractLogicError as exc:
            raise self.errors.translate(exc) from exc

    def _send(self, account: LocalAccount, function: str, args: Sequence[Any]) -> Sent:
        return self._sent(
            lambda: self.client.send_function(account, self.address, self.abi, function, args)
        )

    def _call(self, call: Callable[[], T]) -> T:
        """A read through the client's guard, with reverts decoded into typed errors."""
        return read_decoded(self.client, self.errors, call)

    # --- anchoring -------------------------------------------------------------------------
    def build_anchor(
        self,
        account: LocalAccount,
        *,
        root: str,
        kind: int,
        count: int,
        nonce: int,
        fees: Fees,
        chain_id: int,
        gas: int,
    ) -> SignedTransaction:
        """Sign `anchor(root, kind, count)` locally: explicit gas, nonce and fees, no node call."""
        args = [HexBytes(root), kind, count]
        return sign_call(
            account,
            self.contract,
            "anchor",
            args,
            nonce=nonce,
            fees=fees,
            chain_id=chain_id,
            gas=gas,
        )

    def retrieve_anchor_check(
        self,
        sender: str,
        *,
        root: str,
        kind: int,
        count: int,
        gas: int,
        block: int | str = "latest",
    ) -> None:
        """Simulate `anchor` from `sender` at `block` with the gas limit its transaction gets;
        raises the decoded error it reverts with."""
        call = self.contract.functions.anchor(HexBytes(root), kind, count)
        self._call(
            lambda: call.call(
                {"from": Web3.to_checksum_address(sender), "gas": gas},
                block_identifier=block,  # type: ignore[arg-type]
            )
        )

    def retrieve_batch(self, root: str, *, anchorer: str | None = None) -> AnchoredBatch:
        """`batchOf`: who anchored it, its kind and count (zero anchorer: not anchored).

        Version 2 needs the anchorer (a batch is (anchorer, root)); version 1 has one batch per
        root and names its anchorer."""
        if self.version == 1:
            fn = self.contract.functions.batchOf(HexBytes(root))
            found, kind, count, anchored_at = self._call(fn.call)
            return AnchoredBatch(Web3.to_checksum_address(found), kind, count, anchored_at)
        if anchorer is None:
            raise ValueError("a version 2 batch is found by its anchorer and root")
        checksum = Web3.to_checksum_address(anchorer)
        fn = self.contract.functions.batchOf(checksum, HexBytes(root))
        kind, count, _organisation, anchored_at, _block = self._call(fn.call)
        return AnchoredBatch(checksum if count else _ZERO_ADDRESS, kind, count, anchored_at)

    def retrieve_anchor_log(
        self,
        root: str,
        *,
        anchorer: str | None = None,
        from_block: int = 0,
        block_range: int = LOG_BLOCK_RANGE,
    ) -> AnchorLog | None:
        """The BatchAnchored log of `root` (by `anchorer` on version 2) on the canonical chain,
        if it is anchored.

        Looked for from the head backwards, `block_range` blocks per `eth_getLogs` (providers
        refuse wide ranges), down to `from_block`: a root is usually anchored recently."""
        if block_range < 1:
            raise ValueError("block_range must be at least 1")
        event = self.contract.events.BatchAnchored
        filters: dict[str, Any] = {"root": HexBytes(root)}
        if self.version == 2:
            if anchorer is None:
                raise ValueError("a version 2 batch is found by its anchorer and root")
            filters["anchorer"] = Web3.to_checksum_address(anchorer)
        to_block = self.client.retrieve_block_number()
        while to_block >= from_block:
            start = max(from_block, to_block - block_range + 1)

            def logs_between(start: int = start, end: int = to_block) -> Any:
                return event.get_logs(argument_filters=filters, from_block=start, to_block=end)

            logs = self._call(logs_between)
            if logs:
                log = logs[-1]
                return AnchorLog(
                    tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
                    block_number=int(log["blockNumber"]),
                    block_hash=HexBytes(log["blockHash"]).to_0x_hex(),
                    anchorer=Web3.to_checksum_address(log["args"]["anchorer"]),
                    kind=int(log["args"]["kind"]),
                    record_count=int(log["args"]["count"]),
                )
            to_block = start - 1
        return None

    def retrieve_verify_record(
        self,
        root: str,
        record_hash: str,
        proof: Sequence[str],
        *,
        anchorer: str | None = None,
        kind: int | None = None,
    ) -> bool:
        """`verifyRecord`: the batch is anchored (version 2: by `anchorer`, as `kind`, and not
        flagged) and the proof proves the record hash in it."""
        nodes = [HexBytes(node) for node in proof]
        if self.version == 1:
            fn = self.contract.functions.verifyRecord(HexBytes(root), HexBytes(record_hash), nodes)
        else:
            if anchorer is None or kind is None:
                raise ValueError("a version 2 record is verified with its anchorer and kind")
            fn = self.contract.functions.verifyRecord(
                Web3.to_checksum_address(anchorer),
                HexBytes(root),
                kind,
                HexBytes(record_hash),
                nodes,
            )
        return bool(self._call(fn.call))

    def retrieve_batch_revocation(self, root: str) -> tuple[str, int, int]:
        """Version 1's `batchRevocationOf(root)`: who revoked the batch, when (0: never) and why."""
        if self.version != 1:
            raise ValueError("version 2 flags batches: use retrieve_batch_status")
        fn = self.contract.functions.batchRevocationOf(HexBytes(root))
        revoked_by, revoked_at, reason = self._call(fn.call)
        return Web3.to_checksum_address(revoked_by), int(revoked_at), int(reason)

    # --- version 2: organisations, flags, compromise ----------------------------------------
    def _require_v2(self, what: str) -> None:
        if self.version != 2:
            raise ConflictError(
                f"the ledger at {self.address} is version 1, which has no {what}: "
                "deploy version 2 with `hallmark deploy --new`",
                details={"function": what, "ledger": self.address},
            )

    def retrieve_account(self, account: str) -> AccountBinding:
        """`accountOf`: the account's organisation, role bits and compromise block."""
        self._require_v2("accountOf")
        fn = self.contract.functions.accountOf(Web3.to_checksum_address(account))
        organisation, roles, compromised_from = self._call(fn.call)
        return AccountBinding(bytes(organisation), int(roles), int(compromised_from))

    def retrieve_compromise_log(self, account: str) -> tuple[str, int, int] | None:
        """The latest `AccountCompromised` log of the account since the deployment block: its
        transaction, `fromBlock` and reason (None: never declared)."""
        self._require_v2("AccountCompromised")
        event = self.contract.events.AccountCompromised
        checksum = Web3.to_checksum_address(account)

        def logs() -> Any:
            return event.get_logs(
                argument_filters={"account": checksum}, from_block=self.deployment_block
            )

        found = self._call(logs)
        if not found:
            return None
        last = found[-1]
        return (
            HexBytes(last["transactionHash"]).to_0x_hex(),
            int(last["args"]["fromBlock"]),
            int(last["args"]["reason"]),
        )

    def send_bind_account(self, admin: LocalAccount, account: str, organisation: bytes) -> Sent:
        """`bindAccount(account, organisation)`: once per account, before any role."""
        self._require_v2("bindAccount")
        return self._send(admin, "bindAccount", [Web3.to_checksum_address(account), organisation])

    def send_mark_compromised(
        self, admin: LocalAccount, account: str, *, from_block: int, reason: int
    ) -> Sent:
        """`markCompromised(account, fromBlock, reason)` (admin)."""
        self._require_v2("markCompromised")
        return self._send(
            admin,
            "markCompromised",
            [Web3.to_checksum_address(account), from_block, reason],
        )

    def send_flag_batch(
        self, account: LocalAccount, *, anchorer: str, root: str, reason: int
    ) -> Sent:
        """`flagBatch(anchorer, root, reason)`, by an account of the batch's organisation."""
        self._require_v2("flagBatch")
        return self._send(
            account, "flagBatch", [Web3.to_checksum_address(anchorer), HexBytes(root), reason]
        )

    def retrieve_batch_status(self, anchorer: str, root: str) -> BatchStanding:
        """`batchStatus(anchorer, root)`: valid, flagged (cause, reason, time) or unknown."""
        self._require_v2("batchStatus")
        fn = self.contract.functions.batchStatus(Web3.to_checksum_address(anchorer), HexBytes(root))
        state, cause, reason, at, _batch = self._call(fn.call)
        return BatchStanding(BATCH_STATES[state], CAUSES[cause], int(reason), int(at))

    def retrieve_batch_record(self, anchorer: str, root: str) -> BatchRecord:
        """`batchOf(anchorer, root)` with the organisation and block (version 2)."""
        self._require_v2("batchOf")
        fn = self.contract.functions.batchOf(Web3.to_checksum_address(anchorer), HexBytes(root))
        kind, count, organisation, anchored_at, block = self._call(fn.call)
        return BatchRecord(int(kind), int(count), bytes(organisation), int(anchored_at), int(block))

    # --- certificates (version 2) ------------------------------------------------------------

    def retrieve_certificate_status(
        self,
        *,
        organisation: bytes,
        issuance_id: str,
        certificate_hash: str,
        anchorer: str,
        root: str,
        proof: Sequence[str],
    ) -> CertificateStanding:
        """`certificateStatus(organisation, issuanceId, certificateHash, anchorer, root, proof)`:
        organisation and issuance id as the signed document names them."""
        self._require_v2("certificateStatus")
        fn = self.contract.functions.certificateStatus(
            organisation,
            HexBytes(issuance_id),
            HexBytes(certificate_hash),
            Web3.to_checksum_address(anchorer),
            HexBytes(root),
            [HexBytes(node) for node in proof],
        )
        return certificate_standing(self._call(fn.call))

    def send_revoke_certificate(
        self, account: LocalAccount, certificate: CertificateRef, *, reason: int
    ) -> Sent:
        """`revokeCertificate(anchorer, root, certificateHash, proof, reason)` (REVOKER_ROLE of
        the certificate's organisation)."""
        self._require_v2("revokeCertificate")
        return self._send(account, "revokeCertificate", [*certificate.as_abi(), reason])

    def send_revoke_issuance(self, account: LocalAccount, issuance_id: str, *, reason: int) -> Sent:
        """`revokeIssuance(issuanceId, reason)`: every certificate of one order."""
        self._require_v2("revokeIssuance")
        return self._send(account, "revokeIssuance", [HexBytes(issuance_id), reason])

    def send_supersede_certificate(
        self, account: LocalAccount, certificate: CertificateRef, successor: CertificateRef
    ) -> Sent:
        """`supersedeCertificate(certificate, successor)` (ISSUER or REVOKER of the
        organisation, or the admin)."""
        self._require_v2("supersedeCertificate")
        return self._send(
            account, "supersedeCertificate", [certificate.as_abi(), successor.as_abi()]
        )

    # --- roles -----------------------------------------------------------------------------

    def retrieve_has_role_at(self, role: str, account: str, block: int) -> bool:
        """`hasRoleAt(role, account, block)`: held at any moment of that block (version 2)."""
        self._require_v2("hasRoleAt")
        checksum = Web3.to_checksum_address(account)
        fn = self.contract.functions.hasRoleAt(role_id(role), checksum, block)
        return bool(self._call(fn.call))

    def send_grant_role(self, admin: LocalAccount, role: str, account: str) -> Sent:
        return self._send(admin, "grantRole", [role_id(role), Web3.to_checksum_address(account)])

    def send_revoke_role(self, admin: LocalAccount, role: str, account: str) -> Sent:
        return self._send(admin, "revokeRole", [role_id(role), Web3.to_checksum_address(account)])

    def retrieve_has_role(self, role: str, account: str) -> bool:
        checksum = Web3.to_checksum_address(account)
        fn = self.contract.functions.hasRole(role_id(role), checksum)
        return bool(self.client.retrieve_call(fn.call))
