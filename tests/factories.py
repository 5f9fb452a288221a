"""Plain factory functions for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from hallmark.chain.client import ChainClient


def funded_account(client: ChainClient, wei: int = 10**18) -> LocalAccount:
    """A fresh account with a balance on a development chain."""
    account: LocalAccount = Account.create()
    client.set_local_balance(account.address, wei)
    return account


def send_value(client: ChainClient, sender: LocalAccount, to: str, wei: int) -> str:
    """A plain value transfer; returns its transaction hash once mined."""
    w3 = client.w3
    tx: dict[str, Any] = {
        "to": to,
        "value": wei,
        "gas": 21_000,
        "maxFeePerGas": w3.eth.gas_price * 2 + 10**9,
        "maxPriorityFeePerGas": 10**9,
        "nonce": w3.eth.get_transaction_count(sender.address),
        "chainId": w3.eth.chain_id,
    }
    signed = sender.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    return tx_hash.to_0x_hex()


def process_alive(pid: int) -> bool:
    """Whether `pid` runs, on Linux (a zombie, dead but not reaped by its new parent, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
