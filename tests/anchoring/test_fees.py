"""Fee fields read back from signed transactions, and the fees of their replacements."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from hallmark.chain.client import Fees
from hallmark.chain.fees import fees_of, replacement_fees

ACCOUNT = Account.from_key("0x" + "42" * 32)
BASE = {"chainId": 31337, "nonce": 7, "to": ACCOUNT.address, "value": 0, "gas": 100_000}
wei = st.integers(min_value=0, max_value=10**22)


@given(max_fee=wei, tip=wei)
def test_fees_of_a_dynamic_fee_transaction(max_fee: int, tip: int) -> None:
    signed = ACCOUNT.sign_transaction(
        {**BASE, "type": 2, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(tip, max_fee)}
    )
    assert fees_of(signed.raw_transaction) == Fees(max_fee, min(tip, max_fee), None)


@given(price=wei)
def test_fees_of_legacy_and_access_list_transactions(price: int) -> None:
    legacy = ACCOUNT.sign_transaction({**BASE, "gasPrice": price})
    assert fees_of(legacy.raw_transaction) == Fees(None, None, price)
    access_list = ACCOUNT.sign_transaction({**BASE, "type": 1, "gasPrice": price, "accessList": []})
    assert fees_of(access_list.raw_transaction) == Fees(None, None, price)


def test_fees_of_refuses_what_is_no_transaction() -> None:
    with pytest.raises(ValueError, match="empty"):
        fees_of(b"")
    with pytest.raises(ValueError, match="unknown transaction type 0x7"):
        fees_of(bytes([0x07, 0xC0]))


@given(
    old_max=wei,
    old_tip=wei,
    now_max=wei,
    now_tip=wei,
    cap=st.none() | st.integers(min_value=1, max_value=10**23),
)
def test_a_replacement_raises_both_fees_enough_and_stays_within_the_cap(
    old_max: int, old_tip: int, now_max: int, now_tip: int, cap: int | None
) -> None:
    old_tip = min(old_tip, old_max)
    old = Fees(old_max, old_tip, None)
    new = replacement_fees(old, Fees(now_max, min(now_tip, now_max), None), cap=cap)
    needed = max(1, -(-old_max * 9 // 8))  # the old max fee raised by 12.5 %, rounded up
    assert (new is None) == (cap is not None and cap < needed)
    if new is None:
        return
    assert new.max_fee_per_gas is not None and new.max_priority_fee_per_gas is not None
    assert new.gas_price is None
    # What geth and most nodes ask of a replacement: both fields at least 10 % higher.
    assert new.max_fee_per_gas * 10 >= old_max * 11 and new.max_fee_per_gas >= 1
    assert new.max_priority_fee_per_gas * 10 >= old_tip * 11
    assert new.max_priority_fee_per_gas <= new.max_fee_per_gas
    if cap is not None:
        assert new.max_fee_per_gas <= cap
    else:
        assert new.max_fee_per_gas >= now_max and new.max_priority_fee_per_gas >= min(
            now_tip, now_max
        )


def test_a_replacement_pays_what_a_new_transaction_pays_when_that_is_more() -> None:
    gwei = 10**9
    new = replacement_fees(Fees(3 * gwei, gwei, None), Fees(50 * gwei, 2 * gwei, None))
    assert new == Fees(50 * gwei, 2 * gwei, None)
    legacy = replacement_fees(Fees(None, None, 8 * gwei), Fees(None, None, 5 * gwei))
    assert legacy == Fees(None, None, 9 * gwei)


def test_no_replacement_when_the_cap_leaves_no_room() -> None:
    gwei = 10**9
    assert (
        replacement_fees(Fees(10 * gwei, gwei, None), Fees(30 * gwei, gwei, None), cap=10 * gwei)
        is None
    )
    assert (
        replacement_fees(Fees(None, None, 10 * gwei), Fees(None, None, gwei), cap=11 * gwei) is None
    )
    assert replacement_fees(
        Fees(10 * gwei, gwei, None), Fees(30 * gwei, gwei, None), cap=20 * gwei
    ) == Fees(20 * gwei, 1_125_000_000, None)
