"""StandardMerkleTree: properties, error cases and parity with @openzeppelin/merkle-tree (Node)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.merkle.reference_tree import (
    DuplicateLeafError,
    InvalidTreeDumpError,
    MultiProof,
    ReferenceTree,
    process_multiproof,
)

from hallmark.core.merkle import (
    EmptyTreeError,
    InvalidProofError,
    InvalidValueError,
    LeafIndexError,
    MerkleError,
    ValueNotInTreeError,
    leaf_hash,
    node_hash,
    process_proof,
)

REPO = Path(__file__).resolve().parents[2]
PARITY_SCRIPT = REPO / "tests" / "merkle" / "parity.mjs"
REFERENCE_PACKAGE = REPO / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"

A, B, C = (bytes([n]) * 32 for n in (0x11, 0x22, 0x33))
# Produced by the reference: ReferenceTree.of([[A], [B], [C]], ["bytes32"]).
ABC_ROOT = bytes.fromhex("a9b9d19e00269b8e357d6b17ae987e7f306e63b8e77615ce706ec522974d2fea")


def _hex(node: bytes) -> str:
    return "0x" + node.hex()


def _hexes(nodes: list[bytes]) -> list[str]:
    return [_hex(node) for node in nodes]


# --------------------------------------------------------------------------- hashing


def test_leaf_hash_is_double_keccak_of_abi_encoded_bytes32() -> None:
    value = keccak(b"record")
    assert leaf_hash(value) == keccak(keccak(abi_encode(["bytes32"], [value])))
    assert leaf_hash(_hex(value)) == leaf_hash(value.hex().upper()) == leaf_hash(value)


def test_node_hash_is_commutative_sorted_pair() -> None:
    low, high = sorted([keccak(b"x"), keccak(b"y")])
    assert node_hash(low, high) == node_hash(high, low) == keccak(low + high)


def test_known_reference_root() -> None:
    tree = ReferenceTree.of([A, B, C])
    assert tree.root == ABC_ROOT
    assert tree.dump()["values"] == [
        {"value": [_hex(A)], "treeIndex": 3},
        {"value": [_hex(B)], "treeIndex": 4},
        {"value": [_hex(C)], "treeIndex": 2},
    ]
    assert tree.render().splitlines()[1].startswith("├─ 1) 0x")


def test_single_value_tree() -> None:
    tree = ReferenceTree.of([A])
    assert tree.root == leaf_hash(A)
    assert tree.proof(0) == tree.proof(A) == []
    assert ReferenceTree.verify(tree.root, A, [])
    assert tree.multiproof([A]) == MultiProof((A,), (), ())
    assert tree.render() == f"0) {_hex(tree.root)}"


def test_empty_multiproof_is_the_root_like_the_reference() -> None:
    tree = ReferenceTree.of([A, B, C])
    proof = tree.multiproof([])
    assert proof == MultiProof((), (tree.root,), ())
    assert ReferenceTree.verify_multiproof(tree.root, proof)


def test_duplicates_are_kept_and_lookup_takes_the_last() -> None:
    tree = ReferenceTree.of([A, B, A])
    assert len(tree) == 3
    assert len(tree.nodes) == 5
    assert tree.index_of(A) == 2
    assert tree.proof(A) == tree.proof(2) != tree.proof(0)
    assert all(ReferenceTree.verify(tree.root, A, tree.proof(i)) for i in (0, 2))
    assert ReferenceTree.verify_multiproof(tree.root, tree.multiproof([0, 2]))
    with pytest.raises(DuplicateLeafError):
        tree.multiproof([A, A])
    with pytest.raises(DuplicateLeafError):
        tree.multiproof([1, B])


def test_unsorted_tree_keeps_input_order() -> None:
    tree = ReferenceTree.of([A, B, C], sort_leaves=False)
    assert [entry["treeIndex"] for entry in tree.dump()["values"]] == [4, 3, 2]
    assert ReferenceTree.load(tree.dump()).root == tree.root


def test_10000_values_give_a_short_proof_for_each_that_verifies() -> None:
    """The size a batch reaches; how long building it takes is measured in bench/merkle.py."""
    values = [keccak(i.to_bytes(4, "big")) for i in range(10_000)]
    tree = ReferenceTree.of(values)
    proofs = tree.proofs()
    assert len(proofs) == 10_000
    assert all(13 <= len(proof) <= 14 for proof in proofs)  # ceil(log2(10,000)) = 14
    assert all(ReferenceTree.verify(tree.root, values[i], proof) for i, proof in enumerate(proofs))
    assert not ReferenceTree.verify(tree.root, values[1], proofs[0])


# --------------------------------------------------------------------------- errors


def test_errors_are_value_errors_with_data() -> None:
    tree = ReferenceTree.of([A, B, C])
    with pytest.raises(EmptyTreeError):
        ReferenceTree.of([])
    with pytest.raises(ValueNotInTreeError) as missing:
        tree.proof(bytes(32))
    assert missing.value.value == bytes(32)
    with pytest.raises(LeafIndexError) as out_of_range:
        tree.proof(3)
    assert (out_of_range.value.index, out_of_range.value.length) == (3, 3)
    assert isinstance(out_of_range.value, IndexError)
    with pytest.raises(LeafIndexError):
        tree.multiproof([-1])
    with pytest.raises(InvalidValueError):
        tree.proof(True)
    with pytest.raises(InvalidValueError, match="expected 32 bytes"):
        ReferenceTree.of([b"short"])
    with pytest.raises(InvalidValueError, match="64 hex digits"):
        ReferenceTree.of(["0x1234"])
    with pytest.raises(InvalidValueError, match="not a hex string"):
        ReferenceTree.of(["zz" * 32])
    with pytest.raises(InvalidValueError) as bad_type:
        ReferenceTree.of([12])  # type: ignore[list-item]
    assert bad_type.value.what == "values[0]"
    for error in (EmptyTreeError, ValueNotInTreeError, InvalidProofError, InvalidTreeDumpError):
        assert issubclass(error, MerkleError)
    assert issubclass(MerkleError, ValueError)


def test_malformed_proofs_raise_and_wrong_ones_are_false() -> None:
    tree = ReferenceTree.of([A, B, C])
    proof = tree.proof(A)
    with pytest.raises(InvalidProofError, match=r"proof\[0\]"):
        ReferenceTree.verify(tree.root, A, [proof[0][:31], *proof[1:]])
    with pytest.raises(InvalidProofError, match="single value"):
        ReferenceTree.verify(tree.root, A, proof[0])  # type: ignore[arg-type]
    assert not ReferenceTree.verify(tree.root, A, proof[:1])
    assert not ReferenceTree.verify(tree.root, A, [*proof, proof[0]])
    with pytest.raises(InvalidValueError):
        ReferenceTree.verify(b"\x00", A, proof)


def test_malformed_multiproofs_raise() -> None:
    tree = ReferenceTree.of([A, B, C, keccak(b"d")])
    good = tree.multiproof([A, C])
    leaves = [leaf_hash(v) for v in good.leaves]
    with pytest.raises(InvalidProofError, match="do not fit"):
        process_multiproof(leaves, good.proof, (*good.proof_flags, True))
    with pytest.raises(InvalidProofError, match="fewer proof nodes"):
        process_multiproof(leaves, (), [False, False, False])
    with pytest.raises(InvalidProofError, match="booleans"):
        process_multiproof(leaves, good.proof, [1] * len(good.proof_flags))  # type: ignore[list-item]
    with pytest.raises(InvalidProofError, match="consume more leaves"):
        process_multiproof([leaves[0]], [A, B], [True, False])
    with pytest.raises(InvalidProofError, match="missing"):
        MultiProof.from_json({"leaves": []})
    assert MultiProof.from_json(good.to_json()) == good
    assert process_proof(leaf_hash(A), tree.proof(A)) == tree.root


def _valid_dump() -> dict[str, Any]:
    return ReferenceTree.of([A, B, C]).dump()


def _tamper(change: str) -> dict[str, Any]:
    dump = _valid_dump()
    if change == "format":
        dump["format"] = "simple-v1"
    elif change == "encoding":
        dump["leafEncoding"] = ["address"]
    elif change == "node":
        dump["tree"][1] = _hex(bytes(32))
    elif change == "even":
        dump["tree"].append(dump["tree"][-1])
    elif change == "value":
        dump["values"][0]["value"] = [_hex(bytes(32))]
    elif change == "not-a-leaf":
        dump["values"][0]["treeIndex"] = 1
    elif change == "reused-leaf":
        dump["values"][1]["treeIndex"] = dump["values"][0]["treeIndex"]
    elif change == "missing-value":
        dump["values"].pop()
    elif change == "bad-hex":
        dump["tree"][0] = "0x1234"
    elif change == "bool-index":
        dump["values"][0]["treeIndex"] = True
    elif change == "empty":
        dump["tree"], dump["values"] = [], []
    return dump


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ("format", "unknown format"),
        ("encoding", "leafEncoding"),
        ("node", "node 1 is not the hash"),
        ("even", "odd number"),
        ("value", "does not hash"),
        ("not-a-leaf", "is not a leaf"),
        ("reused-leaf", "used twice"),
        ("missing-value", "2 values for a tree of 3"),
        ("bad-hex", r"tree\[0\]: expected 64 hex digits"),
        ("bool-index", "must be an integer"),
        ("empty", "empty tree"),
    ],
)
def test_load_rejects_invalid_dumps(change: str, fragment: str) -> None:
    with pytest.raises(InvalidTreeDumpError, match=fragment):
        ReferenceTree.load(_tamper(change))


# --------------------------------------------------------------------------- properties

_values = st.binary(min_size=32, max_size=32)
# Lists with occasional duplicates: draw from a small pool half of the time.
_value_lists = st.lists(_values, min_size=1, max_size=40) | st.lists(
    st.sampled_from([A, B, C, keccak(b"d")]), min_size=1, max_size=12
)


@settings(deadline=None)
@given(_value_lists, _values)
def test_every_proof_verifies_and_only_for_its_value_and_root(
    values: list[bytes], other: bytes
) -> None:
    tree = ReferenceTree.of(values)
    for index, (value, proof) in enumerate(zip(values, tree.proofs(), strict=True)):
        assert proof == tree.proof(index)
        assert ReferenceTree.verify(tree.root, value, proof)
        if other != value:
            assert not ReferenceTree.verify(tree.root, other, proof)
        if other != tree.root:
            assert not ReferenceTree.verify(other, value, proof)


@settings(deadline=None)
@given(_value_lists, st.data())
def test_multiproofs_verify(values: list[bytes], data: st.DataObject) -> None:
    tree = ReferenceTree.of(values)
    chosen = data.draw(st.sets(st.integers(0, len(values) - 1)), label="indices")
    proof = tree.multiproof(sorted(chosen))
    assert sorted(proof.leaves) == sorted(values[i] for i in chosen)
    assert ReferenceTree.verify_multiproof(tree.root, proof)
    assert ReferenceTree.verify_multiproof(tree.root, MultiProof.from_json(proof.to_json()))
    if proof.leaves:
        stranger = keccak(b"".join(values))  # not one of the values
        forged = MultiProof((stranger, *proof.leaves[1:]), proof.proof, proof.proof_flags)
        assert not ReferenceTree.verify_multiproof(tree.root, forged)


@settings(deadline=None)
@given(_value_lists, st.booleans())
def test_dump_load_round_trip(values: list[bytes], sort_leaves: bool) -> None:
    tree = ReferenceTree.of(values, sort_leaves=sort_leaves)
    loaded = ReferenceTree.load(json.loads(json.dumps(tree.dump())))
    assert loaded.root == tree.root
    assert loaded.values == tree.values == tuple(values)
    assert loaded.nodes == tree.nodes
    assert loaded.proofs() == tree.proofs()
    assert loaded.dump() == tree.dump()


# --------------------------------------------------------------------------- parity with Node


def _run_reference(request: dict[str, Any]) -> dict[str, Any]:
    """Run tests/merkle/parity.mjs on ``request``; fail (never skip) if Node is not usable."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` is not on PATH: the Merkle parity test needs Node >= 20 (and `npm ci`)")
    if not REFERENCE_PACKAGE.is_file():
        pytest.fail("@openzeppelin/merkle-tree is not installed in node_modules: run `npm ci`")
    pinned = json.loads((REPO / "package.json").read_text())["dependencies"]
    installed = json.loads(REFERENCE_PACKAGE.read_text())["version"]
    if installed != pinned["@openzeppelin/merkle-tree"]:
        pytest.fail(
            f"node_modules has @openzeppelin/merkle-tree {installed}, package.json pins "
            f"{pinned['@openzeppelin/merkle-tree']}: run `npm ci`"
        )
    completed = subprocess.run(
        [node, str(PARITY_SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"parity.mjs failed ({completed.returncode}):\n{completed.stderr}")
    response: dict[str, Any] = json.loads(completed.stdout)
    return response


def _vector(values: list[bytes], subset: list[int], *, sort_leaves: bool = True) -> dict[str, Any]:
    return {"values": _hexes(values), "multiproof": subset, "sortLeaves": sort_leaves}


def _assert_parity(vectors: list[dict[str, Any]]) -> None:
    """Both directions: same outputs, each side verifies and loads what the other produced."""
    built = _run_reference({"build": vectors})["build"]
    trees = []
    for vector, reference in zip(vectors, built, strict=True):
        assert "error" not in reference, reference
        tree = ReferenceTree.of(vector["values"], sort_leaves=vector["sortLeaves"])
        trees.append(tree)
        assert _hex(tree.root) == reference["root"]
        assert [_hexes(p) for p in tree.proofs()] == reference["proofs"]
        assert [_hexes(tree.proof(v)) for v in vector["values"]] == reference["proofsByValue"]
        assert tree.multiproof(vector["multiproof"]).to_json() == reference["multiproof"]
        assert tree.dump() == reference["dump"]
        assert tree.render() == reference["render"]
        # Python verifies the reference's proofs and loads the reference's dump.
        root = reference["root"]
        assert all(
            ReferenceTree.verify(root, value, proof)
            for value, proof in zip(vector["values"], reference["proofs"], strict=True)
        )
        multiproof = MultiProof.from_json(reference["multiproof"])
        assert ReferenceTree.verify_multiproof(root, multiproof)
        loaded = ReferenceTree.load(reference["dump"])
        assert loaded.root == tree.root
        assert loaded.proofs() == tree.proofs()

    # The reference verifies Python's proofs (and rejects a wrong one) and loads Python's dumps.
    verify: list[dict[str, Any]] = []
    expected: list[bool] = []
    for tree in trees:
        root = _hex(tree.root)
        for value, proof in zip(tree.values, tree.proofs(), strict=True):
            verify.append({"root": root, "value": _hex(value), "proof": _hexes(proof)})
            expected.append(True)
        stranger = _hex(keccak(b"not in the tree" + tree.root))
        verify.append({"root": root, "value": stranger, "proof": _hexes(tree.proof(0))})
        expected.append(False)
    multiproofs = [
        {"root": _hex(tree.root), "multiproof": tree.multiproof(v["multiproof"]).to_json()}
        for tree, v in zip(trees, vectors, strict=True)
    ]
    checked = _run_reference(
        {
            "verify": verify,
            "verifyMultiproof": multiproofs,
            "load": [tree.dump() for tree in trees],
        }
    )
    assert checked["verify"] == expected
    assert checked["verifyMultiproof"] == [True] * len(trees)
    for tree, loaded in zip(trees, checked["load"], strict=True):
        assert loaded == {"root": _hex(tree.root), "proofs": [_hexes(p) for p in tree.proofs()]}


PARITY_SIZES = [1, 2, 3, 4, 5, 7, 8, 16, 33, 100, 1000]


def test_parity_with_reference_on_fixed_sizes() -> None:
    rng = random.Random(8785)
    vectors = []
    for size in PARITY_SIZES:
        values = [rng.randbytes(32) for _ in range(size)]
        subset = sorted(rng.sample(range(size), k=rng.randint(0, min(size, 40))))
        vectors.append(_vector(values, subset))
    pool = [rng.randbytes(32) for _ in range(3)]
    vectors.append(_vector([pool[0], pool[1], pool[0], pool[2], pool[0]], [0, 2, 3]))
    vectors.append(_vector([rng.randbytes(32) for _ in range(9)], [1, 5], sort_leaves=False))
    _assert_parity(vectors)


@settings(deadline=None, max_examples=8)
@given(
    st.lists(
        st.tuples(_value_lists, st.sets(st.integers(0, 39), max_size=8), st.booleans()),
        min_size=1,
        max_size=6,
    )
)
def test_parity_with_reference_on_drawn_vectors(
    drawn: list[tuple[list[bytes], set[int], bool]],
) -> None:
    _assert_parity(
        [
            _vector(values, sorted(i for i in subset if i < len(values)), sort_leaves=sort_leaves)
            for values, subset, sort_leaves in drawn
        ]
    )


def test_reference_errors_match_ours() -> None:
    built = _run_reference({"build": [{"values": []}, _vector([A, B, A], [0, 2])]})["build"]
    assert built[0] == {"error": "Expected non-zero number of leaves"}
    with pytest.raises(EmptyTreeError):
        ReferenceTree.of([])
    # Duplicate values: both sides keep three leaves and resolve a lookup to the last one.
    tree = ReferenceTree.of([A, B, A])
    assert built[1]["proofsByValue"][0] == _hexes(tree.proof(2)) == built[1]["proofs"][2]
