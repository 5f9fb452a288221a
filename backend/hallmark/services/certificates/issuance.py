"""Issuing certificates: one product, or a whole B2B order.

Flow of one issuance (`issue`): check the role (brand), load and lock the product (only a
product the brand accepted), refuse it unless its production is complete (`incomplete_reason`:
accepted by the brand, materials drawn, a step chain that verifies, a passing final QC with no
manufacturing step after it) or already certified; read its provenance (materials with their
lots, origins, external certificates, carbon, ethics; the step timeline), build the document
(`build_document`) with the registered design it names (`DesignChoice`, resolved against the
registry and the chain by `prepare_design` before the transaction: no chain call inside it),
sign it with the brand's account (EIP-712), and store it as a record of kind
`certificate` whose canonical text is the document itself, queued for anchoring in the same
transaction, with the certificate row; mark the product certified; one audit entry.

An order (`create_order`, then `run_order`) stores the order with the serials first, then issues
in chunks of `ORDER_CHUNK` products, one transaction per chunk: each product's outcome (issued,
or refused with its reason) is inserted as a row of `certificate_order_outcomes` (the chunk's
rows alone, in bulk; `outcomes` reads a page of them by position), and the order's `processed`
count is the progress a client polls. A chunk's complete products are read together in a few
set-based queries (`_chunk_stories`: the same story `issue` reads for one product, checked by
the same rules) and their certificates built by the same `build_document`, signed and inserted
in bulk (`_issue_chunk`); every other product goes through `issue`, which issues or refuses it
alone.
Every certificate of an order names the order's issuance id, so the brand can
revoke the whole order on chain with one transaction.

Raises:
    PermissionDeniedError: a role other than brand.
    NotFoundError: an unknown product, or one the brand has not accepted.
    ProductionIncompleteError: production is not complete (the reason says what is missing).
    CertificateStateError: the product is already certified (reissue instead).
    InvalidInputError: an empty order, or one naming a serial twice.
    DesignNotCertifiableError: the named design is not filed on chain and final, or the named
        licence is not recorded and in force.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session, defer, sessionmaker
from web3 import Web3

from hallmark.core.errors import (
    CertificateStateError,
    DesignNotCertifiableError,
    HallmarkError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ProductionIncompleteError,
)
from hallmark.services.access import audit, authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.certificates import document as doc
from hallmark.services.records import products, provenance, steps, views, visibility
from hallmark.services.records.schemas import ChainReport, Edition, MaterialNode, Provenance
from hallmark.store.bulk import bulk_insert
from hallmark.store.models import (
    AuditEntry,
    Base,
    Certificate,
    CertificateOrder,
    CertificateOrderOutcome,
    LotDraw,
    Organisation,
    Product,
    ProductionStep,
    Record,
)
from hallmark.store.records import (
    NewRecord,
    add_records,
    insert_records,
    new_record_id,
    prepare_records,
)

#: Step kinds that may follow the final QC: the piece is finished, only packed and sent.
AFTER_FINAL_QC = frozenset({"packaging", "shipping"})
#: Products issued per transaction of an order.
ORDER_CHUNK = 1000
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
    #: The certificate's `design` section for a registration and an optional licence document
    #: (reads the registry and the chain; raises DesignNotCertifiableError). None: no registry.
    design_of: Callable[[str, str | None], dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class DesignChoice:
    """The design a certificate names, resolved before the issuing transaction: the
    registration asked for (None: the product names none) and its `design` section."""

    ref: str | None = None
    section: dict[str, Any] | None = None


_FINGERPRINT = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def names_registration(reference: str | None) -> bool:
    """Whether a product's `design_reference` names a design registration (a `D-…` number or
    a fingerprint); other text is the brand's own design reference, not a registration."""
    if reference is None:
        return False
    reference = reference.strip()
    return reference.upper().startswith("D-") or bool(_FINGERPRINT.match(reference))


