"""Issuing certificates: one product, or a whole B2B order.

Flow of one issuance (`issue`): check the role (brand), load and lock the product (only a
product the brand accepted), refuse it unless its production is complete (`incomplete_reason`:
accepted by the brand, materials drawn, a step chain that verifies, a passing final QC with no
manufacturing step after it) or already certified; read its provenance (materials with their
lots, origins, external certificates, carbon, ethics; the step timeline), build the document
(`build_document`), sign it with the brand's account (EIP-712), and store it as a record of kind
`certificate` whose canonical text is the document itself, queued for anchoring in the same
transaction, with the certificate row; mark the product certified; one audit entry.

An order (`create_order`, then `run_order`) stores the order with the serials first, then issues
in chunks of `ORDER_CHUNK` products, one transaction per chunk: each product's outcome (issued,
or refused with its reason) is recorded, and the order's `processed` count is the progress a
client polls. Every certificate of an order names the order's issuance id, so the brand can
revoke the whole order on chain with one transaction.

Raises:
    PermissionDeniedError: a role other than brand.
    NotFoundError: an unknown product, or one the brand has not accepted.
    ProductionIncompleteError: production is not complete (the reason says what is missing).
    CertificateStateError: the product is already certified (reissue instead).
    InvalidInputError: an empty order, or one naming a serial twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from hallmark.core.errors import (
    CertificateStateError,
    HallmarkError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ProductionIncompleteError,
)
from hallmark.services.access import audit, authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.certificates import document as doc
from hallmark.services.records import provenance, steps, views, visibility
from hallmark.services.records.schemas import MaterialNode, Provenance, ProvenanceRecord
from hallmark.store.models import (
    Certificate,
    CertificateOrder,
    LotDraw,
    Organisation,
    Product,
)
from hallmark.store.records import NewRecord, add_records, new_record_id

#: Step kinds that may follow the final QC: the piece is finished, only packed and sent.
AFTER_FINAL_QC = frozenset({"packaging", "shipping"})
#: Products issued per transaction of an order.
ORDER_CHUNK = 200
#: The most products one order may name.
MAX_ORDER = 50_000


@dataclass(frozen=True, slots=True)
class Issuer:
    """What signing needs: the deployment the certificate is bound to and the brands' keys."""

    chain_id: int
    ledger: str
    #: {"ledger", "designRegistry", "contractsVersion"}: written into the proof.
    deployment: Mapping[str, Any]
    #: The organisation's signing account (decrypted from its keystore).
    account_of: Callable[[Organisation], LocalAccount]


@dataclass(frozen=True, slots=True)
class PersonalData:
    """Owner name and engraving text naming people: only their salted commitment is signed."""

    owner: str | None = None
    engraving: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("owner", self.owner), ("engraving", self.engraving)) if v}


def incomplete_reason(session: Session, product: Product) -> str | None:
    """Why the product's production is not complete, or None when it is."""
    if product.brand_id is None or product.brand_accepted_at is None:
        return "the brand has not accepted the product"
    drawn = session.scalar(select(LotDraw.id).where(LotDraw.product_id == product.id).limit(1))
    if drawn is None:
        return "no material was drawn for it"
    if product.step_count == 0:
        return "it has no production step"
    chain = steps.verify_chain(session, product)
    if not chain.intact:
        broken = chain.first_broken
        return f"its step chain does not verify ({broken.reason if broken else 'broken'})"
    timeline = [step for step, _ in steps.timeline(session, product)]
    last_qc = max(
        (i for i, step in enumerate(timeline) if step.kind == "qc_inspection"), default=None
    )
    if last_qc is None:
        return "it has no final QC inspection"
    if timeline[last_qc].result != "pass" or product.qc_state != "pass":
        return "its final QC inspection did not pass"
    open_steps = [s.kind for s in timeline[last_qc + 1 :] if s.kind not in AFTER_FINAL_QC]
    if open_steps:
        return f"steps after the final QC inspection: {', '.join(open_steps)}"
    return None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _lots(nodes: Sequence[MaterialNode]) -> list[MaterialNode]:
    """Every lot node of the materials tree (drawn lots, the lots they were split or recycled
    from), each once, in tree order."""
    found: dict[str, MaterialNode] = {}
    pending = list(nodes)
    while pending:
        node = pending.pop(0)
        if node.lot is not None and node.lot_id not in found:
            found[node.lot_id] = node
        pending.extend(n for n in (node.parent, *node.recycled_from) if n is not None)
    return list(found.values())


