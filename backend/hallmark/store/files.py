"""The encrypted file store: attachments addressed by the SHA-256 of their plaintext.

Each file is sealed with AES-256-GCM (the `cryptography` library) under the store's key, with a
fresh random 96-bit nonce per file and the file's own address (its SHA-256, hex) as associated
data, so a ciphertext moved to another address, truncated or altered in one bit is refused on
read. On disk: `<root>/<sha256[:2]>/<sha256>` holding `version byte ‖ nonce ‖ ciphertext+tag`,
written to a temporary file and renamed into place (a crash never leaves half a file).

Content addressing makes writes idempotent: storing bytes that are already there is a no-op.

Key rotation (`rotate`): the store holds the current key and may hold previous keys; a file is
read under whichever of them seals it, and written under the current key only. `rotate`
re-seals every file still under a previous key: decrypt, seal under the current key, write to
a temporary file, fsync, rename over the old one. The rename is atomic, so at every moment a
file is whole under the old key or whole under the new one, and readers holding both keys read
it; a rotation stopped at any point is resumed by running it again (files already under the
current key are left alone). Once it reports none left, the previous key can be dropped.

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
from collections.abc import Callable, Iterator
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
    #: Keys files may still be sealed under (read only; `rotate` re-seals them).
    previous_keys: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if any(len(key) != 32 for key in (self.key, *self.previous_keys)):
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
        self._write(path, self._seal(address, data))
        return address

    def _seal(self, address: str, data: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + AESGCM(self.key).encrypt(nonce, data, address.encode())

    @staticmethod
    def _write(path: Path, sealed: bytes) -> None:
        """Write whole or not at all: a temporary file, fsync, an atomic rename."""
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

    def get(self, sha256: str) -> bytes:
        """Decrypt and return the file; refuses anything that does not authenticate."""
        path = self.path_of(sha256)
        address = path.name
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError("attachment", address) from None
        data, _ = self._open(address, sealed)
        return data

    def _open(self, address: str, sealed: bytes) -> tuple[bytes, bool]:
        """The plaintext, and whether it was sealed under the current key."""
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise FileCorruptError(address)
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        for key in (self.key, *self.previous_keys):
            try:
                data = AESGCM(key).decrypt(nonce, ciphertext, address.encode())
            except InvalidTag:
                continue
            if sha256_hex(data) != address:  # authenticated, yet not the file: a key reused
                raise FileCorruptError(address)
            return data, key == self.key
        raise FileCorruptError(address)

    def addresses(self) -> Iterator[str]:
        """Every stored file's address (temporary files left by a crash are skipped)."""
        if not self.root.is_dir():
            return
        for directory in sorted(self.root.iterdir()):
            if not directory.is_dir() or len(directory.name) != 2:
                continue
            for path in sorted(directory.iterdir()):
                if _SHA256_HEX.match(path.name) and path.name[:2] == directory.name:
                    yield path.name

    def rotate(self, *, progress: Callable[[str, bool], None] | None = None) -> RotationReport:
        """Re-seal under the current key every file still sealed under a previous key (see
        the module docstring); `progress(address, resealed)` after each file.

        Raises:
            FileCorruptError: a file that no key opens (it is left as it is; the others go on).
        """
        resealed = current = 0
        unreadable: list[str] = []
        for address in self.addresses():
            path = self.path_of(address)
            try:
                data, under_current = self._open(address, path.read_bytes())
            except FileCorruptError:
                unreadable.append(address)
                continue
            if not under_current:
                self._write(path, self._seal(address, data))
                resealed += 1
            else:
                current += 1
            if progress is not None:
                progress(address, not under_current)
        return RotationReport(resealed=resealed, current=current, unreadable=unreadable)

    def remaining(self) -> int:
        """How many files are not sealed under the current key (0: the rotation is complete)."""
        left = 0
        for address in self.addresses():
            try:
                _, under_current = self._open(address, self.path_of(address).read_bytes())
            except FileCorruptError:
                under_current = False
            left += 0 if under_current else 1
        return left


@dataclass(frozen=True)
class RotationReport:
    """What `EncryptedFileStore.rotate` did: files re-sealed now, files already under the
    current key, and files no key opens."""

    resealed: int
    current: int
    unreadable: list[str]
