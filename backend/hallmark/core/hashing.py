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
