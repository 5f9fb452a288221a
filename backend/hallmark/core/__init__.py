"""Pure building blocks shared by every layer: hashing, canonical JSON, Merkle trees, errors."""
