"""Verification, public (no API key): a stored certificate's verdict and facts, checked against
the chain; and the same for a certificate document (with or without its bundle) someone kept."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from hallmark.api.deps import RuntimeDep
from hallmark.api.ratelimit import check_verify_rate
from hallmark.core.errors import NotFoundError
from hallmark.core.fields import Input
from hallmark.runtime import Runtime
from hallmark.services.certificates import verification

router = APIRouter(tags=["verification"])
#: The public verification's answer over its limit (`hallmark.api.ratelimit`).
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "This client address asked too often (`verify_rate_limit`): "
        "`rate_limited`, with Retry-After"
    }
}
_CACHE_LOCK = threading.Lock()

#: The key of a verification's JSON among its renditions.
JSON_RENDITION = "json"
#: A certificate's id (36 characters) or number; anything longer is no certificate's.
MAX_REF_LENGTH = 64

CertificateRef = Annotated[
    str, Path(max_length=MAX_REF_LENGTH, description="The certificate's id or number")
]
Verdict = Literal["genuine", "revoked", "superseded", "unknown", "tampered"]


class CheckPublic(BaseModel):
    name: str = Field(
        description="document, hash, signature, chain, issuer, merkle, anchored, "
        "status, bundle (docs/VERIFY.md, section 4)"
    )
    ok: bool
    detail: str = Field(description="What the check found")


class EvidencePublic(BaseModel):
    """How one record was checked, and where it stands on chain."""

    record: str
    kind: str
    record_hash: str
    organisation: str = Field(description="Its organisation's name in the who-is-who table")
    organisation_kind: str | None
    checked: bool = Field(
        description="Its text hashed to its hash, its proof led to its root, and the ledger holds "
        "that root as anchored, as this kind, by its organisation's account"
    )
    note: str
    account: str | None = Field(description="The account that anchored it")
    root: str | None
    block: int | None = Field(description="The block it was anchored in")
    transaction: str | None
    anchored_at: datetime | None = Field(description="The block's time, as the ledger holds it")


class CertificateSummary(BaseModel):
    id: str | None
    number: str
    hash: str | None
    issuer: dict[str, Any]
    valid_from: datetime | None
    evidence: EvidencePublic | None


class RevocationPublic(BaseModel):
    cause: str = Field(
        description="certificate_revoked, issuance_revoked, batch_flagged or anchorer_compromised"
    )
    reason_code: int
    reason: str
    at: datetime | None


class SuccessorPublic(BaseModel):
    hash: str
    anchorer: str
    root: str
    at: datetime | None
    id: str | None = Field(description="The successor's id, when Hallmark holds it")
    number: str | None
    page: str | None = Field(description="The successor's verify page (a path)")


class StatedFact(BaseModel):
    statement: dict[str, Any] = Field(description="As the signed certificate states it")
    evidence: EvidencePublic | None = Field(description="The record it comes from")


class StepPublic(BaseModel):
    sequence: int
    kind: str
    occurred_at: datetime | None
    result: str | None
    evidence: EvidencePublic


class TimelinePublic(BaseModel):
    summary: Any = Field(description="The certificate's production summary")
    steps: list[StepPublic] = Field(description="Each step's record (with a bundle)")


class CarbonPublic(BaseModel):
    footprint: Any
    recycled_share: Any


class FactsPublic(BaseModel):
    product: StatedFact | None
    materials: list[StatedFact]
    timeline: TimelinePublic
    design: Any = Field(description="The registered design, null when none is linked")
    carbon: CarbonPublic
    ethics: list[Any]


class VerificationPublic(BaseModel):
    """A certificate's verdict, each check of the verifier, and its facts with their evidence."""

    verdict: Verdict
    ok: bool = Field(description="genuine, every check passed")
    checked_at_block: int | None = Field(description="The latest block when it was checked")
    anchored: bool = Field(description="The certificate carries its anchoring evidence")
    records_checked: bool = Field(description="Every record of its bundle was checked")
    certificate: CertificateSummary | None
    revocation: RevocationPublic | None
    successor: SuccessorPublic | None
    checks: list[CheckPublic]
    facts: FactsPublic
    page: str | None = Field(description="This certificate's verify page (a path)")

    @classmethod
    def of(cls, found: verification.Verification) -> VerificationPublic:
        answer = found.as_json()
        if answer["successor"] is not None:
            successor_id = answer["successor"]["id"]
            answer["successor"]["page"] = f"/v/{successor_id}" if successor_id else None
        answer["page"] = f"/v/{found.certificate_id}" if found.certificate_id else None
        return cls.model_validate(answer)