def _material(node: MaterialNode) -> dict[str, Any]:
    lot = node.lot
    assert lot is not None
    return {
        "lot": lot.id,
        "lotNumber": lot.lot_number,
        "supplier": lot.owner,
        "material": lot.material,
        "grade": lot.grade,
        "drawn": {"quantity": node.quantity, "processLoss": node.process_loss, "unit": node.unit},
        "origin": lot.origin,
        "recycled": lot.recycled,
        "labGrown": lot.material.startswith("lab_grown"),
        "certificates": lot.certificates,
        "recordHash": lot.record.record_hash,
    }


def relied_records(view: Provenance) -> list[ProvenanceRecord]:
    """Every record the certificate relies on: the product's creation and material records,
    each lot's current record (drawn lots and the lots they came from) and every version of
    every step, in that order, each once."""
    records: dict[str, ProvenanceRecord] = {}
    for record in (view.record, *view.material_records):
        records.setdefault(record.id, record)
    for node in _lots(view.materials):
        assert node.lot is not None
        records.setdefault(node.lot.record.id, node.lot.record)
    for step in view.steps:
        for record in step.records:
            records.setdefault(record.id, record)
    return list(records.values())


def build_document(
    session: Session,
    *,
    product: Product,
    brand: Organisation,
    view: Provenance,
    certificate_id: str,
    number: str,
    issuance_id: str,
    valid_from: datetime,
    issuer: Issuer,
    personal_commitment: str | None,
    engraving_summary: str | None,
    supersedes: str | None,
) -> dict[str, Any]:
    """The unsigned certificate document (see `document`), from the product's provenance."""
    relied = relied_records(view)
    by_id = views.records_by_id(session, [r.id for r in relied])
    org_ids = {brand.id, product.factory_id} | {r.organisation_id for r in by_id.values()}
    organisations = session.scalars(
        select(Organisation).where(Organisation.id.in_(org_ids)).order_by(Organisation.id)
    ).all()
    public = view.product
    lots = [n for n in view.materials if n.lot is not None]
    all_lots = _lots(view.materials)
    timeline = [item.step for item in view.steps]
    final_qc = next(s for s in reversed(timeline) if s.kind == "qc_inspection")
    subject: dict[str, Any] = {
        "id": f"urn:uuid:{product.id}",
        "certificateNumber": number,
        "product": {
            "id": product.id,
            "serial": public.serial,
            "name": public.name,
            "category": public.category,
            "gtin": public.gtin,
            "edition": public.edition.model_dump(mode="json") if public.edition else None,
            "engraving": engraving_summary,
            "recordHash": view.record.record_hash,
        },
        "materials": [_material(node) for node in lots],
        "carbonFootprint": {
            "kgCO2e": public.carbon_kg_co2e,
            "method": "sum of lot carbon x drawn share",
        },
        "recycledShare": public.recycled_share,
        "ethics": [
            {"lot": n.lot.id, "supplier": n.lot.owner, **n.lot.ethics}
            for n in all_lots
            if n.lot is not None and n.lot.ethics
        ],
        "production": {
            "factory": product.factory_id,
            "steps": len(timeline),
            "links": product.step_count,
            "stepChainHead": product.last_step_hash,
            "kinds": [s.kind for s in timeline],
            "firstStepAt": _iso(timeline[0].occurred_at),
            "lastStepAt": _iso(timeline[-1].occurred_at),
            "finalQc": {"at": _iso(final_qc.occurred_at), "result": final_qc.result},
        },
        "design": None,
        "brand": {"id": brand.id, "name": brand.name},
        "organisations": [
            {
                "id": o.id,
                "name": o.name,
                "kind": o.kind,
                "account": Web3.to_checksum_address(o.account_address),
            }
            for o in organisations
        ],
        "records": [
            {
                "id": r.id,
                "kind": r.kind,
                "recordHash": r.record_hash,
                "organisation": by_id[r.id].organisation_id,
            }
            for r in relied
        ],
    }
    if personal_commitment is not None:
        subject["personal"] = {
            "commitment": personal_commitment,
            "scheme": "sha256(salt ‖ JCS(personal))",
        }
    status: dict[str, Any] = {
        "id": f"urn:hallmark:status:{certificate_id}",
        "type": doc.STATUS_TYPE,
        "chainId": issuer.chain_id,
        "ledger": issuer.ledger,
        "organisation": doc.organisation_bytes16(brand.id),
        "issuanceId": issuance_id,
    }
    if supersedes is not None:
        status["supersedes"] = supersedes
    return {
        "@context": [doc.VC_CONTEXT],
        "id": f"urn:uuid:{certificate_id}",
        "type": ["VerifiableCredential", doc.CREDENTIAL_TYPE],
        "issuer": {
            "id": f"urn:uuid:{brand.id}",
            "name": brand.name,
            "account": Web3.to_checksum_address(brand.account_address),
        },
        "validFrom": _iso(valid_from),
        "credentialSubject": subject,
        "credentialStatus": status,
    }


