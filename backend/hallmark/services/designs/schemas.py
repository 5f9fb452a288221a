"""The registry's API shapes: what a registrar sends, what a registration, search and review
look like."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.core.fields import NOT_BLANK_PATTERN, SHA256_PATTERN
from hallmark.services.designs import registry
from hallmark.services.designs.index import SimilarDesign
from hallmark.store.models import DesignRegistration, DesignReview

SIMILARITY_NOTE = (
    "Similarity is a prompt for a person, never a verdict: a flagged match asks a reviewer to "
    "compare the designs; it decides nothing about copying."
)


# What `registry.DesignFields.checked` refuses, said in the OpenAPI document as JSON Schema (the
# check itself stays there: it also serves the console's forms).
_NOT_BLANK: dict[str, Any] = {"pattern": NOT_BLANK_PATTERN}
_SHA256: dict[str, Any] = {"pattern": SHA256_PATTERN}


class LicenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: str = Field(
        description="The licence's reference (contract number, museum, motif)",
        json_schema_extra=_NOT_BLANK,
    )
    document_sha256: str = Field(
        description="SHA-256 of the signed licence document (hex)", json_schema_extra=_SHA256
    )


class DesignRegister(BaseModel):
    """The fields sent with a design file (multipart part `metadata`, JSON)."""

    model_config = ConfigDict(
        extra="forbid",
        # A signed_confirmation names its document's SHA-256; simple, none.
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["authorization", "authorization_document"],
                    "properties": {
                        "authorization": {"const": "signed_confirmation"},
                        "authorization_document": {"type": "string", **_SHA256},
                    },
                },
                {
                    "properties": {
                        "authorization": {"const": "simple"},
                        "authorization_document": {"type": "null"},
                    }
                },
            ],
        },
    )

    title: str = Field(json_schema_extra={"maxLength": 300, **_NOT_BLANK})
    owner_ref: str = Field(
        description="The owner (company, customer, co-owners) by an off-chain reference; "
        "only a salted hash of it goes on chain",
        json_schema_extra={"maxLength": 200, **_NOT_BLANK},
    )
    owner_organisation: str | None = Field(
        default=None, description="The owning Hallmark organisation's id, if the owner is one"
    )
    designers: list[str] = Field(default_factory=list)
    authorization: Literal["simple", "signed_confirmation"] = Field(
        default="simple",
        description="simple (basic customisation: a logo, text) or signed_confirmation (deep "
        "customisation: a signed copyright confirmation, whose SHA-256 is required)",
    )
    authorization_document: str | None = Field(
        default=None,
        description="SHA-256 of the signed copyright confirmation",
        json_schema_extra={"anyOf": [{"type": "string", **_SHA256}, {"type": "null"}]},
    )
    inspiration: list[str] = Field(default_factory=list, description="Inspiration sources")
    notes: str | None = None
    licences: list[LicenceIn] = Field(default_factory=list)
    parent: str | None = Field(
        default=None,
        description="The previous draft (registration number or fingerprint): drafts form a "
        "lineage chain",
    )

    def fields(self) -> registry.DesignFields:
        return registry.DesignFields(
            title=self.title,
            owner_ref=self.owner_ref,
            designers=tuple(self.designers),
            authorization=self.authorization,
            authorization_document=self.authorization_document,
            inspiration=tuple(self.inspiration),
            notes=self.notes,
            licences=tuple(
                registry.LicenceRef(lic.ref, lic.document_sha256) for lic in self.licences
            ),
            parent=self.parent,
            owner_organisation_id=self.owner_organisation,
        )


class ChainFacts(BaseModel):
    """Where the filing is on chain (empty until filed)."""

    registrant: str
    tx_hash: str | None
    block_number: int | None
    block_hash: str | None
    gas_used: int | None
    filed_at: datetime | None = Field(description="Filing time: the commitment's anchoring time")
    filed_block: int | None = Field(description="Priority: the commitment's anchoring block")
    final_at: datetime | None = Field(description="From then on no earlier filing can displace it")


class DesignPublic(BaseModel):
    """A registration as the API shows it."""

    number: str
    fingerprint: str
    status: Literal["committed", "filing", "registered", "failed"]
    failure: str | None
    file_kind: str
    file_size: int
    iscc: dict[str, Any]
    perceptual_code: str
    title: str
    designers: list[str]
    owner_ref: str
    owner_ref_hash: str
    authorization: str
    authorization_document: str | None
    creative_source: dict[str, Any]
    licences: list[dict[str, Any]]
    parent: str | None
    lineage: list[str] = Field(description="Ancestors' registration numbers, parent first")
    metadata: str = Field(description="The metadata document exactly as hashed (canonical JSON)")
    metadata_hash: str = Field(description="0x + SHA-256 of `metadata` (the on-chain value)")
    organisation: str
    registered_at: datetime = Field(description="When Hallmark accepted the registration")
    flagged: bool
    review: int | None
    chain: ChainFacts
    priority: dict[str, Any] | None = Field(
        default=None, description="The commitment behind the filing (record, batch, proof)"
    )
    thumbnail_url: str | None


class DesignsPublic(BaseModel):
    data: list[DesignPublic]
    count: int


class MatchPublic(BaseModel):
    registration: str
    fingerprint: str
    title: str
    owner_ref: str
    status: str
    flagged: bool
    code_distance: int | None
    inliers: int
    coverage: float
    shape_distance: float | None
    thumbnail_url: str | None


class ExactPublic(BaseModel):
    registration: str
    owner_ref: str
    registrant: str
    registered_at: datetime
    filed_at: datetime | None
    block_number: int | None
    tx_hash: str | None
    status: str


class SearchPublic(BaseModel):
    fingerprint: str
    exact: list[ExactPublic]
    similar: list[MatchPublic]
    note: str = SIMILARITY_NOTE


class RegisterPublic(BaseModel):
    design: DesignPublic
    matches: list[dict[str, Any]] = Field(
        description="Near-duplicates that put the registration in the review queue"
    )
    note: str = SIMILARITY_NOTE


class ReviewPublic(BaseModel):
    id: int
    registration: str
    title: str
    state: str
    matches: list[dict[str, Any]]
    note: str | None
    reviewer: str | None
    created_at: datetime
    decided_at: datetime | None
    disclaimer: str = SIMILARITY_NOTE


class ReviewsPublic(BaseModel):
    data: list[ReviewPublic]
    count: int


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["distinct", "infringing", "derived"]
    note: str | None = None


def thumbnail_url(row: DesignRegistration) -> str | None:
    return f"/api/v1/designs/{row.number}/thumbnail" if row.thumbnail_sha256 else None


def design_public(
    session: Session, row: DesignRegistration, *, with_priority: bool = True
) -> DesignPublic:
    parent = session.get(DesignRegistration, row.parent_id) if row.parent_id else None
    review = session.scalar(select(DesignReview.id).where(DesignReview.registration_id == row.id))
    iscc: dict[str, Any] = {"instance": row.instance_code, "data": row.data_code}
    images = row.fingerprint_data.get("image_codes") or []
    if images:
        iscc["image"] = images
    return DesignPublic(
        number=row.number,
        fingerprint=row.fingerprint,
        status=row.status,
        failure=row.failure,
        file_kind=row.file_kind,
        file_size=row.file_size,
        iscc=iscc,
        perceptual_code=row.perceptual_code,
        title=row.title,
        designers=list(row.designers),
        owner_ref=row.owner_ref,
        owner_ref_hash=row.owner_ref_hash,
        authorization=row.authorization,
        authorization_document=row.authorization_document,
        creative_source=dict(row.creative_source),
        licences=list(row.licences),
        parent=parent.number if parent else None,
        lineage=[r.number for r in registry.lineage(session, row)],
        metadata=row.metadata_canonical,
        metadata_hash=row.metadata_hash,
        organisation=row.organisation_id,
        registered_at=row.created_at,
        flagged=row.flagged,
        review=review,
        chain=ChainFacts(
            registrant=row.registrant,
            tx_hash=row.tx_hash if row.status == "registered" else None,
            block_number=row.block_number,
            block_hash=row.block_hash,
            gas_used=row.gas_used,
            filed_at=row.filed_at,
            filed_block=row.filed_block,
            final_at=row.final_at,
        ),
        priority=registry.priority_evidence(session, row) if with_priority else None,
        thumbnail_url=thumbnail_url(row),
    )


def match_public(row: DesignRegistration, similar: SimilarDesign) -> MatchPublic:
    return MatchPublic(
        registration=row.number,
        fingerprint=row.fingerprint,
        title=row.title,
        owner_ref=row.owner_ref,
        status=row.status,
        flagged=similar.flagged,
        code_distance=similar.code_distance,
        inliers=similar.inliers,
        coverage=round(similar.coverage, 4),
        shape_distance=None if similar.shape_distance is None else round(similar.shape_distance, 5),
        thumbnail_url=thumbnail_url(row),
    )


def exact_public(row: DesignRegistration) -> ExactPublic:
    return ExactPublic(
        registration=row.number,
        owner_ref=row.owner_ref,
        registrant=row.registrant,
        registered_at=row.created_at,
        filed_at=row.filed_at,
        block_number=row.block_number,
        tx_hash=row.tx_hash if row.status == "registered" else None,
        status=row.status,
    )


def review_public(review: DesignReview, row: DesignRegistration) -> ReviewPublic:
    return ReviewPublic(
        id=review.id,
        registration=row.number,
        title=row.title,
        state=review.state,
        matches=list(review.matches),
        note=review.note,
        reviewer=review.reviewer_id,
        created_at=review.created_at,
        decided_at=review.decided_at,
    )
