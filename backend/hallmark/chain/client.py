"""The chain client: a thin domain layer over an injected Web3.

Method names say their cost: `retrieve_*` reads from the node, `send_*` signs, broadcasts and
waits for the receipt. The constructor does no I/O. Node failures become `ChainUnavailableError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import TimeExhausted, Web3Exception
from web3.types import TxParams, TxReceipt, Wei

from hallmark.core.errors import ChainError, ChainUnavailableError

T = TypeVar("T")


class Sent(NamedTuple):
    """A mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    contract_address: ChecksumAddress | None


class ChainClient:
    """Reads from and writes to one EVM chain through Web3."""

    def __init__(self, w3: Web3, *, url: str, receipt_timeout: float = 120.0) -> None:
        self.w3 = w3
        self.url = url
        self.receipt_timeout = receipt_timeout

    @classmethod
    def for_url(cls, url: str, *, timeout: float = 10.0) -> ChainClient:
        """A client over HTTP JSON-RPC (no request is made here)."""
        return cls(Web3(HTTPProvider(url, request_kwargs={"timeout": timeout})), url=url)

    def _guard(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError) as exc:
            raise ChainUnavailableError(self.url, _first_line(exc)) from exc

    # --- reads ---------------------------------------------------------------------------------
    def retrieve_chain_id(self) -> int:
        return self._guard(lambda: int(self.w3.eth.chain_id))

    def retrieve_block_number(self) -> int:
        return self._guard(lambda: int(self.w3.eth.block_number))

    def retrieve_code(self, address: str) -> bytes:
        checksum = Web3.to_checksum_address(address)
        return bytes(self._guard(lambda: self.w3.eth.get_code(checksum)))

    def retrieve_balance(self, address: str) -> int:
        checksum = Web3.to_checksum_address(address)
        return int(self._guard(lambda: self.w3.eth.get_balance(checksum)))

    def retrieve_receipt(self, tx_hash: str) -> TxReceipt | None:
        def call() -> TxReceipt | None:
            try:
                return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except Web3Exception:  # TransactionNotFound: not mined (or gone)
                return None

        return self._guard(call)

    def retrieve(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw JSON-RPC request (node-specific methods such as anvil_*)."""
        response = self._guard(lambda: self.w3.provider.make_request(method, list(params)))  # type: ignore[arg-type]
        if "error" in response:
            raise ChainError(f"{method} failed: {response['error']}")
        return response.get("result")

    # --- writes --------------------------------------------------------------------------------
    def send_deployment(
        self, account: LocalAccount, abi: list[dict[str, Any]], bytecode: str, args: Sequence[Any]
    ) -> Sent:
        """Deploy a contract; returns once its receipt is in."""
        factory = self.w3.eth.contract(abi=abi, bytecode=HexStr(bytecode))
        sent = self._sign_and_send(
            account, lambda base: factory.constructor(*args).build_transaction(base)
        )
        if sent.contract_address is None:
            raise ChainError("deployment receipt carries no contract address")
        return sent

    def send_function(
        self,
        account: LocalAccount,
        address: str,
        abi: list[dict[str, Any]],
        function: str,
        args: Sequence[Any],
    ) -> Sent:
        """Call a contract function in a transaction; returns once its receipt is in."""
        contract = self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        return self._sign_and_send(
            account, lambda base: contract.functions[function](*args).build_transaction(base)
        )

    def _sign_and_send(self, account: LocalAccount, build: Callable[[TxParams], TxParams]) -> Sent:
        def call() -> Sent:
            base: TxParams = {
                "from": account.address,
                "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
                "chainId": self.w3.eth.chain_id,
            }
            tx = build(base)
            # Estimates are net of storage refunds; execution needs the gross amount up front.
            tx["gas"] = int(tx["gas"]) * 6 // 5 + 10_000
            signed = account.sign_transaction(tx)  # type: ignore[arg-type]
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            try:
                receipt = self.w3.eth.wait_for_transaction_receipt(
                    tx_hash, timeout=self.receipt_timeout
                )
            except TimeExhausted as exc:
                raise ChainError(
                    f"transaction {HexBytes(tx_hash).to_0x_hex()} not mined in time"
                ) from exc
            if receipt["status"] != 1:
                raise ChainError(f"transaction {HexBytes(tx_hash).to_0x_hex()} reverted")
            return Sent(
                tx_hash=HexBytes(tx_hash).to_0x_hex(),
                block_number=int(receipt["blockNumber"]),
                gas_used=int(receipt["gasUsed"]),
                contract_address=receipt.get("contractAddress"),
            )

        return self._guard(call)

    def set_local_balance(self, address: str, wei: int) -> None:
        """Fund an account on a development chain (anvil_setBalance)."""
        self.retrieve("anvil_setBalance", [Web3.to_checksum_address(address), hex(Wei(wei))])


def _first_line(exc: BaseException) -> str:
    """The operating system's reason when there is one (urllib3 nests it deep in its text)."""
    text = str(exc).strip()
    os_reason = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if os_reason:
        return os_reason.group(0).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
