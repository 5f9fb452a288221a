"""Certificates end to end: issuance (one product, an order with per-product failures), the
signed document and bundle, revocation, order revocation, reissue and supersession on chain, a
hostile brand, and the offline verifier against genuine, revoked, batch-revoked, superseded,
wrong-signer, wrong-chain and tampered certificates (hypothesis one-field and one-byte
tampering of document and bundle)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hallmark.chain.artifacts import ARTIFACTS_DIR, load_artifacts
from hallmark.chain.ledger import CertificateRef, Ledger
from hallmark.core.errors import ContractRevertError
from hallmark.core.merkle import StandardMerkleTree
from hallmark.services.certificates import document as doc
from hallmark.services.certificates import verifier
from hallmark.store.models import Certificate
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    BRAND_2,
    FACTORY,
    add_step,
    create_product,
    held_lot,
)

ABIS = load_artifacts(ARTIFACTS_DIR / "v2")
LEDGER_ABI = ABIS["ProvenanceLedger"]["abi"]
REGISTRY_ABI = ABIS["DesignRegistry"]["abi"]


def complete_product(world: World, *, qc: str = "pass") -> str:
    """A brand's product made by its factory from a supplier's lot: drawn, cast, polished,
    inspected; its serial."""
    lot = held_lot(world)
    serial: str = create_product(world)["serial"]
    world.http.post(
        f"/api/v1/products/{serial}/materials",
        json={"materials": [{"lot": lot["id"], "quantity": "5.000", "unit": "g"}]},
        headers=world.headers(FACTORY),
    ).raise_for_status()
    add_step(world, serial, "casting")
    add_step(world, serial, "polishing")
    add_step(world, serial, "qc_inspection", result=qc)
    add_step(world, serial, "packaging")
    return serial


def issue(world: World, serial: str, **body: Any) -> dict[str, Any]:
    response = world.http.post(
        "/api/v1/certificates", json={"serial": serial, **body}, headers=world.headers(BRAND)
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def fetch(world: World, certificate_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signed document and the bundle, as anyone gets them (no API key)."""
    document = world.http.get(f"/api/v1/certificates/{certificate_id}/document")
    bundle = world.http.get(f"/api/v1/certificates/{certificate_id}/bundle")
    assert document.status_code == 200, document.text
    assert bundle.status_code == 200, bundle.text
    return document.json(), bundle.json()


def anchor_all(world: World, certificate_ids: list[str]) -> None:
    """Run the worker until every certificate and every record its bundle holds is on chain."""
    worker = world.runtime.start_worker()
    try:
        deadline = time.monotonic() + 120
        pending = list(certificate_ids)
        while pending:
            document, bundle = fetch(world, pending[0])
            if document["proof"]["anchor"] is not None and all(
                r["anchor"] is not None for r in bundle["records"]
            ):
                pending.pop(0)
                continue
            assert time.monotonic() < deadline, (document["proof"], bundle)
            time.sleep(0.2)
    finally:
        worker.stop()
        world.runtime.worker = None


def ledger_of(world: World, document: dict[str, Any]) -> Ledger:
    assert world.runtime.chain is not None
    return verifier.ledger_at(world.runtime.chain.url, document, LEDGER_ABI)


def check(world: World, document: Any, bundle: Any = None) -> verifier.Report:
    assert world.runtime.chain is not None
    return verifier.verify_at(
        world.runtime.chain.url,
        document=document,
        bundle=bundle,
        ledger_abi=LEDGER_ABI,
        registry_abi=REGISTRY_ABI,
    )


@dataclass
class Issued:
    """The module's certificates, anchored, in the state each test expects."""

    genuine: str
    revoked: str
    order: dict[str, Any]
    superseded: str
    successor: str
    incomplete_serial: str


