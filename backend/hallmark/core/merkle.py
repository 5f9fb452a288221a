"""Merkle trees of record hashes, compatible with OpenZeppelin's ``StandardMerkleTree``.

Hallmark anchors batches of record hashes (see :func:`hallmark.core.canonical.record_hash`) on
chain as a single Merkle root. Proofs must verify with OpenZeppelin's ``MerkleProof`` library in
Solidity and trees must be exchangeable with the JavaScript reference
(``@openzeppelin/merkle-tree`` 1.0.8, ``StandardMerkleTree.of(values, ["bytes32"])``), so this
module reproduces the reference bit for bit for the leaf encoding ``["bytes32"]``:

* Leaf: ``keccak256(keccak256(abi.encode(bytes32 value)))``; ``abi.encode`` of a ``bytes32`` is
  the 32 bytes themselves, so the leaf is ``keccak256(keccak256(value))``. In Solidity:
  ``keccak256(bytes.concat(keccak256(abi.encode(value))))``. Double hashing keeps a leaf from
  ever being confused with an inner node (second-preimage defence).
* Inner node: ``keccak256(min(a, b) ++ max(a, b))`` (commutative "sorted pair" hashing).
* Layout: a complete binary tree in a flat array of ``2n - 1`` nodes; node ``i`` has children
  ``2i + 1`` and ``2i + 2``, the root is node 0 and the leaves fill the *end* of the array.
  Leaves are sorted by hash ascending (stable) and the ``k``-th smallest leaf is stored at index
  ``2n - 2 - k``, i.e. the leaf section reads in descending order.
* Duplicates are kept, as in the reference: every input value gets its own leaf, so a value
  given twice appears twice. Looking a value up (``proof(value)``) resolves to its *last*
  occurrence in input order.

This module keeps what Hallmark itself needs: building a tree, its root, every value's proof,
and checking a proof. The reference's other features (multiproofs, its JSON dump format,
rendering) are reproduced by the tests alone (``tests/merkle/reference_tree.py``), for parity.

Proofs, roots and values are ``bytes`` (32 long) in this API; inputs may also be 0x-hex strings.

Why write it here: Python ports exist on PyPI (``murky-tree``, ``merkle-zeppelin``), but they are
young single-maintainer projects; this small copy (bytes32 leaves only) is pinned to the
JavaScript reference by the parity tests in ``tests/core/test_merkle.py`` instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from hallmark.core.hashing import keccak256 as keccak

__all__ = [
    "Bytes32Like",
    "EmptyTreeError",
    "InvalidProofError",
    "InvalidValueError",
    "LeafIndexError",
    "MerkleError",
    "StandardMerkleTree",
    "ValueNotInTreeError",
    "leaf_hash",
    "node_hash",
    "process_proof",
    "proof_nodes",
    "to_bytes32",
]

Bytes32Like = bytes | bytearray | memoryview | str
"""A 32-byte value: raw bytes, or a hex string of 64 digits (``0x`` prefix optional)."""

# --------------------------------------------------------------------------- errors


class MerkleError(ValueError):
    """Base class of every error raised by this module."""


class InvalidValueError(MerkleError):
    """An input that should be a 32-byte value (leaf value, root, proof node) is not one."""

    def __init__(self, what: str, value: object, reason: str) -> None:
        super().__init__(f"{what}: {reason} (got {value!r:.80})")
        self.what = what
        self.value = value
        self.reason = reason


class EmptyTreeError(MerkleError):
    """A tree needs at least one leaf."""

    def __init__(self) -> None:
        super().__init__("a Merkle tree needs at least one value")


class ValueNotInTreeError(MerkleError):
    """The value asked for is not a leaf of this tree."""

    def __init__(self, value: bytes) -> None:
        super().__init__(f"value 0x{value.hex()} is not in the tree")
        self.value = value


class LeafIndexError(MerkleError, IndexError):
    """A value index is outside ``0 <= index < len(tree)``."""

    def __init__(self, index: int, length: int) -> None:
        super().__init__(f"value index {index} out of range for a tree of {length} values")
        self.index = index
        self.length = length


class InvalidProofError(MerkleError):
    """A proof is malformed (not merely wrong: wrong proofs verify as False)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed proof: {reason}")
        self.reason = reason


# --------------------------------------------------------------------------- hashing


