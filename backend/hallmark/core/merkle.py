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
  occurrence in input order; a multiproof naming the same leaf twice is rejected.
* ``dump()``/``load()`` use the reference's JSON format (``"standard-v1"``), so either
  implementation can load a tree dumped by the other.

Proofs, roots and values are ``bytes`` (32 long) in this API; inputs may also be 0x-hex strings.

Why write it here: Python ports exist on PyPI (``murky-tree``, ``merkle-zeppelin``), but they are
young single-maintainer projects; this small copy (bytes32 leaves only) is pinned to the
JavaScript reference by the parity tests in ``tests/core/test_merkle.py`` instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final, Self

from hallmark.core.hashing import keccak256 as keccak

__all__ = [
    "Bytes32Like",
    "DuplicateLeafError",
    "EmptyTreeError",
    "InvalidProofError",
    "InvalidTreeDumpError",
    "InvalidValueError",
    "LeafIndexError",
    "MerkleError",
    "MultiProof",
    "StandardMerkleTree",
    "ValueNotInTreeError",
    "leaf_hash",
    "node_hash",
    "process_multiproof",
    "process_proof",
]

Bytes32Like = bytes | bytearray | memoryview | str
"""A 32-byte value: raw bytes, or a hex string of 64 digits (``0x`` prefix optional)."""

FORMAT: Final = "standard-v1"
LEAF_ENCODING: Final = ("bytes32",)


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


class DuplicateLeafError(MerkleError):
    """A multiproof was asked for the same leaf more than once."""

    def __init__(self, tree_index: int) -> None:
        super().__init__(f"cannot prove the same leaf twice (tree index {tree_index})")
        self.tree_index = tree_index


class InvalidProofError(MerkleError):
    """A proof or multiproof is malformed (not merely wrong: wrong proofs verify as False)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed proof: {reason}")
        self.reason = reason


class InvalidTreeDumpError(MerkleError):
    """Data given to :meth:`StandardMerkleTree.load` is not a valid ``standard-v1`` bytes32 tree."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid tree dump: {reason}")
        self.reason = reason


# --------------------------------------------------------------------------- hashing


def _to_bytes32(value: object, what: str) -> bytes:
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
    return keccak(keccak(_to_bytes32(value, "value")))


def node_hash(a: bytes, b: bytes) -> bytes:
    """Return the parent of two nodes: keccak-256 of the pair concatenated in ascending order."""
    return keccak(a + b) if a <= b else keccak(b + a)


def _proof_nodes(proof: Iterable[Bytes32Like], what: str) -> list[bytes]:
    if isinstance(proof, str | bytes | bytearray | memoryview):
        raise InvalidProofError(f"{what} must be a sequence of 32-byte nodes, not a single value")
    try:
        return [_to_bytes32(node, f"{what}[{i}]") for i, node in enumerate(proof)]
    except InvalidValueError as exc:
        raise InvalidProofError(str(exc)) from exc


def process_proof(leaf: Bytes32Like, proof: Iterable[Bytes32Like]) -> bytes:
    """Fold a single-leaf proof over a *leaf node* (already hashed) and return the implied root."""
    node = _to_bytes32(leaf, "leaf")
    for sibling in _proof_nodes(proof, "proof"):
        node = node_hash(node, sibling)
    return node


def process_multiproof(
    leaves: Iterable[Bytes32Like], proof: Iterable[Bytes32Like], proof_flags: Iterable[bool]
) -> bytes:
    """Return the root implied by a multiproof over *leaf nodes* (already hashed).

    Same algorithm and checks as the reference ``processMultiProof`` (and OpenZeppelin's
    ``MerkleProof.multiProofVerify``). Raises :class:`InvalidProofError` if the parts do not fit
    together.
    """
    leaf_nodes = _proof_nodes(leaves, "leaves")
    proof_nodes = _proof_nodes(proof, "proof")
    flags = list(proof_flags)
    if not all(isinstance(flag, bool) for flag in flags):
        raise InvalidProofError("proof flags must be booleans")
    if len(proof_nodes) < flags.count(False):
        raise InvalidProofError("fewer proof nodes than false proof flags")
    if len(leaf_nodes) + len(proof_nodes) != len(flags) + 1:
        raise InvalidProofError(
            f"{len(leaf_nodes)} leaves + {len(proof_nodes)} proof nodes "
            f"do not fit {len(flags)} proof flags"
        )
    stack = deque(leaf_nodes)
    remaining = deque(proof_nodes)
    for flag in flags:
        if not stack or (flag and len(stack) < 2):
            raise InvalidProofError("proof flags consume more leaves than given")
        a = stack.popleft()
        b = stack.popleft() if flag else remaining.popleft()
        stack.append(node_hash(a, b))
    if len(stack) + len(remaining) != 1:
        raise InvalidProofError("multiproof does not reduce to a single root")
    return stack.pop() if stack else remaining.popleft()


