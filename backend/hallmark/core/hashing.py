"""keccak-256, the hash of every record, Merkle node and audit entry.

One function so every layer hashes the same way. It calls the C implementation of
safe-pysha3 directly: eth-hash prefers its pycryptodome backend when both are installed, which
is several times slower per call (docs/BENCHMARKS.md), and ingestion hashes several times per
record.
"""

from __future__ import annotations

import sha3


def keccak256(data: bytes) -> bytes:
    """The 32-byte keccak-256 digest (Ethereum's, not NIST SHA3-256)."""
    digest: bytes = sha3.keccak_256(data).digest()
    return digest


def design_commitment(fingerprint: str, registrant: str, salt: str) -> str:
    """A design commitment, `keccak256(abi.encode(fingerprint, registrant, salt))` as 0x-hex, as
    the DesignRegistry's `commitmentHash`: fingerprint and salt are 32 bytes of hex (0x
    optional), registrant an address."""
    encoded = (
        bytes.fromhex(fingerprint.removeprefix("0x")).rjust(32, b"\0")[-32:]
        + bytes.fromhex(registrant.removeprefix("0x")).rjust(32, b"\0")
        + bytes.fromhex(salt.removeprefix("0x")).rjust(32, b"\0")[-32:]
    )
    if len(encoded) != 96:
        raise ValueError(
            "a design commitment takes a 32-byte fingerprint, an address, a 32-byte salt"
        )
    return "0x" + keccak256(encoded).hex()