def product_design_reference(session: Session, product: Product) -> str | None:
    """The `design_reference` of the product's creation record."""
    canonical = session.scalar(select(Record.canonical).where(Record.id == product.record_id))
    assert canonical is not None
    reference = json.loads(canonical).get("data", {}).get("design_reference")
    return None if reference is None else str(reference)


def resolve_design(issuer: Issuer, ref: str | None, licence: str | None) -> DesignChoice:
    """The design section for registration `ref` (None: no design; a licence then is refused).

    Raises:
        DesignNotCertifiableError: see `Issuer.design_of`; a licence named without a design.
    """
    if ref is None:
        if licence is not None:
            raise InvalidInputError(
                "a design licence is named only with the design it licenses",
                details={"invalid_field": "design_licence"},
            )
        return DesignChoice()
    if issuer.design_of is None:
        raise DesignNotCertifiableError(ref, "this installation has no design registry")
    return DesignChoice(ref, issuer.design_of(ref, licence))


def prepare_design(
    *,
    sessions: sessionmaker[Session],
    actor: Actor,
    issuer: Issuer,
    serial: str,
    requested: str | None = None,
    licence: str | None = None,
) -> DesignChoice:
    """The design the certificate of product `serial` names: `requested` (a registration
    number or fingerprint), else the registration the product's `design_reference` names (if
    it names one), resolved against the registry and the chain. Call it before `issue`'s
    transaction.

    Raises:
        NotFoundError: no such product visible to the caller.
        DesignNotCertifiableError: the design is not filed and final (or the licence not in
            force).
    """
    if requested is None:
        with sessions() as session:
            product = visibility.visible(session, actor, visibility.PRODUCT, serial)
            own = product_design_reference(session, product)
        requested = own.strip() if names_registration(own) and own is not None else None
    return resolve_design(issuer, requested, licence)


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
    return _incomplete(
        product,
        drawn=drawn is not None,
        chain=lambda: steps.verify_chain(session, product),
        timeline=lambda: [(s.kind, s.result) for s, _ in steps.timeline(session, product)],
    )


def _incomplete(
    product: Product,
    *,
    drawn: bool,
    chain: Callable[[], ChainReport],
    timeline: Callable[[], Sequence[tuple[str, str | None]]],
) -> str | None:
    """`incomplete_reason` of an accepted product, from whether it drew material, its step
    chain's check and its timeline (each step's current kind and result, in order)."""
    if not drawn:
        return "no material was drawn for it"
    if product.step_count == 0:
        return "it has no production step"
    report = chain()
    if not report.intact:
        broken = report.first_broken
        return f"its step chain does not verify ({broken.reason if broken else 'broken'})"
    kinds = timeline()
    last_qc = max((i for i, (kind, _) in enumerate(kinds) if kind == "qc_inspection"), default=None)
    if last_qc is None:
        return "it has no final QC inspection"
    if kinds[last_qc][1] != "pass" or product.qc_state != "pass":
        return "its final QC inspection did not pass"
    open_steps = [kind for kind, _ in kinds[last_qc + 1 :] if kind not in AFTER_FINAL_QC]
    if open_steps:
        return f"steps after the final QC inspection: {', '.join(open_steps)}"
    return None


@lru_cache(maxsize=1024)
def _checksummed(address: str) -> str:
    """EIP-55 form of an organisation's account: an order's documents name the same few
    accounts thousands of times, and eth-utils hashes each time (0.25 ms)."""
    return str(Web3.to_checksum_address(address))


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


@dataclass(frozen=True, slots=True)
class Known:
    """Read once for many certificates: each record's writing organisation, by record id, and
    the organisations, by id, in the database's order of their ids."""

    writers: Mapping[str, str]
    organisations: Mapping[str, Organisation]


class RecordLike(Protocol):
    """What a certificate names of a record it relies on."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def record_hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RecordFacts:
    id: str
    kind: str
    record_hash: str


@dataclass(frozen=True, slots=True)
class StoryStep:
    """A step of the timeline: its current kind, time and result, and every version's record."""

    kind: str
    occurred_at: datetime
    result: str | None
    records: Sequence[RecordLike]