def new_number(now: datetime) -> str:
    """A certificate number: the issuing date and 40 random bits (unique column)."""
    return f"HM-{now:%Y%m%d}-{secrets.token_hex(5).upper()}"


def issue(
    *,
    session: Session,
    actor: Actor,
    issuer: Issuer,
    serial: str,
    personal: PersonalData | None = None,
    engraving_summary: str | None = None,
    order: CertificateOrder | None = None,
    supersedes: Certificate | None = None,
    account: LocalAccount | None = None,
) -> Certificate:
    """Issue a certificate for one product (see the module docstring); the caller commits.

    `supersedes`: the brand's earlier certificate of this product that the new one replaces
    (a reissue after repair, resizing or re-engraving); `account`: the brand's signing account
    when the caller decrypted it already (orders).
    """
    authorisation.require_role(actor, "certificate.issue")
    product = visibility.visible(session, actor, visibility.PRODUCT, serial, lock=True)
    if product.brand_id != actor.organisation_id:
        raise NotFoundError("product", serial)
    if product.certified_at is not None:
        raise CertificateStateError(
            f"product {serial} is already certified; reissue its certificate instead",
            certificate=None,
            state="certified",
        )
    reason = incomplete_reason(session, product)
    if reason is not None:
        raise ProductionIncompleteError(product=serial, reason=reason)
    brand = session.get(Organisation, actor.organisation_id)
    assert brand is not None
    now = datetime.now(UTC)
    certificate_id = new_record_id()
    number = new_number(now)
    salt: str | None = None
    commitment: str | None = None
    personal_fields = personal.as_dict() if personal is not None else {}
    if personal_fields:
        salt = secrets.token_hex(32)
        commitment = doc.personal_commitment(personal_fields, salt)
    issuance_id = order.issuance_id if order is not None else doc.ZERO_BYTES32
    view = provenance.build(session, product, actor.organisation_id)
    unsigned = build_document(
        session,
        product=product,
        brand=brand,
        view=view,
        certificate_id=certificate_id,
        number=number,
        issuance_id=issuance_id,
        valid_from=now,
        issuer=issuer,
        personal_commitment=commitment,
        engraving_summary=engraving_summary,
        supersedes=supersedes.certificate_hash if supersedes is not None else None,
    )
    signer = account or issuer.account_of(brand)
    signature = doc.sign(unsigned, signer)
    (stored,) = add_records(
        session,
        [
            NewRecord(
                kind="certificate",
                organisation_id=brand.id,
                data={},
                principal_id=actor.principal_id,
                record_id=certificate_id,
                document=unsigned,
            )
        ],
    )
    certificate = Certificate(
        id=certificate_id,
        number=number,
        product_id=product.id,
        organisation_id=brand.id,
        order_id=order.id if order is not None else None,
        issuance_id=issuance_id,
        certificate_hash=stored.record_hash,
        signer=signer.address,
        signature=signature,
        personal=personal_fields or None,
        personal_salt=salt,
        status="valid",
        supersedes_id=supersedes.id if supersedes is not None else None,
        created_at=now,
    )
    session.add(certificate)
    product.certified_at = now
    session.flush()
    if order is None:
        audit.append(
            session,
            actor=actor.audit,
            action="certificate.issue",
            object_kind="certificate",
            object_id=certificate_id,
            details={
                "serial": serial,
                "number": number,
                "certificate_hash": stored.record_hash,
                **({"supersedes": supersedes.id} if supersedes is not None else {}),
            },
        )
    return certificate


