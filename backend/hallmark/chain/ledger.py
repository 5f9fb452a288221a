"""The ProvenanceLedger contract seen from Python: roles now, anchoring and status as they land.

`build_*` methods are local, `send_*` sign, broadcast and wait, `retrieve_*` read from the node.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from hallmark.chain.client import ChainClient, Sent

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


class Ledger:
    """Typed access to one deployed ProvenanceLedger."""

    def __init__(self, client: ChainClient, address: str, abi: list[dict[str, Any]]) -> None:
        self.client = client
        self.address = Web3.to_checksum_address(address)
        self.abi = abi
        self.contract: Contract = client.w3.eth.contract(address=self.address, abi=abi)

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
        return bool(self.client._guard(fn.call))
