"""What the record routes share: bounded request bodies, batch payloads, idempotent answers.

A bounded body is read from the stream up to a limit (413 beyond it, before anything else reads
the body), then kept where Starlette keeps a request's body, so the Idempotency-Key fingerprint
and the form parser read it from memory. Routes declare the caller first (no body is read for an
unauthenticated request), then the bounded body, then the write call (`deps.WriteCall`, whose
fingerprint reads the body): dependencies run in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from hallmark.api.deps import CreateCall, RuntimeDep, WriteCall
from hallmark.api.responses import FastJSONResponse
from hallmark.core.errors import PayloadTooLargeError, invalid_field
from hallmark.services.access import idempotency
from hallmark.services.records.group_commit import CreateJob
from hallmark.services.records.kinds import Kind
from hallmark.store.files import EncryptedFileStore


@dataclass(frozen=True, slots=True)
class Payload:
    """A request body and its media type (from the header, or the uploaded part)."""

    data: bytes
    media_type: str


async def read_bounded(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes (413) without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"request body of {declared} bytes; at most {limit}",
            details={"size": int(declared), "max_bytes": limit},
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"request body over {limit} bytes", details={"max_bytes": limit}
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette keeps a read body in `_body`; later readers (fingerprint, form) reuse it.
    request._body = body
    return body


async def _payload(request: Request, limit: int) -> Payload:
    body = await read_bounded(request, limit)
    media_type = request.headers.get("content-type", "application/octet-stream")
    if media_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        return Payload(body, media_type)
    async with request.form(max_files=1, max_fields=10, max_part_size=limit) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid_field(
                "file", "a multipart upload needs its file in the part named 'file'"
            )
        data = await upload.read()
        part_type = upload.content_type or "application/octet-stream"
    if (upload.filename or "").lower().endswith(".csv") and part_type in (
        "application/octet-stream",
        "text/plain",
    ):
        part_type = "text/csv"
    return Payload(data, part_type)


async def batch_payload(request: Request, runtime: RuntimeDep) -> Payload:
    """A batch body: a JSON array, CSV (text/csv), or either uploaded as multipart 'file'."""
    return await _payload(request, runtime.settings.batch_max_bytes)


async def attachment_payload(request: Request, runtime: RuntimeDep) -> Payload:
    """An attachment: the raw body (its Content-Type), or a multipart 'file'."""
    return await _payload(request, runtime.settings.attachment_max_bytes)


BatchPayload = Annotated[Payload, Depends(batch_payload)]
AttachmentPayload = Annotated[Payload, Depends(attachment_payload)]

BatchMode = Annotated[
    Literal["all_or_nothing", "per_row"],
    Query(
        description="all_or_nothing (default): any bad row rejects the batch (422), nothing "
        "stored; per_row: good rows stored, bad rows reported"
    ),
]
#: The largest `skip` (a larger one would overflow the database's offset, not find more).
MAX_SKIP = 1_000_000_000
Skip = Annotated[int, Query(ge=0, le=MAX_SKIP, description="Items to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items to return (at most 1,000)")]


async def file_store(runtime: RuntimeDep) -> EncryptedFileStore:
    settings = runtime.settings
    return EncryptedFileStore(
        settings.effective_files_dir, settings.file_key_bytes, settings.previous_file_keys
    )


FileStoreDep = Annotated[EncryptedFileStore, Depends(file_store)]


async def idempotent(
    call: WriteCall,
    *,
    permission: str,
    status: int | Callable[[Any], int],
    write: Callable[[Session], BaseModel | dict[str, Any]],
) -> FastJSONResponse:
    """Run a write once per Idempotency-Key and answer with its (first) status and body; the
    caller's role must allow `permission` (`authorisation.WRITE_ROLES`), a replay included."""

    def run(session: Session) -> tuple[int, Any]:
        answer = write(session)
        code = status(answer) if callable(status) else status
        body = answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer
        return code, body

    code, body, replayed = await run_in_threadpool(
        lambda: idempotency.run(
            sessions=call.sessions,
            actor=call.actor,
            permission=permission,
            key=call.key,
            fingerprint=call.fingerprint,
            write=run,
            ttl=call.ttl,
        )
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return FastJSONResponse(body, status_code=code, headers=headers)


async def create_single(call: CreateCall, *, kind: Kind[Any, Any, Any], item: Any) -> Response:
    """Create one item through the process's group committer; its answer (or first answer)."""
    idempotency.check_key(call.idempotency_key)
    committer = call.runtime.committer
    assert committer is not None
    job = CreateJob(
        presented=call.presented,
        kind=kind,
        item=item,
        key=call.idempotency_key,
        fingerprint=call.fingerprint,
    )
    try:
        code, body, replayed = await committer.create(job)
    finally:
        if job.actor is not None:  # a denial is audited in the caller's name
            call.request.state.actor = job.actor
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return FastJSONResponse(body, status_code=code, headers=headers)
