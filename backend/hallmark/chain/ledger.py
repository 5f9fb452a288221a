"""The ProvenanceLedger contract seen from Python: roles, batch anchoring, record verification.

`build_*` methods are local, `send_*` sign, broadcast and wait, `retrieve_*` read from the node.
Reverts are decoded with the artifact's ABI into typed errors (see `hallmark.chain.errors`).

Raises:
    ContractRevertError (UnauthorisedAnchorerError, RootAlreadyAnchoredError, ...): the ledger
        refused a simulated call.
    ChainUnavailableError: the node does not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from hallmark.chain.client import ChainClient, Fees, Sent
from hallmark.chain.errors import ContractErrors

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


class AnchoredBatch(NamedTuple):
    """What the ledger stores for a root (`batchOf`); a zero anchorer means not anchored."""

    anchorer: str
    kind: int
    record_count: int
    anchored_at: int

    @property
    def anchored(self) -> bool:
        return int(self.anchorer, 16) != 0


class SignedTransaction(NamedTuple):
    """A transaction signed locally, ready to broadcast."""

    raw_tx: str
    tx_hash: str
    nonce: int


class AnchorLog(NamedTuple):
    """Where a root was anchored: the BatchAnchored log of the canonical chain."""

    tx_hash: str
    block_number: int
    block_hash: str
    anchorer: str


class Ledger:
    """Typed access to one deployed ProvenanceLedger."""

    def __init__(self, client: ChainClient, address: str, abi: list[dict[str, Any]]) -> None:
        self.client = client
        self.address = Web3.to_checksum_address(address)
        self.abi = abi
        self.contract: Contract = client.w3.eth.contract(address=self.address, abi=abi)
        self.errors = ContractErrors("ProvenanceLedger", abi)

    def _call(self, call: Callable[[], T]) -> T:
        """A read through the client's guard, with reverts decoded into typed errors."""

        def decoded() -> T:
            try:
                return call()
            except ContractLogicError as exc:
                raise self.errors.translate(exc) from exc

        return self.client.retrieve_call(decoded)

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
        tx: dict[str, Any] = {
            "chainId": chain_id,
            "nonce": nonce,
            "to": self.address,
            "value": 0,
            "gas": gas,
            "data": self.contract.encode_abi("anchor", args=[HexBytes(root), kind, count]),
        }
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

    def retrieve_batch(self, root: str) -> AnchoredBatch:
        """`batchOf(root)`: who anchored it, its kind and count (zero anchorer: not anchored)."""
        fn = self.contract.functions.batchOf(HexBytes(root))
        anchorer, kind, count, anchored_at = self._call(fn.call)
        return AnchoredBatch(Web3.to_checksum_address(anchorer), kind, count, anchored_at)

    def retrieve_anchor_log(
        self, root: str, *, from_block: int = 0, block_range: int = LOG_BLOCK_RANGE
    ) -> AnchorLog | None:
        """The BatchAnchored log of `root` on the canonical chain, if it is anchored.

        Looked for from the head backwards, `block_range` blocks per `eth_getLogs` (providers
        refuse wide ranges), down to `from_block`: a root is usually anchored recently."""
        if block_range < 1:
            raise ValueError("block_range must be at least 1")
        event = self.contract.events.BatchAnchored
        to_block = self.client.retrieve_block_number()
        while to_block >= from_block:
            start = max(from_block, to_block - block_range + 1)

            def logs_between(start: int = start, end: int = to_block) -> Any:
                return event.get_logs(
                    argument_filters={"root": HexBytes(root)}, from_block=start, to_block=end
                )

            logs = self._call(logs_between)
            if logs:
                log = logs[-1]
                return AnchorLog(
                    tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
                    block_number=int(log["blockNumber"]),
                    block_hash=HexBytes(log["blockHash"]).to_0x_hex(),
                    anchorer=Web3.to_checksum_address(log["args"]["anchorer"]),
                )
            to_block = start - 1
        return None

    def retrieve_verify_record(self, root: str, record_hash: str, proof: Sequence[str]) -> bool:
        """`verifyRecord`: the root is anchored and the proof proves the record hash in it."""
        fn = self.contract.functions.verifyRecord(
            HexBytes(root), HexBytes(record_hash), [HexBytes(node) for node in proof]
        )
        return bool(self._call(fn.call))

    # --- roles -----------------------------------------------------------------------------

    def send_grant_role(self, admin: LocalAccount, role: str, account: str) -> Sent:
        return self.client.send_function(
            admin, self.address, self.abi, "grantRole", [role_id(role), account]
        )

    def send_revoke_role(self, admin: LocalAccount, role: str, account: str) -> Sent:
        return self.client.send_function(
            admin, self.address, self.abi, "revokeRole", [role_id(role), account]
        )

    def retrieve_has_role(self, role: str, account: str) -> bool:
        checksum = Web3.to_checksum_address(account)
        fn = self.contract.functions.hasRole(role_id(role), checksum)
        return bool(self.client.retrieve_call(fn.call))
