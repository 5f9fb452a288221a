"""Contract custom errors → Hallmark's typed errors: one table, built from the artifact's ABI.

A contract reverts with `selector ++ abi.encode(arguments)`, the selector being the first four
bytes of `keccak256("Name(type,...)")`. `ContractErrors` reads every `error` entry of an ABI,
so a revert decodes to its name and named arguments; `DOMAIN_ERRORS` picks the Hallmark error
class for the ones the backend acts on, every other custom error becomes a plain
`ContractRevertError` carrying its name and arguments.

Raises (from `translate`):
    ContractRevertError and its leaves: a decoded custom error.
    ChainError: a revert without a known custom error (out of gas, a panic, unknown selector).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import abi_to_signature, get_abi_input_types
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError

from hallmark.core.errors import (
    ChainError,
    ContractRevertError,
    DesignAlreadyRegisteredError,
    RootAlreadyAnchoredError,
    UnauthorisedAnchorerError,
)

#: Custom errors the backend acts on, by Solidity name; the rest stay `ContractRevertError`.
DOMAIN_ERRORS: dict[str, type[ContractRevertError]] = {
    "UnauthorisedAnchorer": UnauthorisedAnchorerError,
    "RootAlreadyAnchored": RootAlreadyAnchoredError,
    "DesignAlreadyRegistered": DesignAlreadyRegisteredError,
}


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One `error` entry of an ABI."""

    name: str
    argument_names: tuple[str, ...]
    argument_types: tuple[str, ...]
    selector: bytes


def _render(abi_type: str, value: Any) -> Any:
    """JSON-friendly argument values: checksummed addresses, 0x-hex bytes, plain ints."""
    if abi_type == "address":
        return Web3.to_checksum_address(value)
    if isinstance(value, bytes):
        return HexBytes(value).to_0x_hex()
    if isinstance(value, list | tuple):
        element = abi_type[: abi_type.rindex("[")] if abi_type.endswith("]") else abi_type
        return [_render(element, item) for item in value]
    return value


class ContractErrors:
    """The selector table of one contract's custom errors."""

    def __init__(self, contract: str, abi: Sequence[Mapping[str, Any]]) -> None:
        self.contract = contract
        self.by_selector: dict[bytes, ErrorSpec] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            signature = abi_to_signature(entry)  # type: ignore[arg-type]
            spec = ErrorSpec(
                name=str(entry["name"]),
                argument_names=tuple(
                    str(i.get("name") or f"arg{n}") for n, i in enumerate(entry.get("inputs", []))
                ),
                argument_types=tuple(get_abi_input_types(entry)),  # type: ignore[arg-type]
                selector=keccak(text=signature)[:4],
            )
            self.by_selector[spec.selector] = spec

    def decode(self, data: bytes | str | None) -> ContractRevertError | None:
        """The typed error for revert data, or None when it is no custom error of this ABI."""
        raw = bytes(HexBytes(data)) if data else b""
        spec = self.by_selector.get(raw[:4]) if len(raw) >= 4 else None
        if spec is None:
            return None
        try:
            values = abi_decode(list(spec.argument_types), raw[4:])
        except DecodingError:
            return None
        arguments = {
            name: _render(abi_type, value)
            for name, abi_type, value in zip(
                spec.argument_names, spec.argument_types, values, strict=True
            )
        }
        error_class = DOMAIN_ERRORS.get(spec.name, ContractRevertError)
        return error_class(self.contract, spec.name, arguments)

    def translate(self, exc: ContractLogicError) -> ChainError:
        """The Hallmark error for a revert raised by web3 (raise it `from exc`)."""
        data = exc.data if isinstance(exc.data, str) else None
        decoded = self.decode(data)
        if decoded is not None:
            return decoded
        reason = exc.message or str(exc) or "no reason given"
        return ChainError(f"{self.contract} reverted: {reason}", details={"data": data})
