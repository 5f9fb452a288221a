"""The admin and service keys: generated on first start, kept as encrypted V3 keystores.

The admin key deploys the contracts and administers roles; the service key is Hallmark's own
operational account (design registrar, revoker). Both live in <data_dir>/keys/ as Ethereum V3
keystores (eth-account, scrypt) encrypted with the configured passphrase, readable by the owner
only. Keys are fresh random keys: never the well-known development accounts of anvil.

Raises:
    KeystoreError: a keystore is unreadable, corrupt, or the passphrase does not open it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from hallmark.core.errors import KeystoreError

KEY_NAMES = ("admin", "service")


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The decrypted keys Hallmark signs with."""

    admin: LocalAccount
    service: LocalAccount


def _write_private(path: Path, content: str) -> None:
    """Write a file readable by its owner only, atomically (no half-written keystore)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_keystore(path: Path, passphrase: str) -> LocalAccount:
    """Decrypt one V3 keystore."""
    try:
        keystore = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read keystore {path.name}: {exc}") from exc
    try:
        key = Account.decrypt(keystore, passphrase)
    except ValueError as exc:
        raise KeystoreError(
            f"cannot decrypt keystore {path.name}: wrong HALLMARK_KEY_PASSPHRASE or corrupt file",
            details={"keystore": path.name},
        ) from exc
    account: LocalAccount = Account.from_key(key)
    recorded = keystore.get("address")
    if recorded and recorded.lower().removeprefix("0x") != account.address.lower()[2:]:
        raise KeystoreError(f"keystore {path.name} does not hold the key of its recorded address")
    return account


def create_keystore(path: Path, passphrase: str, *, scrypt_n: int) -> LocalAccount:
    """Generate a fresh random key and store it encrypted."""
    account: LocalAccount = Account.create()
    keystore = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_n)
    _write_private(path, json.dumps(keystore, indent=2) + "\n")
    return account


def load_or_create_keys(keys_dir: Path, passphrase: str, *, scrypt_n: int) -> KeyRing:
    """Open the admin and service keystores, creating the missing ones."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    accounts = {}
    for name in KEY_NAMES:
        path = keys_dir / f"{name}.json"
        accounts[name] = (
            load_keystore(path, passphrase)
            if path.exists()
            else create_keystore(path, passphrase, scrypt_n=scrypt_n)
        )
    return KeyRing(admin=accounts["admin"], service=accounts["service"])
