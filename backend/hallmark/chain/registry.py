"""The DesignRegistry contract (version 2) seen from Python: filing designs and reading them.

A registration reveals a commitment anchored earlier on the ProvenanceLedger (see
`IDesignRegistry`): `build_register` signs `register(...)` locally with an explicit nonce, gas and
fees, so the signed transaction can be recorded before it is broadcast (resumable after a crash);
`retrieve_register_check` simulates it first and raises the decoded custom error it would revert
with; `retrieve_design` reads `designOf`; `retrieve_registered_logs` reads `DesignRegistered` logs
(the source `hallmark designs reindex` rebuilds the index from).

`build_*` methods are local, `send_*` sign, broadcast and wait, `retrieve_*` read from the node.

Raises:
    ContractRevertError (DesignAlreadyRegisteredError, ...): the registry refused a simulated call.
    ChainUnavailableError: the node does not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from hallmark.chain.client import ChainClient, Fees, Sent
from hallmark.chain.errors import ContractErrors
from hallmark.chain.ledger import LOG_BLOCK_RANGE, SignedTransaction, read_decoded, sign_call
from hallmark.core.hashing import design_commitment

T = TypeVar("T")
V = TypeVar("V")

#: Gas limit of a `register` transaction: a first filing uses about 110,000 with a proof of a
#: few nodes; each further proof node costs about 1,000 more (measured in the forge gas report).
REGISTER_GAS = 200_000


class CommitmentRef(NamedTuple):
    """The commitment a registration reveals: its batch (anchorer, root), salt and proof."""

    anchorer: str
    root: str
    salt: str
    proof: tuple[str, ...]


class OnChainDesign(NamedTuple):
    """`designOf(fingerprint)`: a zero registrant means not registered."""

    registrant: str
    filed_at: int
    filed_block: int
    final_at: int
    owner_ref: str
    metadata_hash: str

    @property
    def registered(self) -> bool:
        return int(self.registrant, 16) != 0


class RegisteredLog(NamedTuple):
    """One `DesignRegistered` log of the canonical chain."""

    fingerprint: str
    registrant: str
    owner_ref: str
    perceptual_code: int
    metadata_hash: str
    parent: str
    commitment_anchorer: str
    commitment_root: str
    tx_hash: str
    block_number: int
    block_hash: str


class DesignRegistryContract:
    """Typed access to one deployed DesignRegistry."""

    def __init__(
        self,
        client: ChainClient,
        address: str,
        abi: list[dict[str, Any]],
        *,
        deployment_block: int = 0,
    ) -> None:
        self.client = client
        self.address = Web3.to_checksum_address(address)
        self.abi = abi
        self.deployment_block = deployment_block
        self.contract: Contract = client.w3.eth.contract(address=self.address, abi=abi)
        self.errors = ContractErrors("DesignRegistry", abi)

    def _call(self, call: Callable[[], T]) -> T:
        """A read through the client's guard, with reverts decoded into typed errors."""
        return read_decoded(self.client, self.errors, call)

    # Filings and rights actions are sent the same three ways: signed locally (`sign_call`, to
    # be recorded before the broadcast), simulated, or signed, sent and waited for.
    def retrieve_function_check(
        self,
        sender: str,
        function: str,
        args: Sequence[Any],
        *,
        gas: int,
        block: int | str = "pending",
    ) -> None:
        """Simulate `function(*args)` from `sender` (in the next block by default, or as of
        `block`); raises the decoded error it would revert with."""
        call = getattr(self.contract.functions, function)(*args)
        self._call(
            lambda: call.call(
                {"from": Web3.to_checksum_address(sender), "gas": gas}, block_identifier=block
            )
        )

    def send_function(self, account: LocalAccount, function: str, args: Sequence[Any]) -> Sent:
        """Sign, send and wait for `function(*args)` (simulated first: a revert is decoded)."""
        try:
            return self.client.send_function(account, self.address, self.abi, function, args)
        except ContractLogicError as exc:
            raise self.errors.translate(exc) from exc

    @staticmethod
    def _register_args(
        *,
        fingerprint: str,
        perceptual_code: int,
        metadata_hash: str,
        owner_ref: str,
        parent: str | None,
        commitment: CommitmentRef,
    ) -> list[Any]:
        return [
            HexBytes(_bytes32(fingerprint)),
            perceptual_code,
            HexBytes(metadata_hash),
            HexBytes(owner_ref),
            HexBytes(_bytes32(parent) if parent else b"\0" * 32),
            (
                Web3.to_checksum_address(commitment.anchorer),
                HexBytes(commitment.root),
                HexBytes(commitment.salt),
                [HexBytes(node) for node in commitment.proof],
            ),
        ]

    def build_register(
        self,
        account: LocalAccount,
        *,
        fingerprint: str,
        perceptual_code: int,
        metadata_hash: str,
        owner_ref: str,
        parent: str | None,
        commitment: CommitmentRef,
        nonce: int,
        fees: Fees,
        chain_id: int,
        gas: int = REGISTER_GAS,
    ) -> SignedTransaction:
        """Sign `register(...)` locally: explicit gas, nonce and fees, no node call."""
        args = self._register_args(
            fingerprint=fingerprint,
            perceptual_code=perceptual_code,
            metadata_hash=metadata_hash,
            owner_ref=owner_ref,
            parent=parent,
            commitment=commitment,
        )
        return sign_call(
            account,
            self.contract,
            "register",
            args,
            nonce=nonce,
            fees=fees,
            chain_id=chain_id,
            gas=gas,
        )

    def retrieve_register_check(
        self,
        sender: str,
        *,
        fingerprint: str,
        perceptual_code: int,
        metadata_hash: str,
        owner_ref: str,
        parent: str | None,
        commitment: CommitmentRef,
        gas: int = REGISTER_GAS,
    ) -> None:
        """Simulate `register` from `sender` in the next block (`pending`); raises the decoded
        error it would revert with."""
        args = self._register_args(
            fingerprint=fingerprint,
            perceptual_code=perceptual_code,
            metadata_hash=metadata_hash,
            owner_ref=owner_ref,
            parent=parent,
            commitment=commitment,
        )
        self.retrieve_function_check(sender, "register", args, gas=gas)

    def send_register(
        self,
        account: LocalAccount,
        *,
        fingerprint: str,
        perceptual_code: int,
        metadata_hash: str,
        owner_ref: str,
        parent: str | None,
        commitment: CommitmentRef,
    ) -> Sent:
        """Sign, send and wait for `register(...)` (simulated first: a revert is decoded)."""
        args = self._register_args(
            fingerprint=fingerprint,
            perceptual_code=perceptual_code,
            metadata_hash=metadata_hash,
            owner_ref=owner_ref,
            parent=parent,
            commitment=commitment,
        )
        return self.send_function(account, "register", args)

    def retrieve_design(self, fingerprint: str) -> OnChainDesign:
        """`designOf(fingerprint)`."""
        fn = self.contract.functions.designOf(HexBytes(_bytes32(fingerprint)))
        return _view(OnChainDesign, self._call(fn.call))

    def build_commitment_hash(self, fingerprint: str, registrant: str, salt: str) -> str:
        """The commitment `keccak256(abi.encode(fingerprint, registrant, salt))` (local)."""
        return design_commitment(fingerprint, registrant, salt)

    def retrieve_registered_logs(
        self,
        *,
        fingerprints: Sequence[str] | None = None,
        from_block: int | None = None,
        block_range: int = LOG_BLOCK_RANGE,
    ) -> Iterator[RegisteredLog]:
        """`DesignRegistered` logs from the deployment block (or `from_block`) to the head, in
        chain order, `block_range` blocks per request; only `fingerprints` when given."""
        event = self.contract.events.DesignRegistered
        filters: dict[str, Any] = {}
        if fingerprints is not None:
            filters["fingerprint"] = [HexBytes(_bytes32(f)) for f in fingerprints]
        start = self.deployment_block if from_block is None else from_block
        head = self.client.retrieve_block_number()
        while start <= head:
            end = min(head, start + block_range - 1)

            def logs_between(start: int = start, end: int = end) -> Any:
                return event.get_logs(argument_filters=filters, from_block=start, to_block=end)

            for log in self._call(logs_between):
                args = log["args"]
                yield RegisteredLog(
                    fingerprint=HexBytes(args["fingerprint"]).hex(),
                    registrant=Web3.to_checksum_address(args["registrant"]),
                    owner_ref=HexBytes(args["ownerRef"]).to_0x_hex(),
                    perceptual_code=int(args["perceptualCode"]),
                    metadata_hash=HexBytes(args["metadataHash"]).to_0x_hex(),
                    parent=HexBytes(args["parent"]).hex(),
                    commitment_anchorer=Web3.to_checksum_address(args["commitmentAnchorer"]),
                    commitment_root=HexBytes(args["commitmentRoot"]).to_0x_hex(),
                    tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
                    block_number=int(log["blockNumber"]),
                    block_hash=HexBytes(log["blockHash"]).to_0x_hex(),
                )
            start = end + 1