@pytest.fixture(scope="module")
def issued(world: World) -> Iterator[Issued]:
    genuine = issue(
        world,
        complete_product(world),
        engraving_summary="initials and a date",
        personal={"owner": "Li Wei", "engraving": "For Mei, 2026"},
    )["id"]
    revoked = issue(world, complete_product(world))["id"]
    to_supersede_serial = complete_product(world)
    to_supersede = issue(world, to_supersede_serial)["id"]
    incomplete = complete_product(world, qc="fail")
    order_serials = [complete_product(world), complete_product(world)]
    response = world.http.post(
        "/api/v1/certificate-orders",
        json={"serials": [*order_serials, "SN-NO-SUCH-PRODUCT", incomplete], "reference": "PO-1"},
        headers=world.headers(BRAND),
    )
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        order = world.http.get(
            f"/api/v1/certificate-orders/{order_id}", headers=world.headers(BRAND)
        ).json()
        if order["status"] == "done":
            break
        assert time.monotonic() < deadline, order
        time.sleep(0.2)
    # The piece is repaired after certification: the certificate is reissued.
    add_step(world, to_supersede_serial, "repair")
    add_step(world, to_supersede_serial, "qc_inspection", result="pass")
    reissued = world.http.post(
        f"/api/v1/certificates/{to_supersede}/reissue", json={}, headers=world.headers(BRAND)
    )
    assert reissued.status_code == 201, reissued.text
    successor = reissued.json()["id"]
    order_certificates = [r["certificate"] for r in order["results"] if r["status"] == "issued"]
    anchor_all(world, [genuine, revoked, to_supersede, successor, *order_certificates])
    for path, body in (
        (f"/api/v1/certificates/{revoked}/revocation", {"reason": "issued_in_error"}),
        (f"/api/v1/certificate-orders/{order_id}/revocation", {"reason": "fraud"}),
        (f"/api/v1/certificates/{successor}/supersession", None),
    ):
        answer = world.http.post(path, json=body, headers=world.headers(BRAND))
        assert answer.status_code == 200, answer.text
    return Issued(genuine, revoked, order, to_supersede, successor, incomplete)