@dataclass(frozen=True, slots=True)
class Story:
    """What a certificate states of a product's provenance: its creation record, the records of
    its later material additions, its materials tree, its timeline and its public facts. Read
    from its `Provenance` (`of`, one product) or, for an order, from rows loaded for many
    products at once (`_chunk_stories`); both give the same document (tests/certificates/
    test_bulk_issuance.py)."""

    record: RecordLike
    material_records: Sequence[RecordLike]
    materials: Sequence[MaterialNode]
    steps: Sequence[StoryStep]
    serial: str
    name: str
    category: str
    gtin: str | None
    edition: dict[str, Any] | None
    carbon_kg_co2e: str | None
    recycled_share: str | None

    @classmethod
    def of(cls, view: Provenance) -> Story:
        public = view.product
        return cls(
            record=view.record,
            material_records=view.material_records,
            materials=view.materials,
            steps=[
                StoryStep(
                    kind=item.step.kind,
                    occurred_at=item.step.occurred_at,
                    result=item.step.result,
                    records=item.records,
                )
                for item in view.steps
            ],
            serial=public.serial,
            name=public.name,
            category=public.category,
            gtin=public.gtin,
            edition=public.edition.model_dump(mode="json") if public.edition else None,
            carbon_kg_co2e=public.carbon_kg_co2e,
            recycled_share=public.recycled_share,
        )


