"""Two verifiers, one corpus: `hallmark verify` (Python, the reference) and the second
implementation in JavaScript following docs/VERIFY.md (tests/certificates/js/verify.mjs)
read the same files against the same chain, and must give the same verdict and the same
outcome of every check.

The corpus: genuine certificates (one reissued), revoked, revoked with its order, in a flagged
certificate batch, superseded, never anchored (no evidence; evidence of a root nobody
anchored), signed by another brand, signed by an account of the brand without the issuer role
when its root was anchored, claimed through another brand's batch, anchored by an account
declared compromised, checked on another chain, with a bundled record anchored by another
organisation than the who-is-who table says, and with a registered design: as the registry
holds it, stated falsely (filing block, registrant, licence term), under a licence terminated
after or before the certificate was anchored, and of a filing not final when it was
anchored; then hypothesis one-field and one-byte tampering of the genuine document and bundle:
every tamper detected by both, the same way.

Its own module (its own world): the compromise at the end of the setup takes the brand's roles.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hallmark.chain.node import AnvilNode, find_anvil
from hallmark.core.merkle import StandardMerkleTree
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.services.certificates import document as doc
from hallmark.services.certificates import verifier
from tests.certificates.builders import (
    LEDGER_ABI,
    REGISTRY_ABI,
    TAMPERS,
    Issued,
    anchor_all,
    assign_design,
    certify_with_design,
    complete_product,
    design_lies,
    fetch,
    file_bytes,
    hex_proof,
    issue,
    licensed_design,
    not_final_design,
    one_byte,
    one_field,
    record_anchored_by,
    rpc_url,
    signer_without_role_then,
    terminated_licence,
)
from tests.conftest import World
from tests.records.factories import BRAND, BRAND_2, SUPPLIER_2

REPO = Path(__file__).resolve().parents[2]
#: The registrar the design certificates' design is assigned to after they are issued.
SUCCESSOR = "Lune Legal Successor"
SCRIPT = REPO / "tests" / "certificates" / "js" / "verify.mjs"


# --- the two verifiers ----------------------------------------------------------------------------


def python_answer(certificate: Path, bundle: Path | None, rpc: str) -> dict[str, Any]:
    """What `hallmark verify` finds: its report, or which file it cannot read (exit 2)."""
    try:
        document = verifier.read_json(certificate.read_bytes())
    except ValueError:
        return {"unreadable": "certificate"}
    provenance = None
    if bundle is not None:
        try:
            provenance = verifier.read_json(bundle.read_bytes())
        except ValueError:
            return {"unreadable": "bundle"}
    return verifier.verify_at(
        rpc,
        document=document,
        bundle=provenance,
        has_bundle=bundle is not None,
        ledger_abi=LEDGER_ABI,
        registry_abi=REGISTRY_ABI,
    ).as_json()


class JavaScriptVerifier:
    """verify.mjs --lines, one process for the module: a request per line, an answer per line."""

    def __init__(self, folder: Path) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.fail("`node` is not on PATH: the JavaScript verifier needs Node >= 20")
        if not (REPO / "node_modules" / "ethers" / "package.json").is_file():
            pytest.fail("ethers is not installed in node_modules: run ./scripts/install")
        self.stderr: IO[bytes] = (folder / "verify-mjs.stderr").open("wb")
        self.process = subprocess.Popen(
            [node, str(SCRIPT), "--lines"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.log = folder / "verify-mjs.stderr"

    def answer(self, certificate: Path, bundle: Path | None, rpc: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"certificate": str(certificate), "bundle": bundle and str(bundle), "rpc": rpc}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"verify.mjs stopped: {self.log.read_text()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer and "unreadable" not in answer:
            pytest.fail(answer["error"])
        if "unreadable" in answer:
            return {"unreadable": answer["unreadable"]}
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # the end of its input: it exits
        self.process.wait(timeout=30)
        self.process.stdout.close()
        self.stderr.close()


def outcome(answer: dict[str, Any]) -> tuple[Any, ...]:
    """What both verifiers must agree on: the verdict and each check's name and result."""
    if "unreadable" in answer:
        return ("unreadable", answer["unreadable"])
    return (answer["verdict"], tuple((c["name"], c["ok"]) for c in answer["checks"]))