def to_bytes32(value: object, what: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
    elif isinstance(value, str):
        digits = value[2:] if value[:2] in ("0x", "0X") else value
        if len(digits) != 64:
            raise InvalidValueError(what, value, "expected 64 hex digits")
        try:
            raw = bytes.fromhex(digits)
        except ValueError:
            raise InvalidValueError(what, value, "not a hex string") from None
    else:
        raise InvalidValueError(
            what, value, f"expected bytes or hex str, not {type(value).__name__}"
        )
    if len(raw) != 32:
        raise InvalidValueError(what, value, f"expected 32 bytes, got {len(raw)}")
    return raw


def _hex(node: bytes) -> str:
    return "0x" + node.hex()


def leaf_hash(value: Bytes32Like) -> bytes:
    """Return the leaf node of ``value``: ``keccak256(keccak256(abi.encode(bytes32 value)))``.

    This is the formula the reference uses for ``leafEncoding ["bytes32"]`` and the one an
    on-chain verifier must use: ``keccak256(bytes.concat(keccak256(abi.encode(value))))``.
    """
    return keccak(keccak(to_bytes32(value, "value")))


def node_hash(a: bytes, b: bytes) -> bytes:
    """Return the parent of two nodes: keccak-256 of the pair concatenated in ascending order."""
    return keccak(a + b) if a <= b else keccak(b + a)


def proof_nodes(proof: Iterable[Bytes32Like], what: str) -> list[bytes]:
    if isinstance(proof, str | bytes | bytearray | memoryview):
        raise InvalidProofError(f"{what} must be a sequence of 32-byte nodes, not a single value")
    try:
        return [to_bytes32(node, f"{what}[{i}]") for i, node in enumerate(proof)]
    except InvalidValueError as exc:
        raise InvalidProofError(str(exc)) from exc


def process_proof(leaf: Bytes32Like, proof: Iterable[Bytes32Like]) -> bytes:
    """Fold a single-leaf proof over a *leaf node* (already hashed) and return the implied root."""
    node = to_bytes32(leaf, "leaf")
    for sibling in proof_nodes(proof, "proof"):
        node = node_hash(node, sibling)
    return node


# --------------------------------------------------------------------------- tree


class StandardMerkleTree:
    """An OpenZeppelin ``StandardMerkleTree`` with leaf encoding ``["bytes32"]``.

    Build with :meth:`of`; the constructor is internal. Instances are immutable.
    """

    __slots__ = ("_lookup", "_tree", "_tree_indices", "_values")

    def __init__(self, tree: list[bytes], values: list[bytes], tree_indices: list[int]) -> None:
        self._tree = tree
        self._values = values
        self._tree_indices = tree_indices
        # leaf hash -> value index; later duplicates overwrite earlier ones, like the reference.
        self._lookup = {tree[t]: v for v, t in enumerate(tree_indices)}

    # ----------------------------------------------------------------- construction

    @classmethod
    def of(cls, values: Iterable[Bytes32Like], *, sort_leaves: bool = True) -> Self:
        """Build the tree of ``values`` (32-byte record hashes), as ``StandardMerkleTree.of``.

        ``sort_leaves=False`` mirrors the reference option of the same name (keep input order);
        the default (sorted) is what Hallmark anchors.
        """
        items = [to_bytes32(value, f"values[{i}]") for i, value in enumerate(values)]
        if not items:
            raise EmptyTreeError
        hashes = [keccak(keccak(item)) for item in items]
        order = (
            sorted(range(len(items)), key=hashes.__getitem__) if sort_leaves else range(len(items))
        )
        n = len(items)
        size = 2 * n - 1
        tree: list[bytes] = [b""] * size
        tree_indices = [0] * n
        for position, value_index in enumerate(order):
            tree_index = size - 1 - position
            tree[tree_index] = hashes[value_index]
            tree_indices[value_index] = tree_index
        for i in range(size - 1 - n, -1, -1):
            left, right = tree[2 * i + 1], tree[2 * i + 2]
            tree[i] = keccak(left + right) if left <= right else keccak(right + left)
        return cls(tree, items, tree_indices)

    # ----------------------------------------------------------------- accessors

    @property
    def root(self) -> bytes:
        """The 32-byte Merkle root (what gets anchored on chain)."""
        return self._tree[0]

    @property
    def values(self) -> tuple[bytes, ...]:
        """The values in input order (value index ``i`` is ``values[i]``)."""
        return tuple(self._values)

    @property
    def nodes(self) -> tuple[bytes, ...]:
        """The flat node array (index 0 is the root), as in the reference's ``tree``."""
        return tuple(self._tree)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<StandardMerkleTree root={_hex(self.root)} values={len(self)}>"

    def index_of(self, value: Bytes32Like) -> int:
        """Return the value index of ``value`` (its last occurrence if duplicated)."""
        item = to_bytes32(value, "value")
        try:
            return self._lookup[keccak(keccak(item))]
        except KeyError:
            raise ValueNotInTreeError(item) from None

    def _value_index(self, index_or_value: int | Bytes32Like) -> int:
        if isinstance(index_or_value, int) and not isinstance(index_or_value, bool):
            if not 0 <= index_or_value < len(self._values):
                raise LeafIndexError(index_or_value, len(self._values))
            return index_or_value
        if isinstance(index_or_value, bool):
            raise InvalidValueError("value", index_or_value, "expected an index or a value")
        return self.index_of(index_or_value)

    # ----------------------------------------------------------------- proofs

    def _proof_at(self, tree_index: int) -> list[bytes]:
        tree = self._tree
        proof: list[bytes] = []
        while tree_index > 0:
            proof.append(tree[tree_index + 1 if tree_index % 2 else tree_index - 1])
            tree_index = (tree_index - 1) // 2
        return proof

    def proof(self, index_or_value: int | Bytes32Like) -> list[bytes]:
        """Return the proof for a value, given by value index or by value (``getProof``)."""
        return self._proof_at(self._tree_indices[self._value_index(index_or_value)])

    def proofs(self) -> list[list[bytes]]:
        """Return the proof of every value, in input order (cheaper than calling :meth:`proof`)."""
        return [self._proof_at(tree_index) for tree_index in self._tree_indices]

    # ----------------------------------------------------------------- verification

    @staticmethod
    def verify(root: Bytes32Like, value: Bytes32Like, proof: Iterable[Bytes32Like]) -> bool:
        """Return whether ``proof`` proves ``value`` under ``root``.

        A well-formed but wrong proof returns ``False``; a malformed one (nodes that are not 32
        bytes) raises :class:`InvalidProofError`.
        """
        expected = to_bytes32(root, "root")
        return process_proof(leaf_hash(value), proof) == expected