def relied_records(view: Story) -> list[RecordLike]:
    """Every record the certificate relies on: the product's creation and material records,
    each lot's current record (drawn lots and the lots they came from) and every version of
    every step, in that order, each once."""
    records: dict[str, RecordLike] = {}
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
    view: Story,
    certificate_id: str,
    number: str,
    issuance_id: str,
    valid_from: datetime,
    issuer: Issuer,
    personal_commitment: str | None,
    engraving_summary: str | None,
    supersedes: str | None,
    design: dict[str, Any] | None = None,
    known: Known | None = None,
) -> dict[str, Any]:
    """The unsigned certificate document (see `document`), from the product's story.

    `known`: the writing organisation of every record relied on and the organisations, when
    the caller read them already (orders); otherwise they are read here."""
    relied = relied_records(view)
    if known is None:
        by_id = views.records_by_id(session, [r.id for r in relied])
        writers = {r.id: by_id[r.id].organisation_id for r in relied}
        org_ids = {brand.id, product.factory_id, *writers.values()}
        organisations = list(
            session.scalars(
                select(Organisation).where(Organisation.id.in_(org_ids)).order_by(Organisation.id)
            ).all()
        )
    else:
        writers = {r.id: known.writers[r.id] for r in relied}
        org_ids = {brand.id, product.factory_id, *writers.values()}
        organisations = [o for o in known.organisations.values() if o.id in org_ids]
    lots = [n for n in view.materials if n.lot is not None]
    all_lots = _lots(view.materials)
    timeline = view.steps
    final_qc = next(s for s in reversed(timeline) if s.kind == "qc_inspection")
    subject: dict[str, Any] = {
        "id": f"urn:uuid:{product.id}",
        "certificateNumber": number,
        "product": {
            "id": product.id,
            "serial": view.serial,
            "name": view.name,
            "category": view.category,
            "gtin": view.gtin,
            "edition": view.edition,
            "engraving": engraving_summary,
            "recordHash": view.record.record_hash,
        },
        "materials": [_material(node) for node in lots],
        "carbonFootprint": {
            "kgCO2e": view.carbon_kg_co2e,
            "method": "sum of lot carbon x drawn share",
        },
        "recycledShare": view.recycled_share,
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
        "design": design,
        "brand": {"id": brand.id, "name": brand.name},
        "organisations": [
            {
                "id": o.id,
                "name": o.name,
                "kind": o.kind,
                "account": _checksummed(o.account_address),
            }
            for o in organisations
        ],
        "records": [
            {
                "id": r.id,
                "kind": r.kind,
                "recordHash": r.record_hash,
                "organisation": writers[r.id],
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
            "account": _checksummed(brand.account_address),
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
    design: DesignChoice | None = None,
) -> Certificate:
    """Issue a certificate for one product (see the module docstring); the caller commits.

    `supersedes`: the brand's earlier certificate of this product that the new one replaces
    (a reissue after repair, resizing or re-engraving); `account`: the brand's signing account
    when the caller decrypted it already (orders); `design`: the design it names, from
    `prepare_design` (a product whose `design_reference` names a registration is refused
    without it).
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
    design = design or DesignChoice()
    own = product_design_reference(session, product)
    if design.ref is None and names_registration(own):
        assert own is not None
        raise DesignNotCertifiableError(own, "it was not checked against the registry")
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
        view=Story.of(view),
        certificate_id=certificate_id,
        number=number,
        issuance_id=issuance_id,
        valid_from=now,
        issuer=issuer,
        personal_commitment=commitment,
        engraving_summary=engraving_summary,
        supersedes=supersedes.certificate_hash if supersedes is not None else None,
        design=design.section,
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
                **({"design": design.section["registration"]} if design.section else {}),
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


def _design_refs(session: Session, serials: Sequence[str]) -> dict[str, str]:
    """The registration each product of `serials` names in its `design_reference` (products
    that name none, or do not exist, are left out)."""
    rows = session.execute(
        select(Product.serial, Record.canonical)
        .join(Record, Record.id == Product.record_id)
        .where(Product.serial.in_(list(serials)))
    ).all()
    found: dict[str, str] = {}
    for serial, canonical in rows:
        reference = json.loads(canonical).get("data", {}).get("design_reference")
        if names_registration(reference):
            found[serial] = str(reference).strip()
    return found


_OCCURRED_AT: TypeAdapter[datetime] = TypeAdapter(datetime)
_CERTIFICATES = Base.metadata.tables[Certificate.__tablename__]
_OUTCOMES = Base.metadata.tables[CertificateOrderOutcome.__tablename__]
_OUTCOME_FIELDS = ("certificate_id", "number", "certificate_hash", "error_code", "error_message")


def _outcome(order_id: str, position: int, serial: str, status: str) -> dict[str, Any]:
    """An outcome row with every column (the bulk insert takes rows with the same keys)."""
    row: dict[str, Any] = {
        "order_id": order_id,
        "position": position,
        "serial": serial,
        "status": status,
    }
    return row | dict.fromkeys(_OUTCOME_FIELDS)


def _facts(record: Record) -> RecordFacts:
    return RecordFacts(record.id, record.kind, record.record_hash)


def _story_steps(rows: Sequence[tuple[ProductionStep, Record | None]]) -> list[StoryStep]:
    """The timeline of `steps.timeline` from a product's step rows (`steps.chains_of`)."""
    records = {step.id: record for step, record in rows if record is not None}
    timeline: list[StoryStep] = []
    for chain in steps.versions([step for step, _ in rows]):
        latest = records.get(chain[-1].id)
        if latest is None:
            continue
        data = views.document(latest)["data"]
        timeline.append(
            StoryStep(
                kind=data["kind"],
                occurred_at=_OCCURRED_AT.validate_python(data["occurred_at"]),
                result=data.get("result"),
                records=[_facts(records[r.id]) for r in chain if r.id in records],
            )
        )
    return timeline


def _kinds(timeline: Sequence[StoryStep]) -> list[tuple[str, str | None]]:
    return [(step.kind, step.result) for step in timeline]


def _chunk_stories(
    session: Session, actor: Actor, serials: Sequence[str]
) -> tuple[dict[str, tuple[Product, Story]], Known]:
    """The products of `serials` an order can issue without reading each one alone: the
    brand's own, accepted, not certified, production complete, read together in a few
    set-based queries (one product alone takes some forty), each with its story; and the
    record writers and organisations their documents name. Every other product is left out:
    `issue` issues or refuses it alone, with its reason. The products are locked.

    Raises:
        HallmarkError: a stored record fails its integrity check (then every product of the
            chunk goes through `issue`, which refuses exactly the affected ones).
    """
    rows_of = list(
        session.scalars(
            select(Product)
            .where(
                Product.serial.in_(list(serials)),
                Product.brand_id == actor.organisation_id,
                Product.brand_accepted_at.is_not(None),
                Product.certified_at.is_(None),
            )
            .order_by(Product.id)
            .with_for_update()
        )
    )
    materials = provenance.materials_of(session, rows_of, actor.organisation_id)
    chains = steps.chains_of(session, [p.id for p in rows_of])
    own = views.records_by_id(
        session,
        [i for p in rows_of for i in (p.record_id, *materials[p.id].material_record_ids)],
    )
    stories: dict[str, tuple[Product, Story]] = {}
    for product in rows_of:
        found, rows = materials[product.id], chains.get(product.id, [])
        timeline = _story_steps(rows)
        reason = _incomplete(
            product,
            drawn=bool(found.draws),
            chain=partial(steps.check_links, product, rows),
            timeline=partial(_kinds, timeline),
        )
        if reason is not None:
            continue
        data = views.document(own[product.record_id])["data"]
        for record_id in found.material_record_ids:
            views.document(own[record_id])
        edition = data.get("edition")
        share, carbon = products.material_totals(
            [(draw, lot) for draw, lot in found.draws if lot is not None]
        )
        stories[product.serial] = (
            product,
            Story(
                record=_facts(own[product.record_id]),
                material_records=[_facts(own[i]) for i in found.material_record_ids],
                materials=found.materials,
                steps=timeline,
                serial=product.serial,
                name=data["name"],
                category=data["category"],
                gtin=data.get("gtin"),
                edition=(
                    None
                    if edition is None
                    else Edition.model_validate(edition).model_dump(mode="json")
                ),
                carbon_kg_co2e=carbon,
                recycled_share=share,
            ),
        )
    relied = {r.id: r for _, story in stories.values() for r in relied_records(story)}
    records = views.records_by_id(session, list(relied))
    # Every record relied on is checked as `issue` checks it: its text, and once anchored its
    # proof and root (raises RecordIntegrityError).
    views.anchoring_of(session, list(records.values()))
    writers = {i: r.organisation_id for i, r in records.items()}
    org_ids = {actor.organisation_id, *writers.values()}
    org_ids |= {product.factory_id for product, _ in stories.values()}
    organisations = session.scalars(
        select(Organisation).where(Organisation.id.in_(org_ids)).order_by(Organisation.id)
    )
    return stories, Known(writers, {o.id: o for o in organisations})


def _issue_chunk(
    session: Session,
    *,
    actor: Actor,
    issuer: Issuer,
    order: CertificateOrder,
    account: LocalAccount,
    stories: Sequence[tuple[Product, Story, DesignChoice]],
    known: Known,
) -> list[dict[str, Any]]:
    """Issue certificates for products `_chunk_stories` found complete, as `issue` does for
    one, with their records, queue entries and certificate rows inserted in bulk; the rows."""
    brand = known.organisations[actor.organisation_id]
    made: list[dict[str, Any]] = []
    documents: list[NewRecord] = []
    for product, story, design in stories:
        now = datetime.now(UTC)
        certificate_id = new_record_id()
        number = new_number(now)
        documents.append(
            NewRecord(
                kind="certificate",
                organisation_id=brand.id,
                data={},
                principal_id=actor.principal_id,
                record_id=certificate_id,
                document=build_document(
                    session,
                    product=product,
                    brand=brand,
                    view=story,
                    certificate_id=certificate_id,
                    number=number,
                    issuance_id=order.issuance_id,
                    valid_from=now,
                    issuer=issuer,
                    personal_commitment=None,
                    engraving_summary=None,
                    supersedes=None,
                    design=design.section,
                    known=known,
                ),
            )
        )
        made.append(
            {
                "id": certificate_id,
                "number": number,
                "product_id": product.id,
                "organisation_id": brand.id,
                "order_id": order.id,
                "issuance_id": order.issuance_id,
                "signer": account.address,
                "personal": None,
                "personal_salt": None,
                "status": "valid",
                "supersedes_id": None,
                "created_at": now,
            }
        )
        product.certified_at = now
    prepared = prepare_records(documents)
    for row, document, stored in zip(made, documents, prepared.stored, strict=True):
        assert document.document is not None
        row["certificate_hash"] = stored.record_hash
        row["signature"] = doc.sign(document.document, account, stored.record_hash)
    insert_records(session, [prepared])
    columns = [c.name for c in _CERTIFICATES.columns if c.name in made[0]]
    bulk_insert(session, _CERTIFICATES, [{c: row[c] for c in columns} for row in made])
    session.flush()
    return made


def run_order(
    *,
    sessions: sessionmaker[Session],
    actor: Actor,
    issuer: Issuer,
    order_id: str,
    chunk: int = ORDER_CHUNK,
    stop: threading.Event | None = None,
) -> CertificateOrder:
    """Issue the order's certificates chunk by chunk (one transaction each), recording each
    product's outcome and the progress; resumes after the products already processed.

    A chunk's certificates, outcomes and progress commit together, so a process stopped (or
    killed) mid-order loses at most the chunk it was issuing, and a later run (`resume_orders`)
    goes on from the saved progress: no product is issued twice (the order row is locked and
    its progress read again in each chunk's transaction, and a certified product is refused).
    The designs the chunk's products name are resolved before its transaction (they read the
    chain). `stop` set: return after the current chunk, the order still running.
    """
    with sessions() as session:
        order = session.get(CertificateOrder, order_id)
        if order is None:
            raise NotFoundError("certificate order", order_id)
        brand = session.get(Organisation, order.organisation_id)
        assert brand is not None
        account = issuer.account_of(brand)
    designs: dict[str, DesignChoice | HallmarkError] = {}
    while True:
        with sessions() as session:
            # Not the whole row: the serials are read to plan the chunk, its design lookups
            # done before its transaction.
            serials, processed = session.execute(
                select(CertificateOrder.serials, CertificateOrder.processed).where(
                    CertificateOrder.id == order_id
                )
            ).one()
            planned = list(serials[processed : processed + chunk])
            refs = _design_refs(session, planned) if planned else {}
        for ref in set(refs.values()) - designs.keys():
            try:
                designs[ref] = resolve_design(issuer, ref, None)
            except HallmarkError as exc:
                designs[ref] = exc
        with sessions.begin() as session:
            # The serials never change once stored: the same progress means the same chunk.
            order = session.get(
                CertificateOrder,
                order_id,
                with_for_update=True,
                options=[defer(CertificateOrder.serials)],
            )
            assert order is not None
            start = order.processed
            if start != processed:
                continue  # another run went on meanwhile: plan the chunk again
            todo = planned
            if not todo:
                if order.status != "done":
                    order.status = "done"
                    order.finished_at = datetime.now(UTC)
                session.flush()
                session.expunge(order)
                return order
            outcomes: list[dict[str, Any]] = []
            issued = 0
            try:
                fast, known = _chunk_stories(session, actor, todo)
            except HallmarkError:
                fast, known = {}, Known({}, {})
            ready: list[tuple[Product, Story, DesignChoice]] = []
            for serial, (product, story) in fast.items():
                chosen = designs.get(refs[serial]) if serial in refs else DesignChoice()
                if isinstance(chosen, DesignChoice):
                    ready.append((product, story, chosen))
            bulk = (
                {
                    row["product_id"]: (row["id"], row["number"], row["certificate_hash"])
                    for row in _issue_chunk(
                        session,
                        actor=actor,
                        issuer=issuer,
                        order=order,
                        account=account,
                        stories=ready,
                        known=known,
                    )
                }
                if ready
                else {}
            )
            for offset, serial in enumerate(todo, start=start):
                design = designs.get(refs[serial]) if serial in refs else None
                try:
                    if isinstance(design, HallmarkError):
                        raise design
                    if serial in fast and fast[serial][0].id in bulk:
                        made = bulk[fast[serial][0].id]
                    else:
                        # `issue` checks everything before it writes, so a refused product leaves
                        # nothing in the chunk's transaction.
                        certificate = issue(
                            session=session,
                            actor=actor,
                            issuer=issuer,
                            serial=serial,
                            order=order,
                            account=account,
                            design=design,
                        )
                        made = (certificate.id, certificate.number, certificate.certificate_hash)
                except HallmarkError as exc:
                    outcomes.append(
                        _outcome(order.id, offset, serial, "refused")
                        | {"error_code": exc.code, "error_message": exc.message}
                    )
                    continue
                issued += 1
                outcomes.append(
                    _outcome(order.id, offset, serial, "issued")
                    | {"certificate_id": made[0], "number": made[1], "certificate_hash": made[2]}
                )
            # The chunk's outcomes alone: the ones of earlier chunks stay as they were written.
            bulk_insert(session, _OUTCOMES, outcomes)
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
        if stop is not None and stop.is_set():
            with sessions() as session:
                order = session.get(CertificateOrder, order_id)
                assert order is not None
                session.expunge(order)
                return order


def order_actor(session: Session, order: CertificateOrder) -> Actor:
    """The brand's caller that placed the order (its principal and API key, as the order's
    audit entry names them), to go on issuing in its name."""
    entry = session.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.action == "certificate.order",
            AuditEntry.object_kind == "certificate_order",
            AuditEntry.object_id == order.id,
        )
        .limit(1)
    )
    return Actor(
        organisation_id=order.organisation_id,
        organisation_kind="brand",
        principal_id=order.principal_id or (entry.principal_id if entry else None) or "",
        api_key_id=(entry.api_key_id if entry else None) or "",
        role="brand",
    )


