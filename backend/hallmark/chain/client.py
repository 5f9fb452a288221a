"""The chain client: a thin domain layer over an injected Web3.

Method names say their cost: `retrieve_*` reads from the node, `send_*` signs, broadcasts and
waits for the receipt (`send_raw_transaction` only broadcasts what was signed already). The
constructor does no I/O.

Every failure of the transport is mapped here, in `_translated`, whatever raised it (requests,
urllib3, the standard library, web3's decoding):

    refused or reset connection, HTTP 5xx      ChainUnavailableError (retryable)
    a request that timed out (a stalled node)  ChainUnavailableError (not repeated)
    HTTP 429, JSON-RPC "limit exceeded"        ChainRateLimitedError (Retry-After kept)
    a body that is no JSON-RPC answer          ChainBadResponseError
    any other JSON-RPC error                   ChainError (the node's message)

A signed transaction the node refuses becomes `TransactionRejectedError`. There is one retry
policy (`RetryPolicy`: a few quick tries of what is safe to repeat); web3's own retries are
switched off so that no hidden retries stack under it, and the callers (the worker's backoff,
readiness) see each failure after at most `attempts` requests.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, TypeVar

import requests
import structlog
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import (
    BadResponseFormat,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import RPCEndpoint, TxParams, TxReceipt, Wei

from hallmark.core.errors import (
    ChainBadResponseError,
    ChainError,
    ChainRateLimitedError,
    ChainUnavailableError,
    TransactionRejectedError,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often the client asks again after a retryable transport failure, and how long it
    waits in between: `base_delay` doubling up to `max_delay`, or what a 429's Retry-After asks
    (never longer than `max_delay`: a longer wait is the caller's backoff to decide)."""

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(self, attempt: int, error: ChainUnavailableError) -> float:
        """Seconds to wait after failed try number `attempt` (1-based)."""
        wait = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        if isinstance(error, ChainRateLimitedError) and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.max_delay))
        return wait


#: The policy of the worker and the commands: three tries within about a second.
DEFAULT_RETRY = RetryPolicy()
#: One try: readiness answers within its own deadline; sign-and-wait is never repeated blindly.
NO_RETRY = RetryPolicy(attempts=1)
#: JSON-RPC error codes and texts with which providers say "too many requests".
_RATE_LIMIT_CODES = frozenset({-32005, -32029, 429})
_RATE_LIMIT_TEXTS = ("rate limit", "too many requests", "limit exceeded", "request limit")


class Sent(NamedTuple):
    """A mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    contract_address: ChecksumAddress | None


class Fees(NamedTuple):
    """Fee parameters for new transactions: EIP-1559 when the chain has a base fee, else legacy."""

    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    gas_price: int | None


class BlockRef(NamedTuple):
    """A block of the node's canonical chain: its height and hash."""

    number: int
    hash: str


class Receipt(NamedTuple):
    """The parts of a transaction receipt Hallmark keeps."""

    tx_hash: str
    status: int
    block_number: int
    block_hash: str
    gas_used: int


#: Requests per JSON-RPC batch (nodes and providers cap batch sizes; 100 is widely accepted).
RPC_BATCH_SIZE = 100
#: Node answers to a re-broadcast of a transaction it holds already (geth, anvil, nethermind...).
_ALREADY_KNOWN = ("already known", "known transaction", "alreadyknown", "already imported")


