"""The reference's features Hallmark itself does not use, for the parity tests: multiproofs,
the `standard-v1` JSON dump format and `render()` of @openzeppelin/merkle-tree 1.0.8.

`ReferenceTree` is a `hallmark.core.merkle.StandardMerkleTree` with these added, so the tests
check the production tree and the reference's whole interface against the JavaScript package
(`tests/merkle/parity.mjs`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final, Self

from hallmark.core.hashing import keccak256 as keccak
from hallmark.core.merkle import (
    Bytes32Like,
    InvalidProofError,
    InvalidValueError,
    MerkleError,
    StandardMerkleTree,
    leaf_hash,
    node_hash,
    proof_nodes,
    to_bytes32,
)

FORMAT: Final = "standard-v1"
LEAF_ENCODING: Final = ("bytes32",)


def _hex(node: bytes) -> str:
    return "0x" + node.hex()


class DuplicateLeafError(MerkleError):
    """A multiproof was asked for the same leaf more than once."""

    def __init__(self, tree_index: int) -> None:
        super().__init__(f"cannot prove the same leaf twice (tree index {tree_index})")
        self.tree_index = tree_index


class InvalidTreeDumpError(MerkleError):
    """Data given to :meth:`ReferenceTree.load` is not a valid ``standard-v1`` bytes32 tree."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid tree dump: {reason}")
        self.reason = reason


def process_multiproof(
    leaves: Iterable[Bytes32Like], proof: Iterable[Bytes32Like], proof_flags: Iterable[bool]
) -> bytes:
    """Return the root implied by a multiproof over *leaf nodes* (already hashed).

    Same algorithm and checks as the reference ``processMultiProof`` (and OpenZeppelin's
    ``MerkleProof.multiProofVerify``). Raises :class:`InvalidProofError` if the parts do not fit
    together.
    """
    leaf_nodes = proof_nodes(leaves, "leaves")
    extra_nodes = proof_nodes(proof, "proof")
    flags = list(proof_flags)
    if not all(isinstance(flag, bool) for flag in flags):
        raise InvalidProofError("proof flags must be booleans")
    if len(extra_nodes) < flags.count(False):
        raise InvalidProofError("fewer proof nodes than false proof flags")
    if len(leaf_nodes) + len(extra_nodes) != len(flags) + 1:
        raise InvalidProofError(
            f"{len(leaf_nodes)} leaves + {len(extra_nodes)} proof nodes "
            f"do not fit {len(flags)} proof flags"
        )
    stack = deque(leaf_nodes)
    remaining = deque(extra_nodes)
    for flag in flags:
        if not stack or (flag and len(stack) < 2):
            raise InvalidProofError("proof flags consume more leaves than given")
        a = stack.popleft()
        b = stack.popleft() if flag else remaining.popleft()
        stack.append(node_hash(a, b))
    if len(stack) + len(remaining) != 1:
        raise InvalidProofError("multiproof does not reduce to a single root")
    return stack.pop() if stack else remaining.popleft()


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
                leaves.append(to_bytes32(item, f"leaves[{i}]"))
            except InvalidValueError as exc:
                raise InvalidProofError(str(exc)) from exc
        flags = list(raw_flags)
        if not all(isinstance(flag, bool) for flag in flags):
            raise InvalidProofError("proofFlags must be booleans")
        return cls(tuple(leaves), tuple(proof_nodes(raw_proof, "proof")), tuple(flags))


def _sibling(i: int) -> int:
    return i + 1 if i % 2 else i - 1


class ReferenceTree(StandardMerkleTree):
    """A StandardMerkleTree with the reference's multiproofs, JSON dump and rendering."""

    def _value_at_leaf(self) -> dict[int, int]:
        return {t: v for v, t in enumerate(self._tree_indices)}

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
            tree = [to_bytes32(node, f"tree[{i}]") for i, node in enumerate(raw_tree)]
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
                value = to_bytes32(value_field[0], f"values[{i}].value[0]")
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
        leaves = tuple(self._values[self._value_at_leaf()[i]] for i in indices)
        return MultiProof(leaves, tuple(proof), tuple(flags))

    @staticmethod
    def verify_multiproof(root: Bytes32Like, multiproof: MultiProof) -> bool:
        """Return whether ``multiproof`` proves all its values under ``root``.

        Raises :class:`InvalidProofError` if the multiproof is malformed.
        """
        expected = to_bytes32(root, "root")
        leaves = [leaf_hash(value) for value in multiproof.leaves]
        return process_multiproof(leaves, multiproof.proof, multiproof.proof_flags) == expected

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
