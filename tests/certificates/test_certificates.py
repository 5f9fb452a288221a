"""Certificates end to end: issuance (one product, an order with per-product failures), the
signed document and bundle, revocation, order revocation, reissue and supersession on chain, a
hostile brand, and the offline verifier against genuine, revoked, order-revoked, superseded,
wrong-signer, wrong-chain and tampered certificates (every field of document and bundle
changed in turn). The shared corpus that both verifiers (Python and JavaScript) must agree on,
with hypothesis one-field and one-byte tampering, is in test_verifier_parity.py."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from hallmark.chain.ledger import CertificateRef, Ledger
from hallmark.core.errors import ContractRevertError
from hallmark.core.merkle import StandardMerkleTree
from hallmark.services.certificates import document as doc
from hallmark.services.certificates import verifier
from hallmark.store.models import Certificate
from tests.certificates.builders import (
    REGISTRY_ABI,
    Issued,
    check,
    fetch,
    leaf_at,
    leaf_paths,
    ledger_of,
    with_leaf,
)
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    BRAND_2,
    FACTORY,
    add_step,
    create_product,
    held_lot,
)


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


def test_issue_says_which_step_is_missing_or_still_open(world: World) -> None:
    """Materials drawn, then: no step yet; steps without a final QC inspection; work done
    after the QC passed (only packaging and shipping may follow it); each refused with its
    reason, and issued once a new QC inspection passes after that work."""
    lot = held_lot(world)
    serial = create_product(world)["serial"]
    world.http.post(
        f"/api/v1/products/{serial}/materials",
        json={"materials": [{"lot": lot["id"], "quantity": "1.000", "unit": "g"}]},
        headers=world.headers(FACTORY),
    ).raise_for_status()

    def refusal() -> str:
        response = world.http.post(
            "/api/v1/certificates", json={"serial": serial}, headers=world.headers(BRAND)
        )
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "production_incomplete"
        reason: str = error["details"]["reason"]
        return reason

    assert refusal() == "it has no production step"
    add_step(world, serial, "casting")
    assert refusal() == "it has no final QC inspection"
    add_step(world, serial, "qc_inspection", result="pass")
    add_step(world, serial, "packaging")
    add_step(world, serial, "stone_setting")
    assert refusal() == "steps after the final QC inspection: stone_setting"
    add_step(world, serial, "qc_inspection", result="pass")
    issued = world.http.post(
        "/api/v1/certificates", json={"serial": serial}, headers=world.headers(BRAND)
    )
    assert issued.status_code == 201, issued.text


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
    # The piece, its materials, its footprint, its making and who is who, as issue 16 lists.
    product = subject["product"]
    assert {"serial", "name", "category", "gtin", "edition", "recordHash"} <= set(product)
    assert product["engraving"] == "initials and a date"
    material = subject["materials"][0]
    assert {"grade", "origin", "recycled", "labGrown", "certificates"} <= set(material)
    assert Decimal(material["drawn"]["quantity"]) == 5 and material["drawn"]["unit"] == "g"
    assert isinstance(material["recycled"], bool) and material["labGrown"] is False
    assert "recycledShare" in subject and isinstance(subject["ethics"], list)
    production = subject["production"]
    assert production["stepChainHead"].startswith("0x") and len(production["stepChainHead"]) == 66
    assert production["finalQc"]["result"] == "pass"
    brand = next(o for o in subject["organisations"] if o["name"] == BRAND)
    assert brand["account"] == document["issuer"]["account"] == document["proof"]["signer"]
    assert brand["account"].lower() == world.organisations[BRAND].account_address.lower()
    proof = document["proof"]
    assert proof["chainId"] == world.runtime.chain.retrieve_chain_id()  # type: ignore[union-attr]
    assert proof["deployment"]["ledger"] == document["credentialStatus"]["ledger"]
    assert proof["anchor"]["kind"] == "certificate" and proof["anchor"]["root"].startswith("0x")
    assert isinstance(proof["anchor"]["proof"], list)
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
    for path in leaf_paths(original):
        old = leaf_at(original, path)
        tampered = with_leaf(original, path, _flipped(old))
        pair = (tampered, bundle) if which == "document" else (document, tampered)
        if check(world, *pair).ok:
            missed.append(path)
    assert missed == []
