"""Builders the certificates tests share: a complete product, issuing, fetching the document and
bundle, anchoring, the module's certificates in every lifecycle state, certificates naming a
licensed registered design (and a brand's false statements of it), forged evidence
(a record's copy anchored by another organisation, a signer without the issuer role when its
certificate's root was anchored), and one-field and one-byte tampering."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import strategies as st

from hallmark.chain.artifacts import ARTIFACTS_DIR, load_artifacts
from hallmark.chain.ledger import Ledger
from hallmark.chain.registry import DesignRights
from hallmark.core.merkle import StandardMerkleTree
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.services.certificates import document as doc
from hallmark.services.certificates import verifier
from hallmark.services.designs.certification import certificate_design
from tests.conftest import World
from tests.designs.test_registry import LEGAL
from tests.designs.test_rights import filed, pass_finality, registrar, settle
from tests.records.factories import BRAND, FACTORY, add_step, create_product, held_lot

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
        deadline = time.monotonic() + 360
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


def rpc_url(world: World) -> str:
    assert world.runtime.chain is not None
    return world.runtime.chain.url


def ledger_of(world: World, document: dict[str, Any]) -> Ledger:
    return verifier.ledger_at(rpc_url(world), document, LEDGER_ABI)


def check(world: World, document: Any, bundle: Any = None) -> verifier.Report:
    return verifier.verify_at(
        rpc_url(world),
        document=document,
        bundle=bundle,
        ledger_abi=LEDGER_ABI,
        registry_abi=REGISTRY_ABI,
    )


@dataclass
class Issued:
    """A module's certificates, anchored, in the state each test expects."""

    genuine: str
    revoked: str
    order: dict[str, Any]
    superseded: str
    successor: str
    incomplete_serial: str


def issue_in_every_state(world: World) -> Issued:
    """A genuine certificate (with personal data), a revoked one, an order of two revoked as a
    whole, one superseded by its reissue after a repair, and a product that failed its QC."""
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
    deadline = time.monotonic() + 180
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


@dataclass
class ToVerify:
    """The verification tests' certificates (the API's and the page's, in a browser too), all
    anchored: a genuine one, one to revoke, one superseded by its reissue after a repair (its
    successor's supersession sent), and one to tamper with in the database."""

    genuine: str
    to_revoke: str
    superseded: str
    successor: str
    to_tamper: str


def reissue_after_repair(world: World, serial: str, certificate: str) -> str:
    """The product `serial` repaired and passing QC again, its `certificate` reissued: the
    successor's id."""
    add_step(world, serial, "repair")
    add_step(world, serial, "qc_inspection", result="pass")
    reissued = world.http.post(
        f"/api/v1/certificates/{certificate}/reissue", json={}, headers=world.headers(BRAND)
    )
    assert reissued.status_code == 201, reissued.text
    successor: str = reissued.json()["id"]
    return successor


def issue_to_verify(world: World, *, engraving: str) -> ToVerify:
    """`ToVerify`'s certificates, the genuine one with `engraving` as its engraving summary."""
    genuine = issue(world, complete_product(world), engraving_summary=engraving)["id"]
    to_revoke = issue(world, complete_product(world))["id"]
    to_tamper = issue(world, complete_product(world))["id"]
    serial = complete_product(world)
    superseded = issue(world, serial)["id"]
    successor = reissue_after_repair(world, serial, superseded)
    anchor_all(world, [genuine, to_revoke, to_tamper, superseded, successor])
    answer = world.http.post(
        f"/api/v1/certificates/{successor}/supersession", headers=world.headers(BRAND)
    )
    assert answer.status_code == 200, answer.text
    return ToVerify(genuine, to_revoke, superseded, successor, to_tamper)


# --- a registered design on the certificate -------------------------------------------------------

LICENCE = hashlib.sha256(b"design licence to Maison Lune, signed 2026-12-04").hexdigest()


