"""The encrypted file store: attachments addressed by the SHA-256 of their plaintext.

Each file is sealed with AES-256-GCM (the `cryptography` library) under the store's key, with a
fresh random 96-bit nonce per file and the file's own address (its SHA-256, hex) as associated
data, so a ciphertext moved to another address, truncated or altered in one bit is refused on
read. On disk: `<root>/<sha256[:2]>/<sha256>` holding `version byte ‖ nonce ‖ ciphertext+tag`,
written to a temporary file and renamed into place (a crash never leaves half a file).

Content addressing makes writes idempotent: storing bytes that are already there is a no-op.

Raises:
    NotFoundError: no file at that address.
    InvalidInputError: a malformed address.
    FileCorruptError: the stored bytes do not authenticate (tampered, or another key).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hallmark.core.errors import FileCorruptError, InvalidInputError, NotFoundError

_VERSION = b"\x01"
_NONCE_BYTES = 12
_SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_address(sha256: str) -> str:
    """A lowercase 64-hex-digit SHA-256, or InvalidInputError."""
    value = sha256.lower()
    if not _SHA256_HEX.match(value):
        raise InvalidInputError(
            "an attachment is addressed by the 64 hex digits of its SHA-256",
            details={"sha256": sha256},
        )
    return value


@dataclass(frozen=True)
class EncryptedFileStore:
    """Files sealed with AES-256-GCM under one key, in a directory tree."""

    root: Path
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ValueError("the file store needs a 32-byte AES-256 key")

    def path_of(self, sha256: str) -> Path:
        address = check_address(sha256)
        return self.root / address[:2] / address

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Encrypt and store `data`; returns its address (SHA-256 of the plaintext, hex)."""
        address = sha256_hex(data)
        path = self.path_of(address)
        if path.is_file():
            return address
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = _VERSION + nonce + AESGCM(self.key).encrypt(nonce, data, address.encode())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return address

    def get(self, sha256: str) -> bytes:
        """Decrypt and return the file; refuses anything that does not authenticate."""
        path = self.path_of(sha256)
        address = path.name
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError("attachment", address) from None
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise FileCorruptError(address)
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            data = AESGCM(self.key).decrypt(nonce, ciphertext, address.encode())
        except InvalidTag:
            raise FileCorruptError(address) from None
        if sha256_hex(data) != address:  # authenticated, yet not the file: a key reused elsewhere
            raise FileCorruptError(address)
        return data