def test_issue_refuses_an_incomplete_product_and_stores_nothing(
    world: World, issued: Issued
) -> None:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Certificate))
    response = world.http.post(
        "/api/v1/certificates",
        json={"serial": issued.incomplete_serial},
        headers=world.headers(BRAND),
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "production_incomplete"
    assert "final QC inspection did not pass" in error["message"]
    fresh = create_product(world)["serial"]
    response = world.http.post(
        "/api/v1/certificates", json={"serial": fresh}, headers=world.headers(BRAND)
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"]["reason"] == "no material was drawn for it"
    with world.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == before
    factory = world.http.post(
        "/api/v1/certificates", json={"serial": fresh}, headers=world.headers(FACTORY)
    )
    assert factory.status_code == 403


def test_order_reports_each_product(issued: Issued) -> None:
    order = issued.order
    assert (order["total"], order["processed"], order["issued"], order["failed"]) == (4, 4, 2, 2)
    statuses = [(r["row"], r["status"]) for r in order["results"]]
    assert statuses == [(1, "issued"), (2, "issued"), (3, "refused"), (4, "refused")]
    assert order["results"][2]["error"]["code"] == "not_found"
    assert order["results"][3]["error"]["code"] == "production_incomplete"


def test_document_shape_and_personal_commitment(world: World, issued: Issued) -> None:
    document, bundle = fetch(world, issued.genuine)
    assert document["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert document["type"] == ["VerifiableCredential", "HallmarkCertificate"]
    subject = document["credentialSubject"]
    assert subject["materials"][0]["origin"]["country"] == "ZA"
    assert subject["materials"][0]["certificates"] == [{"kind": "assay_report", "number": "AR-1"}]
    assert subject["carbonFootprint"]["kgCO2e"] is not None
    assert subject["production"]["kinds"] == ["casting", "polishing", "qc_inspection", "packaging"]
    assert subject["design"] is None
    names = {o["name"] for o in subject["organisations"]}
    assert {BRAND, FACTORY}.issubset(names)
    text = json.dumps(document, ensure_ascii=False)
    assert "Li Wei" not in text and "For Mei" not in text  # personal data only as a commitment
    held = world.http.get(
        f"/api/v1/certificates/{issued.genuine}", headers=world.headers(BRAND)
    ).json()
    personal = held["personal"]
    assert personal["data"] == {"owner": "Li Wei", "engraving": "For Mei, 2026"}
    commitment = doc.personal_commitment(personal["data"], personal["salt"])
    assert subject["personal"]["commitment"] == commitment
    assert len(bundle["records"]) == len(subject["records"]) >= 6


def test_genuine_certificate_verifies_offline(world: World, issued: Issued) -> None:
    document, bundle = fetch(world, issued.genuine)
    report = check(world, document, bundle)
    assert report.ok, report.as_json()
    assert [c.name for c in report.checks] == [
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
    ]


def test_revoked_certificate_fails(world: World, issued: Issued) -> None:
    document, bundle = fetch(world, issued.revoked)
    report = check(world, document, bundle)
    assert report.verdict == "revoked" and not report.ok
    status = next(c for c in report.checks if c.name == "status")
    assert "certificate_revoked" in status.detail and "reason 1" in status.detail


def test_order_revoked_on_chain_revokes_every_certificate(world: World, issued: Issued) -> None:
    for row in issued.order["results"][:2]:
        document, _ = fetch(world, row["certificate"])
        assert document["credentialStatus"]["issuanceId"] == issued.order["issuance_id"]
        report = check(world, document)
        assert report.verdict == "revoked"
        assert "issuance_revoked" in next(c for c in report.checks if c.name == "status").detail


def test_superseded_certificate_names_its_successor(world: World, issued: Issued) -> None:
    old, _ = fetch(world, issued.superseded)
    new, new_bundle = fetch(world, issued.successor)
    report = check(world, old)
    assert report.verdict == "superseded"
    status = next(c for c in report.checks if c.name == "status")
    assert new["proof"]["certificateHash"] in status.detail
    assert new["credentialStatus"]["supersedes"] == old["proof"]["certificateHash"]
    assert check(world, new, new_bundle).ok


def test_wrong_signer_fails(world: World, issued: Issued) -> None:
    document, _ = fetch(world, issued.genuine)
    other = world.runtime.organisation_signer(world.organisations[BRAND_2])
    forged = copy.deepcopy(document)
    forged["proof"]["signatureValue"] = doc.sign(forged, other)
    report = check(world, forged)
    assert report.verdict == "tampered"
    assert not next(c for c in report.checks if c.name == "signature").ok
    # Signer and issuer account both claimed by the other brand: the hash no longer matches.
    claimed = copy.deepcopy(forged)
    claimed["issuer"]["account"] = other.address
    claimed["proof"]["signer"] = other.address
    assert not check(world, claimed).ok


def test_wrong_chain_fails(world: World, issued: Issued, monkeypatch: pytest.MonkeyPatch) -> None:
    document, _ = fetch(world, issued.genuine)
    ledger = ledger_of(world, document)
    monkeypatch.setattr(ledger.client, "retrieve_chain_id", lambda: 1)
    report = verifier.verify(
        document=document, bundle=None, ledger=ledger, registry_abi=REGISTRY_ABI
    )
    assert report.verdict == "unknown"
    assert "node is on chain 1" in report.checks[-1].detail


def _hostile(world: World) -> tuple[LocalAccount, Ledger]:
    account = world.runtime.organisation_signer(world.organisations[BRAND_2])
    ledger = world.runtime.ledger
    assert world.runtime.keys is not None
    if not ledger.retrieve_has_role("REVOKER_ROLE", account.address):
        ledger.send_grant_role(world.runtime.keys.admin, "REVOKER_ROLE", account.address)
    return account, ledger


def test_hostile_brand_cannot_revoke_supersede_or_claim(world: World, issued: Issued) -> None:
    for method, path, body in (
        ("GET", f"/api/v1/certificates/{issued.genuine}", None),
        ("POST", f"/api/v1/certificates/{issued.genuine}/revocation", {"reason": "fraud"}),
        ("POST", f"/api/v1/certificates/{issued.genuine}/reissue", {}),
    ):
        answer = world.http.request(method, path, json=body, headers=world.headers(BRAND_2))
        assert answer.status_code == 404, answer.text
    document, _ = fetch(world, issued.genuine)
    anchor = document["proof"]["anchor"]
    victim = CertificateRef(
        anchor["anchorer"], anchor["root"], document["proof"]["certificateHash"], anchor["proof"]
    )
    account, ledger = _hostile(world)
    with pytest.raises(ContractRevertError) as revoked:
        ledger.send_revoke_certificate(account, victim, reason=6)
    assert revoked.value.error_name == "NotOwnOrganisation"
    # The hostile brand anchors the victim's hash, and a successor of its own, as a certificate
    # batch of its own ...
    successor = "0x" + "5a" * 32
    tree = StandardMerkleTree.of([victim.certificate_hash, successor])
    root = "0x" + tree.root.hex()
    ledger.client.send_function(account, ledger.address, ledger.abi, "anchor", [tree.root, 3, 2])

    def proof(value: str) -> list[str]:
        return ["0x" + node.hex() for node in tree.proof(value)]

    own = CertificateRef(account.address, root, successor, proof(successor))
    with pytest.raises(ContractRevertError) as superseded:
        ledger.send_supersede_certificate(account, victim, own)
    assert superseded.value.error_name in ("UnauthorisedSuperseder", "NotOwnOrganisation")
    copied = CertificateRef(
        account.address, root, victim.certificate_hash, proof(victim.certificate_hash)
    )
    # Revoking or superseding its own copy is recorded under its own organisation only.
    ledger.send_supersede_certificate(account, copied, own)
    ledger.send_revoke_certificate(account, copied, reason=6)
    # ... and presents the victim's certificate with that evidence: never genuine.
    claimed = copy.deepcopy(document)
    claimed["proof"]["anchor"] = {
        **anchor,
        "anchorer": account.address,
        "root": root,
        "proof": proof(victim.certificate_hash),
    }
    report = check(world, claimed)
    assert not report.ok
    # The victim's certificate is untouched.
    assert check(world, document).ok


# --- tampering ----------------------------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every leaf of a JSON value, as a path of keys and indexes."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        if not value:
            return [prefix]
        return [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


#: One tamper: which leaf (or byte), where in it, and what goes there; every example draws
#: exactly these three numbers.
TAMPERS = st.tuples(st.integers(0, 2**31), st.integers(0, 2**31), st.integers(1, 0x2FF))


def _tampered(value: Any, where: int, what: int) -> Any:
    """A different JSON value of the same leaf."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + (1, -1, 2**20)[what % 3]
    if isinstance(value, str) and value:
        index = where % len(value)
        replacement = chr(what) if chr(what) != value[index] else chr(what + 1)
        return value[:index] + replacement + value[index + 1 :]
    if isinstance(value, list):
        return ["0x" + "11" * 32]
    return ("x", 0, True)[what % 3]


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    changed = copy.deepcopy(value)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if path:
        target[path[-1]] = new
        return changed
    return new


def _one_field(value: Any, tamper: tuple[int, int, int]) -> Any:
    leaf, where, what = tamper
    paths = _paths(value)
    path = paths[leaf % len(paths)]
    old = value
    for key in path:
        old = old[key]
    return _set(value, path, _tampered(old, where, what))


@pytest.fixture(scope="module")
def genuine(world: World, issued: Issued) -> tuple[dict[str, Any], dict[str, Any]]:
    document, bundle = fetch(world, issued.genuine)
    assert check(world, document, bundle).ok
    return document, bundle


FEW = settings(
    database=None,
    max_examples=int(os.environ.get("HALLMARK_TAMPER_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FEW
@given(tamper=TAMPERS)
def test_every_one_field_tamper_of_the_document_is_detected(
    world: World, genuine: tuple[dict[str, Any], dict[str, Any]], tamper: tuple[int, int, int]
) -> None:
    document, bundle = genuine
    tampered = _one_field(document, tamper)
    if tampered == document:
        return
    assert not check(world, tampered, bundle).ok


@FEW
@given(tamper=TAMPERS)
def test_every_one_field_tamper_of_the_bundle_is_detected(
    world: World, genuine: tuple[dict[str, Any], dict[str, Any]], tamper: tuple[int, int, int]
) -> None:
    document, bundle = genuine
    tampered = _one_field(bundle, tamper)
    if tampered == bundle:
        return
    assert not check(world, document, tampered).ok


@FEW
@given(in_bundle=st.booleans(), tamper=TAMPERS)
def test_every_one_byte_tamper_is_detected(
    world: World,
    genuine: tuple[dict[str, Any], dict[str, Any]],
    in_bundle: bool,
    tamper: tuple[int, int, int],
) -> None:
    document, bundle = genuine
    which = "bundle" if in_bundle else "document"
    original = document if which == "document" else bundle
    raw = bytearray(json.dumps(original, ensure_ascii=False).encode())
    index = tamper[0] % len(raw)
    raw[index] = (raw[index] + 1 + tamper[2] % 255) % 256
    try:
        parsed = json.loads(bytes(raw))
    except ValueError:
        return  # not JSON any more: `hallmark verify` refuses to read it (exit 2)
    if parsed == original:
        return  # the same JSON (e.g. one whitespace byte for another): nothing was changed
    if which == "document":
        assert not check(world, parsed, bundle).ok
    else:
        assert not check(world, document, parsed).ok


# --- the command ----------------------------------------------------------------------------------


def test_hallmark_verify_command(world: World, issued: Issued, tmp_path: Path) -> None:
    assert world.runtime.chain is not None
    url = world.runtime.chain.url
    runs = {}
    for name in ("genuine", "revoked"):
        document, bundle = fetch(world, getattr(issued, name))
        cert_file, bundle_file = tmp_path / f"{name}.json", tmp_path / f"{name}-bundle.json"
        cert_file.write_text(json.dumps(document))
        bundle_file.write_text(json.dumps(bundle))
        script = (
            "import sys\n"
            "from hallmark.__main__ import main\n"
            f"sys.argv = ['hallmark', 'verify', {str(cert_file)!r}, '--bundle', "
            f"{str(bundle_file)!r}, '--rpc', {url!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "loaded = sorted(m for m in sys.modules if m.startswith(('sqlalchemy', "
            "'hallmark.store', 'hallmark.api', 'hallmark.runtime')))\n"
            "print('LOADED', loaded)\nsys.exit(code)\n"
        )
        runs[name] = subprocess.run(
            [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
        )
    genuine_run, revoked_run = runs["genuine"], runs["revoked"]
    assert genuine_run.returncode == 0, genuine_run.stdout + genuine_run.stderr
    assert "verdict: genuine" in genuine_run.stdout
    assert "PASS signature" in genuine_run.stdout and "PASS bundle" in genuine_run.stdout
    assert "LOADED []" in genuine_run.stdout  # no database layer, no API
    assert revoked_run.returncode == 1
    assert "verdict: revoked" in revoked_run.stdout
    unreadable = tmp_path / "broken.json"
    unreadable.write_text("{not json")
    broken = subprocess.run(
        [sys.executable, "-m", "hallmark", "verify", str(unreadable), "--rpc", url],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert broken.returncode == 2 and "cannot read the certificate" in broken.stderr


def _flipped(value: Any) -> Any:
    """A deterministic different value of the same leaf."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str) and value:
        last = value[-1]
        return value[:-1] + ("0" if last != "0" else "1")
    if isinstance(value, list):
        return ["0x" + "11" * 32]
    return "x"


@pytest.mark.parametrize("which", ["document", "bundle"])
def test_every_field_changed_is_detected(
    world: World, genuine: tuple[dict[str, Any], dict[str, Any]], which: str
) -> None:
    document, bundle = genuine
    original = document if which == "document" else bundle
    missed = []
    for path in _paths(original):
        old = original
        for key in path:
            old = old[key]
        tampered = _set(original, path, _flipped(old))
        pair = (tampered, bundle) if which == "document" else (document, tampered)
        if check(world, *pair).ok:
            missed.append(path)
    assert missed == []