def made_product(world: World, design_reference: str | None) -> str:
    """A finished piece of the brand, naming `design_reference`; its serial."""
    lot = held_lot(world)
    overrides = {} if design_reference is None else {"design_reference": design_reference}
    serial: str = create_product(world, **overrides)["serial"]
    world.http.post(
        f"/api/v1/products/{serial}/materials",
        json={"materials": [{"lot": lot["id"], "quantity": "5.000", "unit": "g"}]},
        headers=world.headers(FACTORY),
    ).raise_for_status()
    add_step(world, serial, "casting")
    add_step(world, serial, "qc_inspection", result="pass")
    return serial


def post_certificate(world: World, serial: str, **body: Any) -> Any:
    return world.http.post(
        "/api/v1/certificates", json={"serial": serial, **body}, headers=world.headers(BRAND)
    )


def anchored(world: World, workers: list[AnchorWorker], certificate: str) -> None:
    """Step the leading worker until the certificate and its bundle are on chain."""
    worker = workers[-1]
    deadline = time.monotonic() + 180
    while True:
        document, bundle = fetch(world, certificate)
        if document["proof"]["anchor"] is not None and all(
            r["anchor"] is not None for r in bundle["records"]
        ):
            return
        assert time.monotonic() < deadline, worker.report()
        time.sleep(min(worker.step(), 0.05))


def licensed_design(world: World, workers: list[AnchorWorker], seed: int) -> dict[str, Any]:
    """A design filed by the legal department, final on the chain's clock, licensed to the
    brand under `LICENCE` (2026-01-01 to 2030-01-01): the design as the API shows it."""
    design = filed(world, workers, seed)
    pass_finality(world)
    grant_licence(world, workers, design["number"], LICENCE)
    return design


def grant_licence(world: World, workers: list[AnchorWorker], number: str, document: str) -> None:
    """The legal department licenses the design `number` to the brand under the licence
    document `document` (2026-01-01 to 2030-01-01), sent on chain."""
    granted = world.http.post(
        f"/api/v1/designs/{number}/licences",
        json={
            "licensee_ref": "brand:maison-lune",
            "document_sha256": document,
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2030-01-01T00:00:00Z",
        },
        headers=world.headers(LEGAL),
    )
    assert granted.status_code == 202, granted.text
    settle(world, workers)


def assign_design(world: World, workers: list[AnchorWorker], number: str, to: str) -> None:
    """The design assigned by its registrant to a new registrar organisation `to`: proposed,
    accepted, both on chain."""
    registrar(world, to)
    agreement = hashlib.sha256(f"assignment of {number} to {to}".encode()).hexdigest()
    proposed = world.http.post(
        f"/api/v1/designs/{number}/assignments",
        json={
            "new_registrant": to,
            "new_owner_ref": f"registrar:{to}",
            "document_sha256": agreement,
        },
        headers=world.headers(LEGAL),
    )
    assert proposed.status_code == 202, proposed.text
    settle(world, workers)
    accepted = world.http.post(
        f"/api/v1/designs/{number}/assignments/accept",
        json={"document_sha256": agreement},
        headers=world.headers(to, "legal"),
    )
    assert accepted.status_code == 202, accepted.text
    settle(world, workers)


def design_lies(world: World) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """A brand's false statements of the design section, by what they change."""
    brand = world.organisations[BRAND].account_address
    return {
        "filedBlock": lambda s: s | {"filedBlock": s["filedBlock"] + 1},
        "registrant": lambda s: s | {"registrant": brand},
        "licence": lambda s: s | {"licence": s["licence"] | {"validUntil": 0}},
    }


def certify_with_design(
    world: World,
    workers: list[AnchorWorker],
    number: str,
    lie: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    *,
    licence: str = LICENCE,
    stated: dict[str, Any] | None = None,
) -> str:
    """A new piece made from the design `number` under `licence`, certified and anchored, the
    design section as the registry holds it (or as `lie` states it instead, or `stated`
    whatever the registry holds: issuance refuses what the registry does not allow now);
    its certificate."""
    honest = world.runtime._certificate_design
    with pytest.MonkeyPatch.context() as patch:
        if stated is not None:
            patch.setattr(world.runtime, "_certificate_design", lambda ref, lic: stated)
        elif lie is not None:
            patch.setattr(
                world.runtime, "_certificate_design", lambda ref, lic: lie(honest(ref, lic))
            )
        answer = post_certificate(world, made_product(world, number), design_licence=licence)
    assert answer.status_code == 201, answer.text
    certificate: str = answer.json()["id"]
    anchored(world, workers, certificate)
    return certificate


