"""Certificates' request and answer shapes (the API's and the CLI's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from hallmark.core.fields import Input, ShortText
from hallmark.services.certificates.issuance import MAX_ORDER
from hallmark.services.records.schemas import Serial
from hallmark.store.models import Certificate, CertificateOrder, CertificateOrderOutcome

Sha256Hex = Annotated[str, Field(pattern=r"^(0x)?[0-9a-fA-F]{64}$")]

ReasonName = Literal[
    "issued_in_error",
    "data_error",
    "key_compromised",
    "withdrawn",
    "lost_in_production",
    "fraud",
    "other",
]


class PersonalIn(Input):
    """Personal data: never in the signed document, only its salted commitment."""

    owner: ShortText | None = Field(None, description="The owner's name")
    engraving: ShortText | None = Field(None, description="Engraved text that names people")


class CertificateCreate(Input):
    serial: Serial
    engraving_summary: ShortText | None = Field(
        None, description="What is engraved, without naming people (public, signed)"
    )
    personal: PersonalIn | None = None
    design: ShortText | None = Field(
        None,
        description="The registered design the piece was made from (registration number or "
        "fingerprint); default: the registration the product's design_reference names, if any. "
        "It must be filed on chain and final",
    )
    design_licence: Sha256Hex | None = Field(
        None,
        description="SHA-256 of the signed licence the brand makes the design under (recorded "
        "on chain for that design, in force)",
    )


class CertificateReissue(Input):
    engraving_summary: ShortText | None = None
    personal: PersonalIn | None = None


class RevocationCreate(Input):
    reason: ReasonName = Field(description="Why: its code goes on chain")


class OrderCreate(Input):
    serials: list[Serial] = Field(
        min_length=1,
        description="The products, each once",
        # Said in the document; `issuance.create_order` refuses them (422, and 413 past the size).
        json_schema_extra={"uniqueItems": True, "maxItems": MAX_ORDER},
    )
    reference: ShortText | None = Field(None, description="The brand's own order reference")


class PersonalPublic(BaseModel):
    """For the owner: the data and the salt that open the document's commitment."""

    data: dict[str, str]
    salt: str


class CertificatePublic(BaseModel):
    id: str
    number: str
    product: str = Field(description="The product's id")
    certificate_hash: str
    issuance_id: str
    order: str | None
    signer: str
    status: str = Field(description="valid | revoked | superseded (as Hallmark last sent it)")
    revoke_reason: int | None
    revoked_at: datetime | None
    supersedes: str | None
    superseded_by: str | None
    created_at: datetime
    personal: PersonalPublic | None

    @classmethod
    def of(cls, certificate: Certificate) -> CertificatePublic:
        personal = None
        if certificate.personal and certificate.personal_salt:
            personal = PersonalPublic(data=certificate.personal, salt=certificate.personal_salt)
        return cls(
            id=certificate.id,
            number=certificate.number,
            product=certificate.product_id,
            certificate_hash=certificate.certificate_hash,
            issuance_id=certificate.issuance_id,
            order=certificate.order_id,
            signer=certificate.signer,
            status=certificate.status,
            revoke_reason=certificate.revoke_reason,
            revoked_at=certificate.revoked_at,
            supersedes=certificate.supersedes_id,
            superseded_by=certificate.superseded_by_id,
            created_at=certificate.created_at,
            personal=personal,
        )


class OrderPublic(BaseModel):
    id: str
    reference: str | None
    issuance_id: str
    status: str = Field(description="running | done")
    total: int
    processed: int = Field(description="Products processed so far (the progress)")
    issued: int
    failed: int
    results_from: int = Field(0, description="The index of the first outcome in `results`")
    results: list[dict[str, Any]] = Field(
        description="Per product, in order: issued (certificate, number, hash) or refused "
        "(error); the ones asked for (`results_from`, `results_limit`), all by default"
    )
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(
        cls,
        order: CertificateOrder,
        outcomes: Sequence[CertificateOrderOutcome] = (),
        results_from: int = 0,
    ) -> OrderPublic:
        """The order with `outcomes`, its outcomes from `results_from` (`issuance.outcomes`)."""
        return cls(
            id=order.id,
            reference=order.reference,
            issuance_id=order.issuance_id,
            status=order.status,
            total=order.total,
            processed=order.processed,
            issued=order.issued,
            failed=order.failed,
            results_from=results_from,
            results=[outcome.as_result() for outcome in outcomes],
            created_at=order.created_at,
            finished_at=order.finished_at,
        )