# --------------------------------------------------------------------------- multiproof


@dataclass(frozen=True, slots=True)
class MultiProof:
    """Proof that several values are in a tree at once.

    ``leaves`` are the proven *values* (not leaf hashes), in the order the verifier consumes
    them; ``proof`` are the extra nodes and ``proof_flags`` the reference's consumption flags.
    """

    leaves: tuple[bytes, ...]
    proof: tuple[bytes, ...]
    proof_flags: tuple[bool, ...]

    def to_json(self) -> dict[str, Any]:
        """Return the reference's JSON shape (``leaves`` as ``[[value]]``, ``proofFlags``)."""
        return {
            "leaves": [[_hex(value)] for value in self.leaves],
            "proof": [_hex(node) for node in self.proof],
            "proofFlags": list(self.proof_flags),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse the reference's JSON multiproof (leaves given as ``[value]`` or ``value``)."""
        try:
            raw_leaves = data["leaves"]
            raw_proof = data["proof"]
            raw_flags = data["proofFlags"]
        except (KeyError, TypeError) as exc:
            raise InvalidProofError(f"missing multiproof field {exc}") from None
        leaves: list[bytes] = []
        for i, leaf in enumerate(raw_leaves):
            item = leaf[0] if isinstance(leaf, list) and len(leaf) == 1 else leaf
            try:
                leaves.append(_to_bytes32(item, f"leaves[{i}]"))
            except InvalidValueError as exc:
                raise InvalidProofError(str(exc)) from exc
        flags = list(raw_flags)
        if not all(isinstance(flag, bool) for flag in flags):
            raise InvalidProofError("proofFlags must be booleans")
        return cls(tuple(leaves), tuple(_proof_nodes(raw_proof, "proof")), tuple(flags))


# --------------------------------------------------------------------------- tree


def _sibling(i: int) -> int:
    return i + 1 if i % 2 else i - 1


class StandardMerkleTree:
    """An OpenZeppelin ``StandardMerkleTree`` with leaf encoding ``["bytes32"]``.

    Build with :meth:`of` or :meth:`load`; the constructor is internal. Instances are immutable.
    """

    __slots__ = ("_lookup", "_tree", "_tree_indices", "_value_at_leaf", "_values")

    def __init__(self, tree: list[bytes], values: list[bytes], tree_indices: list[int]) -> None:
        self._tree = tree
        self._values = values
        self._tree_indices = tree_indices
        # leaf hash -> value index; later duplicates overwrite earlier ones, like the reference.
        self._lookup = {tree[t]: v for v, t in enumerate(tree_indices)}
        self._value_at_leaf = {t: v for v, t in enumerate(tree_indices)}

    # ----------------------------------------------------------------- construction

    @classmethod
    def of(cls, values: Iterable[Bytes32Like], *, sort_leaves: bool = True) -> Self:
        """Build the tree of ``values`` (32-byte record hashes), as ``StandardMerkleTree.of``.

        ``sort_leaves=False`` mirrors the reference option of the same name (keep input order);
        the default (sorted) is what on-chain multiproof verification expects.
        """
        items = [_to_bytes32(value, f"values[{i}]") for i, value in enumerate(values)]
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

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Self:
        """Load a tree from :meth:`dump` output, or from the reference's ``tree.dump()``.

        Validates everything (format, encoding, every node hash, every value's leaf) and raises
        :class:`InvalidTreeDumpError` on the first problem.
        """
        if not isinstance(data, Mapping):
            raise InvalidTreeDumpError(f"expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise InvalidTreeDumpError(f"unknown format {data.get('format')!r}")
        encoding = data.get("leafEncoding")
        if not isinstance(encoding, list | tuple) or tuple(encoding) != LEAF_ENCODING:
            raise InvalidTreeDumpError(f"leafEncoding must be ['bytes32'], got {encoding!r}")
        raw_tree, raw_values = data.get("tree"), data.get("values")
        if not isinstance(raw_tree, list) or not isinstance(raw_values, list):
            raise InvalidTreeDumpError("'tree' and 'values' must be lists")
        if not raw_tree or not raw_values:
            raise InvalidTreeDumpError("empty tree")
        try:
            tree = [_to_bytes32(node, f"tree[{i}]") for i, node in enumerate(raw_tree)]
        except InvalidValueError as exc:
            raise InvalidTreeDumpError(str(exc)) from exc
        size = len(tree)
        n = (size + 1) // 2
        if size % 2 == 0:
            raise InvalidTreeDumpError(f"a complete tree has an odd number of nodes, got {size}")
        for i in range(size - 1 - n, -1, -1):
            if tree[i] != node_hash(tree[2 * i + 1], tree[2 * i + 2]):
                raise InvalidTreeDumpError(f"node {i} is not the hash of its children")
        if len(raw_values) != n:
            raise InvalidTreeDumpError(f"{len(raw_values)} values for a tree of {n} leaves")
        values: list[bytes] = []
        tree_indices: list[int] = []
        seen: set[int] = set()
        for i, entry in enumerate(raw_values):
            if not isinstance(entry, Mapping):
                raise InvalidTreeDumpError(f"values[{i}] is not an object")
            value_field, tree_index = entry.get("value"), entry.get("treeIndex")
            if not isinstance(value_field, list) or len(value_field) != 1:
                raise InvalidTreeDumpError(f"values[{i}].value must be a one-element list")
            try:
                value = _to_bytes32(value_field[0], f"values[{i}].value[0]")
            except InvalidValueError as exc:
                raise InvalidTreeDumpError(str(exc)) from exc
            if not isinstance(tree_index, int) or isinstance(tree_index, bool):
                raise InvalidTreeDumpError(f"values[{i}].treeIndex must be an integer")
            if not size - n <= tree_index < size:
                raise InvalidTreeDumpError(f"values[{i}].treeIndex {tree_index} is not a leaf")
            if tree_index in seen:
                raise InvalidTreeDumpError(f"values[{i}].treeIndex {tree_index} used twice")
            if tree[tree_index] != keccak(keccak(value)):
                raise InvalidTreeDumpError(f"values[{i}] does not hash to tree[{tree_index}]")
            seen.add(tree_index)
            values.append(value)
            tree_indices.append(tree_index)
        return cls(tree, values, tree_indices)

    def dump(self) -> dict[str, Any]:
        """Return the tree in the reference's ``standard-v1`` JSON format (``json.dumps``-able)."""
        return {
            "format": FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "tree": [_hex(node) for node in self._tree],
            "values": [
                {"value": [_hex(value)], "treeIndex": tree_index}
                for value, tree_index in zip(self._values, self._tree_indices, strict=True)
            ],
        }

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
        item = _to_bytes32(value, "value")
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

    def multiproof(self, indices_or_values: Iterable[int | Bytes32Like]) -> MultiProof:
        """Return a multiproof for several values at once (``getMultiProof``).

        Items may be value indices or values. An empty selection yields the reference's
        degenerate proof ``(leaves=(), proof=(root,), flags=())``. Raises
        :class:`DuplicateLeafError` if the same leaf is named twice.
        """
        indices = sorted(
            (self._tree_indices[self._value_index(item)] for item in indices_or_values),
            reverse=True,
        )
        for previous, current in pairwise(indices):
            if previous == current:
                raise DuplicateLeafError(current)
        tree = self._tree
        stack = deque(indices)
        proof: list[bytes] = []
        flags: list[bool] = []
        while stack and stack[0] > 0:
            j = stack.popleft()
            sibling = _sibling(j)
            if stack and stack[0] == sibling:
                flags.append(True)
                stack.popleft()
            else:
                flags.append(False)
                proof.append(tree[sibling])
            stack.append((j - 1) // 2)
        if not indices:
            proof.append(tree[0])
        leaves = tuple(self._values[self._value_at_leaf[i]] for i in indices)
        return MultiProof(leaves, tuple(proof), tuple(flags))

    # ----------------------------------------------------------------- verification

    @staticmethod
    def verify(root: Bytes32Like, value: Bytes32Like, proof: Iterable[Bytes32Like]) -> bool:
        """Return whether ``proof`` proves ``value`` under ``root``.

        A well-formed but wrong proof returns ``False``; a malformed one (nodes that are not 32
        bytes) raises :class:`InvalidProofError`.
        """
        expected = _to_bytes32(root, "root")
        return process_proof(leaf_hash(value), proof) == expected

    @staticmethod
    def verify_multiproof(root: Bytes32Like, multiproof: MultiProof) -> bool:
        """Return whether ``multiproof`` proves all its values under ``root``.

        Raises :class:`InvalidProofError` if the multiproof is malformed.
        """
        expected = _to_bytes32(root, "root")
        leaves = [leaf_hash(value) for value in multiproof.leaves]
        return process_multiproof(leaves, multiproof.proof, multiproof.proof_flags) == expected

    # ----------------------------------------------------------------- display

    def render(self) -> str:
        """Return the reference's ``render()`` text: one line per node, drawn as a tree."""
        tree = self._tree
        stack: list[tuple[int, list[int]]] = [(0, [])]
        lines: list[str] = []
        while stack:
            i, path = stack.pop()
            prefix = "".join(("   ", "│  ")[p] for p in path[:-1])
            prefix += "".join(("└─ ", "├─ ")[p] for p in path[-1:])
            lines.append(f"{prefix}{i}) {_hex(tree[i])}")
            if 2 * i + 2 < len(tree):
                stack.append((2 * i + 2, [*path, 0]))
                stack.append((2 * i + 1, [*path, 1]))
        return "\n".join(lines)