#: A second licence of the licensed design, terminated in the corpus.
LICENCE_TERMINATED = hashlib.sha256(b"design licence to Maison Lune, ended 2026-12-04").hexdigest()


def a_minute_later(world: World) -> None:
    """Move the chain's clock a minute on."""
    chain = world.runtime.chain
    assert chain is not None
    chain.retrieve("evm_increaseTime", [60])
    chain.retrieve("evm_mine", [])


def terminated_licence(world: World, workers: list[AnchorWorker], number: str) -> dict[str, str]:
    """Certificates of the design `number` under `LICENCE_TERMINATED`: one anchored before the
    licence was terminated ("terminated later"), and one stating the licence as it stood before
    its termination but anchored after it ("terminated before")."""
    grant_licence(world, workers, number, LICENCE_TERMINATED)
    before = world.runtime._certificate_design(number, LICENCE_TERMINATED)
    later = certify_with_design(world, workers, number, licence=LICENCE_TERMINATED)
    a_minute_later(world)  # blocks of one second share their time: terminated after, not then
    ended = world.http.post(
        f"/api/v1/designs/{number}/licences/{LICENCE_TERMINATED}/terminate",
        json={"reason": "breach"},
        headers=world.headers(LEGAL),
    )
    assert ended.status_code == 202, ended.text
    settle(world, workers)
    fingerprint = before["fingerprint"]
    held = DesignRights(world.runtime.registry).retrieve_licence(
        fingerprint, "0x" + LICENCE_TERMINATED
    )
    assert held.terminated_at > 0
    a_minute_later(world)
    after = certify_with_design(world, workers, number, licence=LICENCE_TERMINATED, stated=before)
    return {"terminated later": later, "terminated before": after}


def not_final_design(world: World, workers: list[AnchorWorker], seed: int) -> str:
    """A certificate of a design filed moments ago, stating the filing as the registry holds it,
    anchored before the filing is final (an earlier commitment could still displace it)."""
    design = filed(world, workers, seed)
    registry = world.runtime.registry
    held = registry.retrieve_design(design["fingerprint"])
    assert world.runtime.read_sessions is not None
    with world.runtime.read_sessions() as session:
        stated = certificate_design(
            session=session,
            registry=registry,
            ref=design["number"],
            licence_document=None,
            chain_time=held.final_at,  # as the registry holds it, final or not
        )
    certificate = certify_with_design(world, workers, design["number"], stated=stated)
    anchored_in = fetch(world, certificate)[0]["proof"]["anchor"]["block"]
    assert world.runtime.chain is not None
    block_time = world.runtime.chain.retrieve_call(
        lambda: int(registry.client.w3.eth.get_block(anchored_in)["timestamp"])
    )
    assert block_time < held.final_at, "the filing was final before the certificate was anchored"
    return certificate


# --- forged evidence ------------------------------------------------------------------------------


def hex_proof(tree: StandardMerkleTree, value: str) -> list[str]:
    return ["0x" + node.hex() for node in tree.proof(value)]


def record_anchored_by(world: World, bundle: dict[str, Any], anchorer: str) -> dict[str, Any]:
    """The bundle with its first lot record's evidence replaced by a copy of that record's hash
    that the organisation `anchorer` anchored as a lot batch of its own: the ledger verifies
    it (it is that organisation's batch), the who-is-who table names another account."""
    index, lot = next(
        (i, r) for i, r in enumerate(bundle["records"]) if r["kind"] == "material_lot"
    )
    other = world.runtime.organisation_signer(world.organisations[anchorer])
    tree = StandardMerkleTree.of([lot["recordHash"], "0x" + secrets.token_hex(32)])
    ledger = world.runtime.ledger
    sent = ledger.client.send_function(
        other, ledger.address, ledger.abi, "anchor", [tree.root, 0, 2]
    )
    forged: dict[str, Any] = copy.deepcopy(bundle)
    forged["records"][index]["anchor"] = {
        **lot["anchor"],
        "anchorer": other.address,
        "root": "0x" + tree.root.hex(),
        "proof": hex_proof(tree, lot["recordHash"]),
        "block": sent.block_number,
        "transaction": sent.tx_hash,
    }
    return forged


