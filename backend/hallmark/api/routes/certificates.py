"""Certificates: issue (one product, or a B2B order), read, the signed document and its
provenance bundle (public), revoke, reissue, supersede."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from starlette.background import BackgroundTask

from hallmark.api.deps import CurrentActor, ReadSessionsDep, RuntimeDep, WriteCallDep
from hallmark.api.responses import FastJSONResponse
from hallmark.api.writes import idempotent
from hallmark.services.certificates import evidence, issuance, lifecycle
from hallmark.services.certificates.schemas import (
    CertificateCreate,
    CertificatePublic,
    CertificateReissue,
    OrderCreate,
    OrderPublic,
    PersonalIn,
    RevocationCreate,
)

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])
orders = APIRouter(prefix="/api/v1/certificate-orders", tags=["certificates"])

CertificateRef = Annotated[str, Path(max_length=64, description="The certificate's id or number")]
OrderId = Annotated[str, Path(max_length=36, description="The order's id")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such certificate"}}


def _personal(value: PersonalIn | None) -> issuance.PersonalData | None:
    return None if value is None else issuance.PersonalData(value.owner, value.engraving)


@router.post(
    "",
    status_code=201,
    response_model=CertificatePublic,
    responses={409: {"description": "Production not complete, or already certified"}},
)
async def issue_certificate(
    *, body: CertificateCreate, call: WriteCallDep, runtime: RuntimeDep
) -> object:
    """Issue a certificate for a product whose production is complete (brand role)."""
    issuer = runtime.certificate_issuer()
    assert runtime.read_sessions is not None
    read_sessions = runtime.read_sessions

    def prepare() -> issuance.DesignChoice:  # reads the chain: off the event loop
        return issuance.prepare_design(
            sessions=read_sessions,
            actor=call.actor,
            issuer=issuer,
            serial=body.serial,
            requested=body.design,
            licence=body.design_licence,
        )

    design = await run_in_threadpool(prepare)
    return await idempotent(
        call,
        permission="certificate.issue",
        status=201,
        write=lambda session: CertificatePublic.of(
            issuance.issue(
                session=session,
                actor=call.actor,
                issuer=issuer,
                serial=body.serial,
                personal=_personal(body.personal),
                engraving_summary=body.engraving_summary,
                design=design,
            )
        ),
    )


@router.get("/{ref}", responses=_NOT_FOUND)
def get_certificate(
    ref: CertificateRef, actor: CurrentActor, sessions: ReadSessionsDep
) -> CertificatePublic:
    """Read one of your brand's certificates (with the personal data and salt for its owner)."""
    with sessions() as session:
        return CertificatePublic.of(issuance.find_certificate(session, actor, ref))


@router.get("/{ref}/document", responses=_NOT_FOUND)
def get_document(ref: CertificateRef, sessions: ReadSessionsDep, runtime: RuntimeDep) -> Any:
    """The signed certificate document, with its anchoring evidence once on chain (public)."""
    deployment = runtime.certificate_issuer().deployment
    with sessions() as session:
        certificate = evidence.find(session, ref)
        return FastJSONResponse(
            evidence.signed_document(
                session, certificate, deployment, deployments=runtime.certificate_deployments()
            )
        )


@router.get("/{ref}/bundle", responses=_NOT_FOUND)
def get_bundle(ref: CertificateRef, sessions: ReadSessionsDep) -> Any:
    """The provenance bundle: every record the certificate relies on, with its proof (public)."""
    with sessions() as session:
        return FastJSONResponse(evidence.bundle(session, evidence.find(session, ref)))


@router.post(
    "/{ref}/revocation",
    responses={**_NOT_FOUND, 409: {"description": "Not anchored yet, or revoked already"}},
)
async def revoke_certificate(
    ref: CertificateRef, body: RevocationCreate, actor: CurrentActor, runtime: RuntimeDep
) -> CertificatePublic:
    """Revoke one of your brand's certificates on chain, with a reason (final)."""
    assert runtime.sessions is not None
    sessions = runtime.sessions

    def revoke() -> CertificatePublic:  # waits for the chain: off the event loop
        return CertificatePublic.of(
            lifecycle.revoke(
                sessions=sessions,
                chain=runtime.certificate_chain(),
                actor=actor,
                ref=ref,
                reason=body.reason,
            )
        )

    return await run_in_threadpool(revoke)


