"""The design registry: register, look up, search, thumbnails, originals, the review queue.

Similarity is a prompt for a person, never a verdict: a flagged match puts a registration in
the review queue for a reviewer to compare; it decides nothing about copying.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from hallmark.api.deps import CurrentActor, ReadSessionsDep, RuntimeDep, SessionsDep, WriteCallDep
from hallmark.api.openapi import error_doc, inline_schema
from hallmark.api.responses import download
from hallmark.api.writes import FileStoreDep, idempotent, read_bounded
from hallmark.core.errors import invalid_field
from hallmark.services.designs import registry
from hallmark.services.designs.schemas import (
    DesignPublic,
    DesignRegister,
    DesignsPublic,
    RegisterPublic,
    ReviewDecision,
    ReviewPublic,
    ReviewsPublic,
    SearchPublic,
    design_public,
    exact_public,
    match_public,
    review_public,
)

router = APIRouter(prefix="/api/v1/designs", tags=["designs"])

Ref = Annotated[
    str, Path(description="Registration number (D-…) or fingerprint (SHA-256 of the file, hex)")
]


#: Review ids are 32-bit integers in the database: a larger one names no entry (422, never a 500).
ReviewId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The review entry's id")]

_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: error_doc("The file is larger than allowed, or decodes to more than allowed (a bomb)"),
    415: error_doc("The file is not what its name or media type claims"),
    422: error_doc("A malformed image or model, or an invalid field"),
}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_doc("No or an unknown API key"),
    404: error_doc("No such registration"),
}


def _multipart(encoding: dict[str, Any] | None = None, **parts: dict[str, Any]) -> dict[str, Any]:
    """An operation's multipart/form-data request body: `parts`, each required, no other."""
    schema = {
        "type": "object",
        "properties": parts,
        "required": list(parts),
        "additionalProperties": False,
    }
    content: dict[str, Any] = {"schema": schema}
    if encoding:
        content["encoding"] = encoding
    return {"requestBody": {"required": True, "content": {"multipart/form-data": content}}}


_FILE_PART = {"type": "string", "format": "binary"}
_MULTIPART = _multipart(
    file=_FILE_PART,
    metadata={**inline_schema(DesignRegister), "description": "The registration's fields, as JSON"},
    encoding={"metadata": {"contentType": "application/json"}},
)
MULTIPART_FILE = _multipart(file=_FILE_PART)


async def _upload(
    request: Request, limit: int, *, with_metadata: bool
) -> tuple[bytes, str | None, str | None, str | None]:
    """The multipart 'file' (its bytes, name and type) and the 'metadata' part's text."""
    await read_bounded(request, limit)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise invalid_field("file", "send multipart/form-data with the design in part 'file'")
    async with request.form(max_files=1, max_fields=4, max_part_size=limit) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid_field("file", "the design file goes in the part named 'file'")
        data = await upload.read()
        metadata = form.get("metadata") if with_metadata else None
        if with_metadata and not isinstance(metadata, str):
            raise invalid_field("metadata", "the fields go in the part 'metadata' (JSON)")
        text = metadata if isinstance(metadata, str) else None
        return data, upload.filename, upload.content_type, text


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None
    media_type: str | None
    metadata: str | None


async def design_upload(request: Request, runtime: RuntimeDep) -> Upload:
    """A registration's body: the multipart 'file' and 'metadata' parts (bounded)."""
    return Upload(
        *await _upload(request, runtime.settings.attachment_max_bytes, with_metadata=True)
    )


async def search_upload(request: Request, runtime: RuntimeDep) -> Upload:
    """A search's body: the multipart 'file' part (bounded)."""
    return Upload(
        *await _upload(request, runtime.settings.attachment_max_bytes, with_metadata=False)
    )


DesignUpload = Annotated[Upload, Depends(design_upload)]
SearchUpload = Annotated[Upload, Depends(search_upload)]


def _fields(text: str) -> DesignRegister:
    try:
        return DesignRegister.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        message = (
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            if isinstance(exc, ValidationError)
            else "not JSON"
        )
        raise invalid_field("metadata", message) from exc


@router.post(
    "",
    status_code=201,
    response_model=RegisterPublic,
    responses={
        **_UPLOAD_ERRORS,
        403: error_doc("Only a registrar (a legal organisation's key) registers designs"),
        409: error_doc(
            "An exact duplicate: the same file is registered already (the existing "
            "registration's number, owner reference, time and block are in details)"
        ),
    },
    openapi_extra=_MULTIPART,
)
async def register_design(
    *,
    actor: CurrentActor,
    upload: DesignUpload,
    runtime: RuntimeDep,
    store: FileStoreDep,
    call: WriteCallDep,
    sessions: ReadSessionsDep,
) -> object:
    """Register a design file; near-duplicates are flagged for review (a prompt, not a verdict)."""
    registry.require_registrar(actor)
    data, filename, media_type = upload.data, upload.filename, upload.media_type
    assert upload.metadata is not None
    body = _fields(upload.metadata)
    fields = body.fields().checked()
    # Refused files store nothing: decoding happens before any write, outside the database.
    fingerprint = await run_in_threadpool(
        registry.fingerprint_upload, data, filename=filename, media_type=media_type
    )
    chain_registry = runtime.registry if runtime.chain is not None else None
    await run_in_threadpool(registry.check_not_on_chain, chain_registry, fingerprint.sha256)
    index = runtime.design_index

    def screen() -> registry.Screening:
        with sessions() as session:
            return index.screen(session, fingerprint)

    # The costly near-duplicate search outside the write transaction; confirmed inside it.
    screening = await run_in_threadpool(screen)

    def write(session: Any) -> RegisterPublic:
        done = registry.register_design(
            session=session,
            actor=actor,
            store=store,
            index=index,
            data=data,
            fingerprint=fingerprint,
            fields=fields,
            filename=filename,
            media_type=media_type,
            screening=screening,
        )
        return RegisterPublic(
            design=design_public(session, done.registration, with_priority=False),
            matches=list(done.review.matches) if done.review is not None else [],
        )

    try:
        return await idempotent(call, permission="design.register", status=201, write=write)
    finally:
        index.refresh_soon()  # indexed in the background, after the commit