class ChainClient:
    """Reads from and writes to one EVM chain through Web3."""

    def __init__(
        self,
        w3: Web3,
        *,
        url: str,
        receipt_timeout: float = 120.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.w3 = w3
        self.url = url
        self.receipt_timeout = receipt_timeout
        self.retry = retry

    @classmethod
    def for_url(
        cls, url: str, *, timeout: float = 10.0, retry: RetryPolicy = DEFAULT_RETRY
    ) -> ChainClient:
        """A client over HTTP JSON-RPC (no request is made here); web3's retries are off."""
        provider = HTTPProvider(
            url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
        return cls(Web3(provider), url=url, retry=retry)

    def _guard(self, call: Callable[[], T], *, retry: bool = True) -> T:
        """Run `call` with every transport failure mapped (see the module docstring), asked
        again by the retry policy when `retry` and the failure is retryable."""
        policy = self.retry if retry else NO_RETRY
        attempt = 1
        while True:
            try:
                return self._translated(call)
            except ChainUnavailableError as exc:
                if attempt >= policy.attempts or not exc.retryable:
                    raise
                delay = policy.delay(attempt, exc)
                log.info("chain.retry", error=exc.code, attempt=attempt, retry_in=delay)
                time.sleep(delay)
                attempt += 1

    def _translated(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except ChainError:
            raise
        except requests.HTTPError as exc:
            raise self._http_error(exc) from exc
        except (requests.Timeout, TimeoutError) as exc:
            raise ChainUnavailableError(self.url, _first_line(exc), retryable=False) from exc
        except (requests.RequestException, ConnectionError) as exc:
            raise ChainUnavailableError(self.url, _first_line(exc)) from exc
        except (json.JSONDecodeError, UnicodeDecodeError, BadResponseFormat) as exc:
            raise ChainBadResponseError(self.url, _first_line(exc)) from exc
        except ContractLogicError:
            raise  # a revert: the ledger decodes it with the contract's ABI
        except Web3RPCError as exc:
            error: Any = (exc.rpc_response or {}).get("error") or {}
            raise self._rpc_error(error if isinstance(error, dict) else {"message": error}) from exc

    def _http_error(self, exc: requests.HTTPError) -> ChainUnavailableError:
        response = exc.response
        status = response.status_code if response is not None else 0
        reason = f"HTTP {status} {response.reason if response is not None else ''}".strip()
        if status == 429:
            header = response.headers.get("Retry-After") if response is not None else None
            return ChainRateLimitedError(self.url, reason, retry_after=_retry_after(header))
        # 5xx: the endpoint (or a proxy before it) failed; 4xx: it refuses Hallmark's requests.
        return ChainUnavailableError(self.url, reason, retryable=status >= 500)

    def _rpc_error(self, error: dict[str, Any]) -> ChainError:
        """The error of a JSON-RPC answer: rate limits are transport trouble, the rest the
        node's refusal."""
        message = str(error.get("message") or error)
        code = error.get("code")
        if code in _RATE_LIMIT_CODES or any(t in message.lower() for t in _RATE_LIMIT_TEXTS):
            return ChainRateLimitedError(self.url, f"JSON-RPC error {code}: {message}")
        return ChainError(
            f"chain node at {self.url} answered an error: {message}",
            details={"url": self.url, "rpc_error": error},
        )

    def retrieve_call(self, call: Callable[[], T]) -> T:
        """Run a contract read (eth_call) with node failures mapped to ChainUnavailableError."""
        return self._guard(call)

    # --- reads ---------------------------------------------------------------------------------
    def retrieve_chain_id(self) -> int:
        return self._guard(lambda: int(self.w3.eth.chain_id))

    def retrieve_block_number(self) -> int:
        return self._guard(lambda: int(self.w3.eth.block_number))

    def retrieve_block_time(self, number: int) -> int:
        """The timestamp of the block at height `number` (Unix seconds)."""
        return self._guard(lambda: int(self.w3.eth.get_block(number)["timestamp"]))

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
            except TransactionNotFound:  # not mined (or gone)
                return None

        return self._guard(call)

    def retrieve_nonce(self, address: str, block: str = "pending") -> int:
        """The account's transaction count at `block` ("latest": mined; "pending": with pool)."""
        checksum = Web3.to_checksum_address(address)
        return int(self._guard(lambda: self.w3.eth.get_transaction_count(checksum, block)))  # type: ignore[arg-type]

    def retrieve_fees(self) -> Fees:
        """Fees for a transaction to be mined soon: max fee = 2 x base fee + tip (EIP-1559)."""

        def call() -> Fees:
            base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas")
            if base_fee is None:
                return Fees(None, None, int(self.w3.eth.gas_price))
            tip = int(self.w3.eth.max_priority_fee)
            return Fees(2 * int(base_fee) + tip, tip, None)

        return self._guard(call)

    def _batch(self, requests_: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of JSON-RPC requests sent in batches (one round trip per RPC_BATCH_SIZE)."""
        results: list[Any] = []
        for start in range(0, len(requests_), RPC_BATCH_SIZE):
            chunk = [(RPCEndpoint(m), p) for m, p in requests_[start : start + RPC_BATCH_SIZE]]

            def call(chunk: list[tuple[RPCEndpoint, Any]] = chunk) -> Any:
                return self.w3.provider.make_batch_request(chunk)  # type: ignore[attr-defined]

            def checked(call: Callable[[], Any] = call, size: int = len(chunk)) -> Any:
                return self._checked_batch(call(), size)

            answers = self._guard(checked)
            results.extend(answer.get("result") for answer in answers)
        return results

    def _checked_batch(self, answers: Any, expected: int) -> list[dict[str, Any]]:
        """The answers of a batch, each a JSON-RPC answer, or the error mapped."""
        if isinstance(answers, dict) and isinstance(answers.get("error"), dict):
            raise self._rpc_error(answers["error"])  # the whole batch refused
        if (
            not isinstance(answers, list)
            or len(answers) != expected
            or not all(isinstance(a, dict) and ("result" in a or "error" in a) for a in answers)
        ):
            raise ChainBadResponseError(self.url, f"malformed batch answer: {str(answers)[:200]}")
        for answer in answers:
            if "error" in answer:
                error = answer["error"]
                raise self._rpc_error(error if isinstance(error, dict) else {"message": error})
        return answers

    def retrieve_eth_calls(self, calls: Sequence[tuple[str, str]], block: int) -> list[str]:
        """The raw answers (0x-hex) of `eth_call`s, each (contract address, calldata), at
        `block`, in JSON-RPC batches: no ABI work here (the caller encodes and decodes).

        Raises:
            ChainError: the node refuses one of them (a revert too), or answers no hex text.
        """
        answers = self._batch(
            [("eth_call", [{"to": to, "data": data}, hex(block)]) for to, data in calls]
        )
        if not all(isinstance(a, str) and a.startswith("0x") for a in answers):
            raise ChainBadResponseError(self.url, "an eth_call answer is not hex text")
        return answers

    def retrieve_receipts(self, tx_hashes: Sequence[str]) -> dict[str, Receipt | None]:
        """Receipts by transaction hash (None: not mined, or no longer on the chain)."""
        answers = self._batch([("eth_getTransactionReceipt", [h]) for h in tx_hashes])
        return {
            tx_hash: None
            if answer is None or answer.get("blockHash") is None
            else Receipt(
                tx_hash=tx_hash,
                status=int(answer["status"], 16),
                block_number=int(answer["blockNumber"], 16),
                block_hash=str(answer["blockHash"]),
                gas_used=int(answer["gasUsed"], 16),
            )
            for tx_hash, answer in zip(tx_hashes, answers, strict=True)
        }

    def retrieve_block_ref(self, tag: str = "latest") -> BlockRef | None:
        """Height and hash of the block `tag` names ("latest", "finalized", "safe"); None when
        the node has no such block or does not know the tag."""

        def call() -> Any:
            try:
                return self.w3.provider.make_request(
                    RPCEndpoint("eth_getBlockByNumber"), [tag, False]
                )
            except Web3RPCError:
                return None

        response = self._guard(call)
        if response is None:
            return None
        if not isinstance(response, dict):
            raise ChainBadResponseError(self.url, "malformed answer to eth_getBlockByNumber")
        error = response.get("error")
        if error is not None:
            mapped = self._rpc_error(dict(error) if isinstance(error, dict) else {"message": error})
            if isinstance(mapped, ChainUnavailableError):
                raise mapped
            return None  # e.g. a node that predates the "finalized" tag
        block = response.get("result")
        if not block:
            return None
        return BlockRef(int(block["number"], 16), str(block["hash"]))

    def retrieve_block_hashes(self, numbers: Sequence[int]) -> dict[int, str | None]:
        """The hash of the block at each height on the node's canonical chain (None: no block)."""
        answers = self._batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        return {
            n: (str(answer["hash"]) if answer else None)
            for n, answer in zip(numbers, answers, strict=True)
        }

    def send_raw_transaction(self, raw_tx: str) -> str:
        """Broadcast a signed transaction; again is harmless (a node that has it says so)."""
        tx_hash = HexBytes(Web3.keccak(HexBytes(raw_tx))).to_0x_hex()

        def call() -> str:
            try:
                self.w3.eth.send_raw_transaction(HexBytes(raw_tx))
            except Web3RPCError as exc:
                error: Any = (exc.rpc_response or {}).get("error") or {}
                reason = str(error.get("message") if isinstance(error, dict) else error) or str(exc)
                if any(known in reason.lower() for known in _ALREADY_KNOWN):
                    return tx_hash
                raise TransactionRejectedError(tx_hash, reason) from exc
            return tx_hash

        return self._guard(call)

    def retrieve(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw JSON-RPC request (node-specific methods such as anvil_*)."""
        response = self._guard(lambda: self.w3.provider.make_request(method, list(params)))  # type: ignore[arg-type]
        if not isinstance(response, dict):
            raise ChainBadResponseError(self.url, f"malformed answer to {method}")
        if "error" in response:
            error: Any = response["error"]
            raise self._rpc_error(dict(error) if isinstance(error, dict) else {"message": error})
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

    def send_data(self, account: LocalAccount, data: bytes) -> Sent:
        """A transaction of `account` to itself, of no value, carrying `data` (a fact put on
        chain without a contract); returns once its receipt is in."""
        return self._sign_and_send(
            account,
            lambda base: {
                **base,
                "to": account.address,
                "value": Wei(0),
                "data": HexBytes(data).to_0x_hex(),  # type: ignore[typeddict-item]
                "gas": 21_000 + 16 * len(data),
                "gasPrice": self.w3.eth.gas_price,
            },
        )

    def retrieve_transaction(self, tx_hash: str) -> tuple[str, bytes, int | None] | None:
        """A transaction's sender, data and block (None while pending); None when unknown."""

        def call() -> tuple[str, bytes, int | None] | None:
            try:
                tx = self.w3.eth.get_transaction(HexStr(tx_hash))
            except TransactionNotFound:
                return None
            block = tx.get("blockNumber")
            return str(tx["from"]), bytes(tx["input"]), None if block is None else int(block)

        return self._guard(call)

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

        # Never repeated: a second try after a broadcast would sign a second transaction.
        return self._guard(call, retry=False)

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


def _retry_after(header: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date)."""
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(header).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