@router.post(
    "/{ref}/reissue",
    status_code=201,
    response_model=CertificatePublic,
    responses={**_NOT_FOUND, 409: {"description": "Not valid, or production not complete"}},
)
async def reissue_certificate(
    *, ref: CertificateRef, body: CertificateReissue, call: WriteCallDep, runtime: RuntimeDep
) -> object:
    """Issue a new certificate replacing one of yours (after repair, resizing, re-engraving)."""
    issuer = runtime.certificate_issuer()
    assert runtime.read_sessions is not None
    read_sessions = runtime.read_sessions

    def prepare() -> issuance.DesignChoice:  # the design the old one names: reads the chain
        return lifecycle.reissue_design(
            sessions=read_sessions, actor=call.actor, issuer=issuer, ref=ref
        )

    design = await run_in_threadpool(prepare)
    return await idempotent(
        call,
        permission="certificate.issue",
        status=201,
        write=lambda session: CertificatePublic.of(
            lifecycle.reissue(
                session=session,
                actor=call.actor,
                issuer=issuer,
                ref=ref,
                personal=_personal(body.personal),
                engraving_summary=body.engraving_summary,
                design=design,
            )
        ),
    )


@router.post(
    "/{ref}/supersession",
    responses={**_NOT_FOUND, 409: {"description": "Not anchored yet, or not a reissue"}},
)
async def supersede_certificate(
    ref: CertificateRef, actor: CurrentActor, runtime: RuntimeDep
) -> CertificatePublic:
    """Record on chain that this reissued certificate replaces the one it names (the old one,
    as it now stands)."""
    assert runtime.sessions is not None
    sessions = runtime.sessions

    def supersede() -> CertificatePublic:
        return CertificatePublic.of(
            lifecycle.supersede(
                sessions=sessions, chain=runtime.certificate_chain(), actor=actor, ref=ref
            )
        )

    return await run_in_threadpool(supersede)


@orders.post("", status_code=202, response_model=OrderPublic)
async def create_order(*, body: OrderCreate, call: WriteCallDep, runtime: RuntimeDep) -> object:
    """Issue certificates for a whole order: answered at once, issued in the background;
    follow the progress at GET /api/v1/certificate-orders/{id}."""
    response = await idempotent(
        call,
        permission="certificate.issue",
        status=202,
        write=lambda session: OrderPublic.of(
            issuance.create_order(
                session=session, actor=call.actor, serials=body.serials, reference=body.reference
            )
        ),
    )
    if response.status_code == 202:
        order_id = orjson.loads(response.body)["id"]
        assert runtime.sessions is not None
        response.background = BackgroundTask(
            issuance.run_order,
            sessions=runtime.sessions,
            actor=call.actor,
            issuer=runtime.certificate_issuer(),
            order_id=order_id,
            chunk=runtime.settings.certificate_order_chunk,
        )
    return response


@orders.get("/{order_id}", responses={404: {"description": "No such order"}})
def get_order(
    order_id: OrderId,
    actor: CurrentActor,
    sessions: ReadSessionsDep,
    results_from: Annotated[
        int, Query(ge=0, le=issuance.MAX_ORDER, description="The first product outcome to answer")
    ] = 0,
    results_limit: Annotated[
        int | None,
        Query(
            ge=0,
            le=issuance.MAX_ORDER,
            description="At most this many outcomes (0: the progress alone); all by default",
        ),
    ] = None,
) -> OrderPublic:
    """An order's progress and each product's outcome so far. Poll with `results_limit=0`:
    an order of 40,000 has megabytes of outcomes; read them in pages once it is done."""
    with sessions() as session:
        order = issuance.order_of(session, actor, order_id)
        outcomes = issuance.outcomes(session, order.id, results_from, results_limit)
        return OrderPublic.of(order, outcomes, results_from)


@orders.post(
    "/{order_id}/revocation",
    responses={404: {"description": "No such order"}},
)
async def revoke_order(
    order_id: OrderId, body: RevocationCreate, actor: CurrentActor, runtime: RuntimeDep
) -> OrderPublic:
    """Revoke every certificate of one of your orders on chain, with one transaction."""
    assert runtime.sessions is not None
    sessions = runtime.sessions

    def revoke() -> OrderPublic:
        order = lifecycle.revoke_order(
            sessions=sessions,
            chain=runtime.certificate_chain(),
            actor=actor,
            order_id=order_id,
            reason=body.reason,
        )
        with sessions() as session:
            return OrderPublic.of(order, issuance.outcomes(session, order.id))

    return await run_in_threadpool(revoke)