@router.post(
    "/search",
    response_model=SearchPublic,
    responses={**_UPLOAD_ERRORS, 401: error_doc("No or an unknown API key")},
    openapi_extra=MULTIPART_FILE,
)
async def search_designs(
    *,
    actor: CurrentActor,
    upload: SearchUpload,
    runtime: RuntimeDep,
    sessions: ReadSessionsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchPublic:
    """Search with any file: the exact registration, if any, and similar ones ranked."""
    data, filename, media_type = upload.data, upload.filename, upload.media_type
    index = runtime.design_index

    def run() -> SearchPublic:
        with sessions() as session:
            fingerprint, answer = registry.search_designs(
                session=session,
                index=index,
                data=data,
                filename=filename,
                media_type=media_type,
                limit=limit,
            )
            return SearchPublic(
                fingerprint=fingerprint.sha256,
                exact=[exact_public(row) for row in answer.exact],
                similar=[match_public(row, similar) for row, similar in answer.similar],
            )

    return await run_in_threadpool(run)


@router.get(
    "", response_model=DesignsPublic, responses={401: error_doc("No or an unknown API key")}
)
async def list_designs(
    *,
    actor: CurrentActor,
    sessions: ReadSessionsDep,
    designer: str | None = None,
    owner_ref: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DesignsPublic:
    """Look registrations up by designer, owner reference and registration time range."""

    def run() -> DesignsPublic:
        with sessions() as session:
            rows, count = registry.lookup(
                session,
                designer=designer,
                owner_ref=owner_ref,
                since=since,
                until=until,
                status=status,
                limit=limit,
                offset=offset,
            )
            return DesignsPublic(
                data=[design_public(session, row, with_priority=False) for row in rows],
                count=count,
            )

    return await run_in_threadpool(run)


@router.get(
    "/reviews",
    response_model=ReviewsPublic,
    responses={401: error_doc("No or an unknown API key"), 403: error_doc("Not a registrar")},
)
async def list_reviews(
    *,
    actor: CurrentActor,
    sessions: ReadSessionsDep,
    state: Annotated[
        str | None, Query(pattern="^(open|distinct|infringing|derived|all)$")
    ] = "open",
) -> ReviewsPublic:
    """The review queue: registrations flagged as near-duplicates, with matches and distances."""
    registry.require_registrar(actor)

    def run() -> ReviewsPublic:
        with sessions() as session:
            found = registry.reviews(session, state=None if state == "all" else state)
            return ReviewsPublic(data=[review_public(r, d) for r, d in found], count=len(found))

    return await run_in_threadpool(run)


@router.post(
    "/reviews/{review_id}",
    response_model=ReviewPublic,
    responses={
        403: error_doc("Not a registrar"),
        404: error_doc("No such review entry"),
        409: error_doc("The entry was decided already"),
        422: error_doc("An unknown decision"),
    },
)
async def decide_review(
    *,
    review_id: ReviewId,
    body: ReviewDecision,
    actor: CurrentActor,
    call: WriteCallDep,
) -> object:
    """Decide a review entry: distinct, infringing or derived (a person's decision)."""

    def write(session: Any) -> ReviewPublic:
        review, row = registry.decide_review(
            session=session,
            actor=actor,
            review_id=review_id,
            decision=body.decision,
            note=body.note,
        )
        return review_public(review, row)

    return await idempotent(call, permission="design.review", status=200, write=write)


@router.get("/{ref}", response_model=DesignPublic, responses=_READ_ERRORS)
async def get_design(*, ref: Ref, actor: CurrentActor, sessions: SessionsDep) -> DesignPublic:
    """A registration by number or fingerprint: filing time, block, transaction, priority."""

    def run() -> DesignPublic:
        with sessions() as session:
            return design_public(session, registry.find_registration(session, ref))

    return await run_in_threadpool(run)


@router.get(
    "/{ref}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **_READ_ERRORS},
)
async def get_thumbnail(
    *, ref: Ref, actor: CurrentActor, sessions: ReadSessionsDep, store: FileStoreDep
) -> Response:
    """The watermarked thumbnail of an image design (open to every signed-in caller)."""

    def run() -> bytes:
        with sessions() as session:
            return registry.thumbnail(session=session, store=store, ref=ref)[1]

    data = await run_in_threadpool(run)
    return Response(data, media_type="image/png", headers={"X-Content-Type-Options": "nosniff"})


@router.get(
    "/{ref}/original",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        403: error_doc("Only legal and the owner's organisation download originals"),
        **_READ_ERRORS,
    },
)
async def get_original(
    *, ref: Ref, actor: CurrentActor, sessions: ReadSessionsDep, store: FileStoreDep
) -> Response:
    """The original file: only legal and the owner's organisation."""

    def run() -> tuple[str, bytes]:
        with sessions() as session:
            row, data = registry.original(session=session, store=store, actor=actor, ref=ref)
            return row.fingerprint, data

    sha, data = await run_in_threadpool(run)
    return download(data, sha)