def signed_by(document: dict[str, Any], account: LocalAccount) -> dict[str, Any]:
    """The document as `account` would issue it: issuer account, signer and signature its,
    without anchoring evidence."""
    unsigned = doc.unsigned(document)
    unsigned["issuer"] = {**unsigned["issuer"], "account": account.address}
    return doc.with_proof(
        unsigned,
        signer=account.address,
        signature=doc.sign(unsigned, account),
        deployment=document["proof"]["deployment"],
        anchor=None,
    )


def signer_without_role_then(world: World, document: dict[str, Any]) -> dict[str, Any]:
    """A certificate signed by a new account of the document's brand, in a certificate root the
    brand's own account anchored before the new account was given the issuer role (it holds the
    role now, it did not when the root was anchored)."""
    assert world.runtime.keys is not None
    admin = world.runtime.keys.admin
    ledger = world.runtime.ledger
    newcomer: LocalAccount = Account.create()
    ledger.send_bind_account(
        admin, newcomer.address, bytes.fromhex(document["credentialStatus"]["organisation"][2:])
    )
    signed = signed_by(document, newcomer)
    certificate_hash = signed["proof"]["certificateHash"]
    brand = world.runtime.organisation_signer(world.organisations[BRAND])
    tree = StandardMerkleTree.of([certificate_hash, "0x" + secrets.token_hex(32)])
    sent = ledger.client.send_function(
        brand, ledger.address, ledger.abi, "anchor", [tree.root, 3, 2]
    )
    ledger.send_grant_role(admin, "ISSUER_ROLE", newcomer.address)
    assert ledger.retrieve_has_role("ISSUER_ROLE", newcomer.address)
    signed["proof"]["anchor"] = {
        **document["proof"]["anchor"],
        "anchorer": brand.address,
        "root": "0x" + tree.root.hex(),
        "proof": hex_proof(tree, certificate_hash),
        "block": sent.block_number,
        "transaction": sent.tx_hash,
    }
    return signed


# --- tampering ------------------------------------------------------------------------------------


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every leaf of a JSON value, as a path of keys and indexes."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaf_paths(v, (*prefix, k))]
    if isinstance(value, list):
        if not value:
            return [prefix]
        return [p for i, v in enumerate(value) for p in leaf_paths(v, (*prefix, i))]
    return [prefix]


#: One tamper: which leaf (or byte), where in it, and what goes there; every example draws
#: exactly these three numbers.
TAMPERS = st.tuples(st.integers(0, 2**31), st.integers(0, 2**31), st.integers(1, 0x2FF))


def tampered_leaf(value: Any, where: int, what: int) -> Any:
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


def with_leaf(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    changed = copy.deepcopy(value)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if path:
        target[path[-1]] = new
        return changed
    return new


def leaf_at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def one_field(value: Any, tamper: tuple[int, int, int]) -> Any:
    """`value` with one leaf changed."""
    leaf, where, what = tamper
    paths = leaf_paths(value)
    path = paths[leaf % len(paths)]
    return with_leaf(value, path, tampered_leaf(leaf_at(value, path), where, what))


def file_bytes(value: Any) -> bytes:
    """A document or bundle as a file: JSON in UTF-8 (Chinese as it is, not escaped)."""
    return json.dumps(value, ensure_ascii=False).encode()


def one_byte(data: bytes, tamper: tuple[int, int, int]) -> bytes:
    """`data` with one byte changed to another value."""
    raw = bytearray(data)
    index = tamper[0] % len(raw)
    raw[index] = (raw[index] + 1 + tamper[2] % 255) % 256
    return bytes(raw)
