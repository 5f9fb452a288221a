"""Fees of a signed transaction, and the fees of the transaction that replaces it.

A transaction priced for the base fee of the block it was signed at can wait for ever when the
base fee rises (it may by 12.5 % a block) or the tip is too low for block producers. Nodes take a
replacement, same sender and nonce, only if it raises both the tip and the max fee (the legacy
gas price) by a margin: geth and most clients ask for 10 %. `replacement_fees` raises each by
12.5 % and to at least what a new transaction would pay now, within an operator's cap.
"""

from __future__ import annotations

import rlp  # type: ignore[import-untyped]

from hallmark.chain.client import Fees

#: Raise per replacement, 12.5 % (9/8): above the 10 % most nodes ask for.
BUMP_NUMERATOR, BUMP_DENOMINATOR = 9, 8

#: EIP-2718 transaction types and where their fee fields sit in the RLP list after the type.
_DYNAMIC_FEE = 0x02  # EIP-1559: [chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, ...]
_ACCESS_LIST = 0x01  # EIP-2930: [chainId, nonce, gasPrice, ...]


def fees_of(raw_tx: bytes) -> Fees:
    """The fee fields of a signed transaction (legacy, EIP-2930 or EIP-1559)."""
    # eth-account decodes typed transactions only; the fields' places are fixed by the EIPs.
    if not raw_tx:
        raise ValueError("empty transaction")
    if raw_tx[0] >= 0xC0:  # an RLP list: a legacy transaction [nonce, gasPrice, ...]
        return Fees(None, None, _int(rlp.decode(raw_tx)[1]))
    fields = rlp.decode(raw_tx[1:])
    if raw_tx[0] == _DYNAMIC_FEE:
        return Fees(_int(fields[3]), _int(fields[2]), None)
    if raw_tx[0] == _ACCESS_LIST:
        return Fees(None, None, _int(fields[2]))
    raise ValueError(f"unknown transaction type {raw_tx[0]:#x}")


def replacement_fees(old: Fees, now: Fees, *, cap: int | None = None) -> Fees | None:
    """Fees for a transaction replacing one signed with `old`, when a new one would pay `now`:
    each raised by 12.5 % and to at least `now`, the max fee (gas price) no higher than `cap`.
    None when the cap leaves no room for a replacement a node would take."""
    if old.gas_price is not None:  # legacy pricing stays legacy: the node compares like with like
        price = max(_raised(old.gas_price), now.gas_price or now.max_fee_per_gas or 0)
        if cap is not None:
            price = min(price, cap)
        return Fees(None, None, price) if price >= _raised(old.gas_price) else None
    if old.max_fee_per_gas is None or old.max_priority_fee_per_gas is None:
        raise ValueError("fees without a gas price or both EIP-1559 fees")
    max_fee = max(_raised(old.max_fee_per_gas), now.max_fee_per_gas or now.gas_price or 0)
    tip = max(_raised(old.max_priority_fee_per_gas), now.max_priority_fee_per_gas or 0)
    if cap is not None:
        max_fee = min(max_fee, cap)
    tip = min(tip, max_fee)  # a tip above the max fee is invalid
    if max_fee < _raised(old.max_fee_per_gas) or tip < _raised(old.max_priority_fee_per_gas):
        return None
    return Fees(max_fee, tip, None)


def _raised(value: int) -> int:
    """`value` raised by 9/8, rounded up (integers: wei amounts exceed a float's precision)."""
    return max(1, -(-value * BUMP_NUMERATOR // BUMP_DENOMINATOR))


def _int(field: bytes) -> int:
    return int.from_bytes(field, "big")