def resume_orders(
    *,
    sessions: sessionmaker[Session],
    issuer: Issuer,
    chunk: int = ORDER_CHUNK,
    stop: threading.Event | None = None,
) -> list[str]:
    """Go on with every order left `running` (by a process that stopped or was killed mid-order),
    each from its saved progress; the ids of the orders finished."""
    with sessions() as session:
        running = list(
            session.scalars(
                select(CertificateOrder)
                .where(CertificateOrder.status == "running")
                .order_by(CertificateOrder.created_at)
            )
        )
        actors = {order.id: order_actor(session, order) for order in running}
    finished = []
    for order_id, actor in actors.items():
        if stop is not None and stop.is_set():
            break
        order = run_order(
            sessions=sessions,
            actor=actor,
            issuer=issuer,
            order_id=order_id,
            chunk=chunk,
            stop=stop,
        )
        if order.status == "done":
            finished.append(order_id)
    return finished


def order_of(session: Session, actor: Actor, order_id: str) -> CertificateOrder:
    """An order of the caller's organisation.

    Raises:
        NotFoundError: no such order of the caller's organisation.
    """
    order = session.get(CertificateOrder, order_id)
    if order is None or order.organisation_id != actor.organisation_id:
        raise NotFoundError("certificate order", order_id)
    return order


def outcomes(
    session: Session, order_id: str, start: int = 0, limit: int | None = None
) -> list[CertificateOrderOutcome]:
    """An order's outcomes from position `start` (0-based), at most `limit` of them, in order:
    a range of the (order, position) key, so a page costs its own rows only."""
    if limit == 0:
        return []
    query = (
        select(CertificateOrderOutcome)
        .where(
            CertificateOrderOutcome.order_id == order_id,
            CertificateOrderOutcome.position >= start,
        )
        .order_by(CertificateOrderOutcome.position)
    )
    if limit is not None:
        query = query.where(CertificateOrderOutcome.position < start + limit)
    return list(session.scalars(query))