def find_certificate(session: Session, actor: Actor, ref: str) -> Certificate:
    """A certificate of the caller's organisation, by id or number.

    Raises:
        NotFoundError: no such certificate of the caller's organisation.
    """
    found = session.scalar(
        select(Certificate).where(
            (Certificate.id == ref) | (Certificate.number == ref),
            Certificate.organisation_id == actor.organisation_id,
        )
    )
    if found is None:
        raise NotFoundError("certificate", ref)
    return found


def create_order(
    *,
    session: Session,
    actor: Actor,
    serials: Sequence[str],
    reference: str | None = None,
) -> CertificateOrder:
    """Store an order (its serials, a fresh issuance id); `run_order` issues it.

    Raises:
        InvalidInputError: no serial, or a serial named twice. PayloadTooLargeError: too many.
    """
    authorisation.require_role(actor, "certificate.issue")
    if not serials:
        raise InvalidInputError("an order names at least one product serial")
    if len(serials) > MAX_ORDER:
        raise PayloadTooLargeError(
            f"{len(serials)} products in one order; at most {MAX_ORDER}",
            details={"rows": len(serials), "max_rows": MAX_ORDER},
        )
    if len(set(serials)) != len(serials):
        twice = sorted({s for s in serials if serials.count(s) > 1})[:10]
        raise InvalidInputError(
            f"the order names serials more than once: {', '.join(twice)}",
            details={"serials": twice},
        )
    order = CertificateOrder(
        id=new_record_id(),
        organisation_id=actor.organisation_id,
        principal_id=actor.principal_id,
        reference=reference,
        issuance_id="0x" + secrets.token_hex(32),
        status="running",
        total=len(serials),
        processed=0,
        issued=0,
        failed=0,
        serials=list(serials),
        results=[],
    )
    session.add(order)
    audit.append(
        session,
        actor=actor.audit,
        action="certificate.order",
        object_kind="certificate_order",
        object_id=order.id,
        details={"products": len(serials), "issuance_id": order.issuance_id},
    )
    return order


def run_order(
    *,
    sessions: sessionmaker[Session],
    actor: Actor,
    issuer: Issuer,
    order_id: str,
    chunk: int = ORDER_CHUNK,
) -> CertificateOrder:
    """Issue the order's certificates chunk by chunk (one transaction each), recording each
    product's outcome and the progress; resumes after the products already processed."""
    with sessions() as session:
        order = session.get(CertificateOrder, order_id)
        if order is None:
            raise NotFoundError("certificate order", order_id)
        brand = session.get(Organisation, order.organisation_id)
        assert brand is not None
        account = issuer.account_of(brand)
    while True:
        with sessions.begin() as session:
            order = session.get(CertificateOrder, order_id, with_for_update=True)
            assert order is not None
            start = order.processed
            todo = order.serials[start : start + chunk]
            if not todo:
                order.status = "done"
                order.finished_at = datetime.now(UTC)
                session.flush()
                session.expunge(order)
                return order
            results = list(order.results)
            issued = 0
            for offset, serial in enumerate(todo, start=start):
                try:
                    # `issue` checks everything before it writes, so a refused product leaves
                    # nothing in the chunk's transaction.
                    certificate = issue(
                        session=session,
                        actor=actor,
                        issuer=issuer,
                        serial=serial,
                        order=order,
                        account=account,
                    )
                except HallmarkError as exc:
                    results.append(
                        {
                            "row": offset + 1,
                            "serial": serial,
                            "status": "refused",
                            "error": {"code": exc.code, "message": exc.message},
                        }
                    )
                    continue
                issued += 1
                results.append(
                    {
                        "row": offset + 1,
                        "serial": serial,
                        "status": "issued",
                        "certificate": certificate.id,
                        "number": certificate.number,
                        "certificate_hash": certificate.certificate_hash,
                    }
                )
            order.results = results
            order.processed = start + len(todo)
            order.issued += issued
            order.failed += len(todo) - issued
            audit.append(
                session,
                actor=actor.audit,
                action="certificate.order_chunk",
                object_kind="certificate_order",
                object_id=order.id,
                details={"from": start + 1, "to": order.processed, "issued": issued},
            )


def order_of(session: Session, actor: Actor, order_id: str) -> CertificateOrder:
    """An order of the caller's organisation.

    Raises:
        NotFoundError: no such order of the caller's organisation.
    """
    order = session.get(CertificateOrder, order_id)
    if order is None or order.organisation_id != actor.organisation_id:
        raise NotFoundError("certificate order", order_id)
    return order
