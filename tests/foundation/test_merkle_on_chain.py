"""Merkle parity on chain: roots and proofs from Python and from @openzeppelin/merkle-tree verify
with the ledger's verifyRecord / verifyRecords, and nothing else does."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

from tests.merkle.reference_tree import ReferenceTree

from hallmark.config import PROJECT_ROOT, Settings
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_organisation, organisation_account

PARITY = PROJECT_ROOT / "tests" / "merkle" / "parity.mjs"


def _reference(values: list[str], multiproof: list[int]) -> dict[str, object]:
    request = {"build": [{"values": values, "multiproof": multiproof}]}
    result = subprocess.run(
        ["node", str(PARITY)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    built: dict[str, object] = json.loads(result.stdout)["build"][0]
    return built


def test_python_and_reference_proofs_verify_on_chain(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    runtime = start_runtime(make_settings())
    assert runtime.sessions is not None
    assert runtime.chain is not None
    supplier = create_organisation(
        sessions=runtime.sessions,
        chain=runtime.chain_access(),
        name="Parity Refinery",
        kind="supplier",
    )
    values = ["0x" + os.urandom(32).hex() for _ in range(37)]
    tree = ReferenceTree.of(values)
    reference = _reference(values, multiproof=[0, 5, 36])
    assert reference["root"] == "0x" + tree.root.hex()

    ledger = runtime.ledger
    account = organisation_account(supplier, runtime.settings.passphrase)
    runtime.chain.send_function(
        account, ledger.address, ledger.abi, "anchor", [tree.root, 0, len(values)]
    )
    anchorer, kind = supplier.account_address, 0  # MaterialLot

    def verify(root: bytes, value: bytes, proof: list[bytes]) -> Any:
        return ledger.contract.functions.verifyRecord(anchorer, root, kind, value, proof)

    reference_proofs = reference["proofs"]
    assert isinstance(reference_proofs, list)
    for index, value in enumerate(values):
        python_proof = tree.proof(index)
        assert verify(tree.root, bytes.fromhex(value[2:]), python_proof).call()
        assert verify(tree.root, bytes.fromhex(value[2:]), reference_proofs[index]).call()
    # A proof of one record does not prove another, nor the same record under another root.
    assert not verify(tree.root, bytes.fromhex(values[1][2:]), tree.proof(0)).call()
    other = ReferenceTree.of(values[:-1])
    assert not verify(other.root, bytes.fromhex(values[0][2:]), other.proof(0)).call()

    multi = reference["multiproof"]
    assert isinstance(multi, dict)
    ours = tree.multiproof([values[0], values[5], values[36]])
    assert ours.to_json() == multi
    assert ledger.contract.functions.verifyRecords(
        anchorer, tree.root, kind, list(ours.leaves), list(ours.proof), list(ours.proof_flags)
    ).call()