@dataclass(frozen=True)
class Case:
    name: str
    document: bytes
    bundle: bytes | None
    rpc: str
    verdict: str
    #: The checks that fail, in order.
    failed: tuple[str, ...]


@dataclass
class Parity:
    """Runs both verifiers over files written to a folder of the module's own."""

    folder: Path
    javascript: JavaScriptVerifier
    runs: int = 0

    def both(
        self, document: bytes, bundle: bytes | None, rpc: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        self.runs += 1
        certificate = self.folder / f"case-{self.runs}.json"
        certificate.write_bytes(document)
        bundle_file = None
        if bundle is not None:
            bundle_file = self.folder / f"case-{self.runs}-bundle.json"
            bundle_file.write_bytes(bundle)
        python = python_answer(certificate, bundle_file, rpc)
        javascript = self.javascript.answer(certificate, bundle_file, rpc)
        assert outcome(javascript) == outcome(python), (
            json.dumps(python, indent=1),
            json.dumps(javascript, indent=1),
        )
        return python, javascript


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parity]:
    folder = tmp_path_factory.mktemp("parity")
    javascript = JavaScriptVerifier(folder)
    try:
        yield Parity(folder, javascript)
    finally:
        javascript.close()


@pytest.fixture(scope="module")
def other_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A node of another chain (chain id 1337): a genuine certificate is not known there."""
    node = AnvilNode(
        binary=find_anvil(),
        state_path=tmp_path_factory.mktemp("other-chain") / "state.json",
        port=0,
        chain_id=1337,
    )
    node.start()
    try:
        yield node.url
    finally:
        node.stop()


# --- the corpus -----------------------------------------------------------------------------------


def _flagged(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """A certificate alone in its batch, that batch flagged by the brand."""
    certificate = issue(world, complete_product(world))["id"]
    anchor_all(world, [certificate])
    document, bundle = fetch(world, certificate)
    anchor = document["proof"]["anchor"]
    brand = world.runtime.organisation_signer(world.organisations[BRAND])
    world.runtime.ledger.send_flag_batch(
        brand, anchorer=anchor["anchorer"], root=anchor["root"], reason=2
    )
    return document, bundle


def _evidence_of_a_root_never_anchored(document: dict[str, Any]) -> dict[str, Any]:
    """The genuine document with evidence of a root that holds its hash but was never
    anchored."""
    certificate_hash = document["proof"]["certificateHash"]
    tree = StandardMerkleTree.of([certificate_hash, "0x" + secrets.token_hex(32)])
    forged = copy.deepcopy(document)
    forged["proof"]["anchor"] = {
        **document["proof"]["anchor"],
        "root": "0x" + tree.root.hex(),
        "proof": hex_proof(tree, certificate_hash),
    }
    return forged


def _claimed_through_another_brand(world: World, document: dict[str, Any]) -> dict[str, Any]:
    """Another brand anchors the certificate's hash as a certificate batch of its own, and the
    document is presented with that evidence."""
    other = world.runtime.organisation_signer(world.organisations[BRAND_2])
    certificate_hash = document["proof"]["certificateHash"]
    tree = StandardMerkleTree.of([certificate_hash, "0x" + secrets.token_hex(32)])
    ledger = world.runtime.ledger
    sent = ledger.client.send_function(
        other, ledger.address, ledger.abi, "anchor", [tree.root, 3, 2]
    )
    claimed = copy.deepcopy(document)
    claimed["proof"]["anchor"] = {
        **document["proof"]["anchor"],
        "anchorer": other.address,
        "root": "0x" + tree.root.hex(),
        "proof": hex_proof(tree, certificate_hash),
        "block": sent.block_number,
        "transaction": sent.tx_hash,
    }
    return claimed


@pytest.fixture(scope="module")
def designed(world: World) -> dict[str, str]:
    """Certificates of pieces made from a registered design licensed to the brand: one stating
    the design as the registry holds it ("genuine"), one per false statement of `design_lies`;
    then the design is assigned to another registrar (the verifiers find the certificates'
    registrant in the filing's logs). Made before the corpus's compromise takes the brand's
    roles."""
    workers: list[AnchorWorker] = []
    try:
        design = licensed_design(world, workers, 7117)
        number = design["number"]
        made = {"genuine": certify_with_design(world, workers, number)}
        for name, lie in design_lies(world).items():
            made[name] = certify_with_design(world, workers, number, lie)
        made |= terminated_licence(world, workers, number)
        # Then the design changes hands: the certificates' registrant is the filing's before.
        assign_design(world, workers, number, SUCCESSOR)
        now = world.runtime.registry.retrieve_design(design["fingerprint"])
        assert now.registrant == world.organisations[SUCCESSOR].account_address
        for worker in workers:  # the next filing's worker leads
            assert worker.stop()
            worker.leader.release()
        workers.clear()
        made["not final"] = not_final_design(world, workers, 7118)
        return made
    finally:
        for worker in workers:  # the records' anchoring worker leads again
            assert worker.stop()
            worker.leader.release()


@pytest.fixture(scope="module")
def corpus(world: World, issued: Issued, designed: dict[str, str], other_chain: str) -> list[Case]:
    url = rpc_url(world)
    with_design = {name: fetch(world, certificate) for name, certificate in designed.items()}
    genuine, genuine_bundle = fetch(world, issued.genuine)
    successor, successor_bundle = fetch(world, issued.successor)
    revoked, revoked_bundle = fetch(world, issued.revoked)
    superseded, superseded_bundle = fetch(world, issued.superseded)
    in_order, in_order_bundle = fetch(world, issued.order["results"][0]["certificate"])
    flagged, flagged_bundle = _flagged(world)
    other = world.runtime.organisation_signer(world.organisations[BRAND_2])
    wrong_signer = copy.deepcopy(genuine)
    wrong_signer["proof"]["signatureValue"] = doc.sign(wrong_signer, other)
    without_role = signer_without_role_then(world, genuine)
    claimed = _claimed_through_another_brand(world, genuine)
    who_is_who = record_anchored_by(world, genuine_bundle, SUPPLIER_2)
    # The files as fetched before the worker anchored them (it does below).
    unanchored, unanchored_bundle = fetch(world, issue(world, complete_product(world))["id"])
    assert unanchored["proof"]["anchor"] is None
    # Last: the brand's account is declared compromised from the first block it anchored its
    # latest certificate or that certificate's product record in (it loses its roles; the
    # earlier certificates stand).
    certificate = issue(world, complete_product(world))["id"]
    anchor_all(world, [certificate])
    compromised, compromised_bundle = fetch(world, certificate)
    brand_account = compromised["proof"]["anchor"]["anchorer"]
    from_block = min(
        anchor["block"]
        for anchor in [compromised["proof"]["anchor"]]
        + [r["anchor"] for r in compromised_bundle["records"]]
        if anchor["anchorer"] == brand_account
    )
    assert world.runtime.keys is not None
    world.runtime.ledger.send_mark_compromised(
        world.runtime.keys.admin, brand_account, from_block=from_block, reason=3
    )

    def case(
        name: str,
        document: dict[str, Any],
        bundle: dict[str, Any] | None,
        verdict: str,
        failed: tuple[str, ...] = (),
        rpc: str = url,
    ) -> Case:
        return Case(
            name,
            file_bytes(document),
            None if bundle is None else file_bytes(bundle),
            rpc,
            verdict,
            failed,
        )

    return [
        case("genuine", genuine, genuine_bundle, "genuine"),
        case("genuine without its bundle", genuine, None, "genuine"),
        case("reissued", successor, successor_bundle, "genuine"),
        case("revoked", revoked, revoked_bundle, "revoked", ("status",)),
        case("revoked with its order", in_order, in_order_bundle, "revoked", ("status",)),
        case("in a flagged batch", flagged, flagged_bundle, "revoked", ("status",)),
        case("superseded", superseded, superseded_bundle, "superseded", ("status",)),
        case("not anchored yet", unanchored, unanchored_bundle, "unknown", ("issuer",)),
        case(
            "root never anchored",
            _evidence_of_a_root_never_anchored(genuine),
            genuine_bundle,
            "unknown",
            ("issuer",),
        ),
        case("signed by another brand", wrong_signer, genuine_bundle, "tampered", ("signature",)),
        case("signer without the role then", without_role, None, "unknown", ("issuer",)),
        case(
            "claimed through another brand's batch",
            claimed,
            None,
            "tampered",
            ("anchored", "status"),
        ),
        case(
            "anchored by a compromised account",
            compromised,
            compromised_bundle,
            "revoked",
            ("status", "bundle"),
        ),
        case("on another chain", genuine, genuine_bundle, "unknown", ("chain",), other_chain),
        case(
            "record anchored by another organisation", genuine, who_is_who, "tampered", ("bundle",)
        ),
        case(
            "with a licensed registered design, assigned since", *with_design["genuine"], "genuine"
        ),
        case(
            "design stated with another filing block",
            *with_design["filedBlock"],
            "tampered",
            ("design",),
        ),
        case(
            "design stated with another registrant",
            *with_design["registrant"],
            "tampered",
            ("design",),
        ),
        case(
            "design stated with another licence term",
            *with_design["licence"],
            "tampered",
            ("design",),
        ),
        case(
            "design licence terminated after anchoring",
            *with_design["terminated later"],
            "genuine",
        ),
        case(
            "design licence terminated before anchoring",
            *with_design["terminated before"],
            "tampered",
            ("design",),
        ),
        case(
            "design filing not final when anchored",
            *with_design["not final"],
            "tampered",
            ("design",),
        ),
    ]


CASES = [
    "genuine",
    "genuine without its bundle",
    "reissued",
    "revoked",
    "revoked with its order",
    "in a flagged batch",
    "superseded",
    "not anchored yet",
    "root never anchored",
    "signed by another brand",
    "signer without the role then",
    "claimed through another brand's batch",
    "anchored by a compromised account",
    "on another chain",
    "record anchored by another organisation",
    "with a licensed registered design, assigned since",
    "design stated with another filing block",
    "design stated with another registrant",
    "design stated with another licence term",
    "design licence terminated after anchoring",
    "design licence terminated before anchoring",
    "design filing not final when anchored",
]


def test_corpus_names_every_case(corpus: list[Case]) -> None:
    assert [c.name for c in corpus] == CASES


@pytest.mark.parametrize("name", CASES)
def test_both_verifiers_agree_on_the_corpus(corpus: list[Case], parity: Parity, name: str) -> None:
    case = next(c for c in corpus if c.name == name)
    python, _ = parity.both(case.document, case.bundle, case.rpc)
    assert python["verdict"] == case.verdict, python
    assert tuple(c["name"] for c in python["checks"] if not c["ok"]) == case.failed, python
    assert python["ok"] == (case.verdict == "genuine")


# --- tampering ------------------------------------------------------------------------------------

TAMPER_EXAMPLES = settings(
    database=None,
    max_examples=int(os.environ.get("HALLMARK_TAMPER_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def genuine_files(
    world: World, genuine: tuple[dict[str, Any], dict[str, Any]], corpus: list[Case]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The genuine certificate and bundle (after the corpus: the chain as it left it)."""
    document, bundle = genuine
    return document, bundle, rpc_url(world)


def _detected(answer: dict[str, Any]) -> bool:
    return "unreadable" in answer or not answer["ok"]


@TAMPER_EXAMPLES
@given(in_bundle=st.booleans(), tamper=TAMPERS)
def test_one_field_tampering_is_detected_by_both(
    parity: Parity,
    genuine_files: tuple[dict[str, Any], dict[str, Any], str],
    in_bundle: bool,
    tamper: tuple[int, int, int],
) -> None:
    document, bundle, url = genuine_files
    if in_bundle:
        changed = one_field(bundle, tamper)
        if changed == bundle:
            return
        python, _ = parity.both(file_bytes(document), file_bytes(changed), url)
    else:
        changed = one_field(document, tamper)
        if changed == document:
            return
        python, _ = parity.both(file_bytes(changed), file_bytes(bundle), url)
    assert _detected(python), python


@TAMPER_EXAMPLES
@given(in_bundle=st.booleans(), tamper=TAMPERS)
def test_one_byte_tampering_is_detected_by_both(
    parity: Parity,
    genuine_files: tuple[dict[str, Any], dict[str, Any], str],
    in_bundle: bool,
    tamper: tuple[int, int, int],
) -> None:
    document, bundle, url = genuine_files
    original = bundle if in_bundle else document
    changed = one_byte(file_bytes(original), tamper)
    try:
        if verifier.read_json(changed) == original:
            return  # the same JSON (one whitespace byte for another): nothing was changed
    except ValueError:
        pass  # not a JSON file any more: both must refuse to read it
    if in_bundle:
        python, _ = parity.both(file_bytes(document), changed, url)
    else:
        python, _ = parity.both(changed, file_bytes(bundle), url)
    assert _detected(python), python


# --- files at the edges of the specification ----------------------------------------------------

#: The order of secp256k1 (a signature's `s` and `n - s` both verify, with v flipped).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _with_text(document: dict[str, Any], path: tuple[str, ...], text: str) -> bytes:
    """The document's file with the JSON text `text` written for the member at `path`."""
    marker = "@@" + secrets.token_hex(8) + "@@"
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    return file_bytes(changed).replace(json.dumps(marker).encode(), text.encode())


def _signature(document: dict[str, Any], signature: str) -> bytes:
    changed = copy.deepcopy(document)
    changed["proof"]["signatureValue"] = signature
    return file_bytes(changed)


def _malleated(signature: str) -> str:
    """The signature's twin: `n - s` and the other `v` (recovers the same signer)."""
    raw = bytes.fromhex(signature[2:])
    s = SECP256K1_N - int.from_bytes(raw[32:64])
    return "0x" + (raw[:32] + s.to_bytes(32) + bytes([55 - raw[64]])).hex()


def _v_from_zero(signature: str) -> str:
    """The signature with v written 0 or 1 instead of 27 or 28 (eth-account takes both)."""
    return signature[:-2] + f"{int(signature[-2:], 16) - 27:02x}"


#: name → (document file, bundle file (None: none given), verdict, the checks that fail);
#: built from the genuine certificate's document and bundle.
EDGES: dict[str, Any] = {
    "byte order mark": lambda d, b: (b"\xef\xbb\xbf" + file_bytes(d), None, "unreadable", ()),
    "a member twice": lambda d, b: (
        b'{"id": "urn:uuid:x", ' + file_bytes(d)[1:],
        None,
        "unreadable",
        (),
    ),
    "NaN": lambda d, b: (
        _with_text(d, ("proof", "anchor", "block"), "NaN"),
        None,
        "unreadable",
        (),
    ),
    "an encoded surrogate": lambda d, b: (
        file_bytes(d).replace(b"HallmarkLedgerStatus", b"Hallmark\xed\xa0\x80LedgerStatus", 1),
        None,
        "unreadable",
        (),
    ),
    "nested 100,000 levels deep": lambda d, b: (
        _with_text(d, ("credentialSubject",), "[" * 100_000 + "]" * 100_000),
        None,
        "unreadable",
        (),
    ),
    "nested 129 levels deep": lambda d, b: (
        _with_text(d, ("credentialSubject",), "[" * 128 + "]" * 128),
        None,
        "unreadable",
        (),
    ),
    "chain id written 31337.0": lambda d, b: (
        _with_text(d, ("proof", "chainId"), f"{d['proof']['chainId']}.0"),
        None,
        "tampered",
        ("document",),
    ),
    "block written with an exponent": lambda d, b: (
        _with_text(d, ("proof", "anchor", "block"), f"{d['proof']['anchor']['block']}e0"),
        None,
        "tampered",
        ("issuer",),
    ),
    "signature in upper case": lambda d, b: (
        _signature(d, "0x" + d["proof"]["signatureValue"][2:].upper()),
        None,
        "tampered",
        ("signature",),
    ),
    "signature with v 0 or 1": lambda d, b: (
        _signature(d, _v_from_zero(d["proof"]["signatureValue"])),
        None,
        "tampered",
        ("signature",),
    ),
    "malleated signature": lambda d, b: (
        _signature(d, _malleated(d["proof"]["signatureValue"])),
        None,
        "tampered",
        ("signature",),
    ),
    "bundle file holding null": lambda d, b: (file_bytes(d), b"null", "tampered", ("bundle",)),
    "document not an object": lambda d, b: (b"[]", None, "tampered", ("document",)),
    "no ledger address": lambda d, b: (
        _with_text(d, ("credentialStatus", "ledger"), '"nowhere"'),
        None,
        "tampered",
        ("document",),
    ),
}


@pytest.mark.parametrize("name", list(EDGES))
def test_both_verifiers_agree_on_files_at_the_edges(
    parity: Parity, genuine_files: tuple[dict[str, Any], dict[str, Any], str], name: str
) -> None:
    document, bundle, url = genuine_files
    document_file, bundle_file, verdict, failed = EDGES[name](document, bundle)
    python, _ = parity.both(document_file, bundle_file, url)
    if verdict == "unreadable":
        assert python == {"unreadable": "certificate"}
        return
    assert python["verdict"] == verdict, python
    assert tuple(c["name"] for c in python["checks"] if not c["ok"]) == failed, python


def test_the_javascript_command_prints_each_check_and_exits_as_hallmark_verify(
    corpus: list[Case], tmp_path: Path
) -> None:
    """`node verify.mjs CERT.json --bundle BUNDLE.json --rpc URL`, as docs/VERIFY.md shows it."""
    node = shutil.which("node")
    assert node is not None
    runs = {}
    for name in ("genuine", "revoked"):
        case = next(c for c in corpus if c.name == name)
        assert case.bundle is not None
        certificate, bundle = tmp_path / f"{name}.json", tmp_path / f"{name}-bundle.json"
        certificate.write_bytes(case.document)
        bundle.write_bytes(case.bundle)
        runs[name] = subprocess.run(
            [node, str(SCRIPT), str(certificate), "--bundle", str(bundle), "--rpc", case.rpc],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert runs["genuine"].returncode == 0, runs["genuine"].stdout + runs["genuine"].stderr
    lines = runs["genuine"].stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["PASS", name]
        for name in (
            "document",
            "hash",
            "signature",
            "chain",
            "issuer",
            "merkle",
            "anchored",
            "status",
            "design",
            "bundle",
        )
    ]
    assert lines[-1] == "verdict: genuine"
    assert runs["revoked"].returncode == 1
    assert "FAIL status" in runs["revoked"].stdout
    assert runs["revoked"].stdout.splitlines()[-1] == "verdict: revoked"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    unreadable = subprocess.run(
        [node, str(SCRIPT), str(broken), "--rpc", corpus[0].rpc],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unreadable.returncode == 2 and "cannot read the certificate" in unreadable.stderr