def _view(view: Callable[..., V], outputs: Sequence[Any]) -> V:
    """A view's outputs as `view`, field by field in order: bytes as 0x hex, addresses
    checksummed, numbers as ints (the views here return nothing else)."""
    return view(*(_plain(value) for value in outputs))


def _plain(value: Any) -> str | int:
    if isinstance(value, bytes):
        return HexBytes(value).to_0x_hex()
    if isinstance(value, str):
        return Web3.to_checksum_address(value)
    return int(value)


def _bytes32(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes of hex, got {len(raw)}")
    return raw


# --- assignments and licences (services.designs.rights) ------------------------------------------

#: Gas limit of an assignment or licence transaction (each writes at most four slots; measured on
#: anvil: propose 123,622, accept 52,360, grant 101,369, terminate 57,445).
RIGHTS_GAS = 200_000

#: The registry functions that manage a final registration, by Hallmark's name for the action.
RIGHTS_FUNCTIONS = {
    "propose": "proposeAssignment",
    "accept": "acceptAssignment",
    "cancel": "cancelAssignment",
    "grant": "grantLicence",
    "terminate": "terminateLicence",
}


class PendingAssignmentView(NamedTuple):
    """`pendingAssignmentOf(fingerprint)`: a zero new registrant means none is pending."""

    new_registrant: str
    new_owner_ref: str
    document_hash: str
    proposed_by: str
    proposed_at: int

    @property
    def pending(self) -> bool:
        return int(self.new_registrant, 16) != 0


class LicenceView(NamedTuple):
    """`licenceOf(fingerprint, documentHash)`: a zero `granted_at` means no such licence."""

    licensee_ref: str
    granted_by: str
    granted_at: int
    valid_from: int
    valid_until: int
    terminated_by: str
    terminated_at: int
    termination_reason: int


def rights_arguments(action: str, fingerprint: str, values: dict[str, Any]) -> list[Any]:
    """The ABI arguments of a rights action (`RIGHTS_FUNCTIONS`) from its named values (hex
    strings for hashes and addresses, ints for times and the reason). Local."""
    key = HexBytes(_bytes32(fingerprint))
    if action == "propose":
        return [
            key,
            Web3.to_checksum_address(values["new_registrant"]),
            HexBytes(_bytes32(values["new_owner_ref"])),
            HexBytes(_bytes32(values["document_hash"])),
        ]
    if action == "accept":
        return [key, HexBytes(_bytes32(values["document_hash"]))]
    if action == "cancel":
        return [key]
    if action == "grant":
        return [
            key,
            HexBytes(_bytes32(values["licensee_ref"])),
            HexBytes(_bytes32(values["document_hash"])),
            int(values["valid_from"]),
            int(values["valid_until"]),
        ]
    if action == "terminate":
        return [key, HexBytes(_bytes32(values["document_hash"])), int(values["reason"])]
    raise ValueError(f"unknown rights action {action!r}")


class DesignRights:
    """Assignments and licences on one DesignRegistry: `build_*` local, `send_*` signs,
    broadcasts and waits, `retrieve_*` reads from the node (simulations included)."""

    def __init__(self, registry: DesignRegistryContract) -> None:
        self.registry = registry
        self.client = registry.client

    def build_action(
        self,
        account: LocalAccount,
        action: str,
        fingerprint: str,
        values: dict[str, Any],
        *,
        nonce: int,
        fees: Fees,
        chain_id: int,
        gas: int = RIGHTS_GAS,
    ) -> SignedTransaction:
        """Sign a rights action locally: explicit gas, nonce and fees, no node call."""
        return sign_call(
            account,
            self.registry.contract,
            RIGHTS_FUNCTIONS[action],
            rights_arguments(action, fingerprint, values),
            nonce=nonce,
            fees=fees,
            chain_id=chain_id,
            gas=gas,
        )

    def retrieve_action_check(
        self,
        sender: str,
        action: str,
        fingerprint: str,
        values: dict[str, Any],
        *,
        block: int | str = "pending",
        gas: int = RIGHTS_GAS,
    ) -> None:
        """Simulate a rights action from `sender` (in the next block by default, or as of
        `block`); raises the decoded error it would revert with."""
        self.registry.retrieve_function_check(
            sender,
            RIGHTS_FUNCTIONS[action],
            rights_arguments(action, fingerprint, values),
            gas=gas,
            block=block,
        )

    def send_action(
        self, account: LocalAccount, action: str, fingerprint: str, values: dict[str, Any]
    ) -> Sent:
        """Sign, send and wait for a rights action (simulated first: a revert is decoded)."""
        return self.registry.send_function(
            account, RIGHTS_FUNCTIONS[action], rights_arguments(action, fingerprint, values)
        )

    def retrieve_pending_assignment(self, fingerprint: str) -> PendingAssignmentView:
        """`pendingAssignmentOf(fingerprint)`."""
        fn = self.registry.contract.functions.pendingAssignmentOf(HexBytes(_bytes32(fingerprint)))
        return _view(PendingAssignmentView, self.registry._call(fn.call))

    def retrieve_licence(self, fingerprint: str, document_hash: str) -> LicenceView:
        """`licenceOf(fingerprint, documentHash)`."""
        fn = self.registry.contract.functions.licenceOf(
            HexBytes(_bytes32(fingerprint)), HexBytes(_bytes32(document_hash))
        )
        return _view(LicenceView, self.registry._call(fn.call))