class VerifyRequest(Input):
    document: dict[str, Any] = Field(description="The certificate document, as kept (JSON)")
    bundle: dict[str, Any] | None = Field(
        None, description="Its provenance bundle, to check every record the story relies on"
    )


def verification_cache(runtime: Runtime, request: Request) -> verification.VerificationCache:
    """The process's cache of stored certificates' verifications (one block each) and of the
    chain facts that cannot change once `confirmations` blocks deep."""
    with _CACHE_LOCK:  # one cache per process, even when the first requests come together
        cache: verification.VerificationCache | None = getattr(
            request.app.state, "verification_cache", None
        )
        if cache is None:
            cache = verification.VerificationCache(
                confirmations=runtime.settings.confirmations,
                block_seconds=runtime.settings.verify_block_seconds,
            )
            request.app.state.verification_cache = cache
        return cache


def verify_stored(runtime: Runtime, request: Request, ref: str) -> verification.Verification:
    """A stored certificate's verification at the latest block.

    Raises:
        NotFoundError: no such certificate.
        ChainError: the chain does not answer.
    """
    assert runtime.read_sessions is not None and runtime.chain is not None
    return verification.of_certificate(
        ref=ref,
        sessions=runtime.read_sessions,
        client=runtime.chain,
        deployment=runtime.certificate_issuer().deployment,
        cache=verification_cache(runtime, request),
    )


@router.get(
    "/api/v1/certificates/{ref}/verification",
    response_model=VerificationPublic,
    dependencies=[Depends(check_verify_rate)],
    responses={
        **RATE_LIMITED,
        404: {"description": "No such certificate: `details.verdict` is `unknown`"},
        503: {"description": "The chain or the database does not answer: nothing was checked"},
    },
)
def get_verification(ref: CertificateRef, request: Request, runtime: RuntimeDep) -> Response:
    """Check a certificate against the chain: its verdict, each check and its facts (public)."""
    try:
        found = verify_stored(runtime, request, ref)
    except NotFoundError as exc:
        exc.details["verdict"] = "unknown"
        raise
    # Made once per verification (per certificate and block), or put together from the
    # verification it reuses at a block where nothing it read changed.
    body, _ = found.rendered(JSON_RENDITION, json_rendition)
    return json_answer(body)


def json_rendition(found: verification.Verification) -> tuple[bytes, None]:
    """The verification's JSON, as the route answers it."""
    return VerificationPublic.of(found).model_dump_json().encode(), None


def json_answer(body: bytes) -> Response:
    """The answer of `GET .../verification` from its kept JSON (also `KeptVerifications`')."""
    return Response(body, media_type="application/json")


@router.post(
    "/api/v1/verify",
    dependencies=[Depends(check_verify_rate)],
    responses={
        **RATE_LIMITED,
        413: {"description": "The body is over the size limit (2 MiB)"},
        422: {"description": "Not a JSON object with a `document` object (and a `bundle`)"},
        503: {"description": "The chain does not answer: nothing was checked"},
    },
)
def verify_document(body: VerifyRequest, runtime: RuntimeDep) -> VerificationPublic:
    """Check a certificate document you kept (and its bundle) against the chain (public)."""
    assert runtime.read_sessions is not None and runtime.chain is not None
    return VerificationPublic.of(
        verification.of_document(
            document=body.document,
            bundle=body.bundle,
            client=runtime.chain,
            sessions=runtime.read_sessions,
        )
    )
