"""Attachments: upload to the encrypted file store, download where a record allows it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hallmark.api.deps import (
    CurrentActor,
    ReadSessionsDep,
    RuntimeDep,
    WriteCallDep,
)
from hallmark.api.responses import download
from hallmark.api.writes import AttachmentPayload, FileStoreDep, idempotent
from hallmark.services.records import attachments
from hallmark.services.records.schemas import AttachmentPublic

router = APIRouter(prefix="/api/v1/attachments", tags=["attachments"])

Sha256 = Annotated[
    str,
    Path(
        description="SHA-256 of the file's content (64 hex digits)",
        json_schema_extra={"pattern": "^[0-9a-fA-F]{64}$"},
    ),
]


@router.post(
    "",
    status_code=201,
    response_model=AttachmentPublic,
    responses={413: {"description": "Larger than the attachment size limit"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary", "minLength": 1}
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary", "minLength": 1}
                        },
                        "required": ["file"],
                        "additionalProperties": False,
                    }
                },
            },
        }
    },
)
async def upload_attachment(
    *,
    actor: CurrentActor,
    payload: AttachmentPayload,
    runtime: RuntimeDep,
    store: FileStoreDep,
    call: WriteCallDep,
) -> object:
    """Upload a file (raw body with its Content-Type, or multipart 'file'), stored encrypted."""
    return await idempotent(
        call,
        permission="attachment.upload",
        status=201,
        write=lambda session: attachments.upload(
            session=session,
            store=store,
            actor=actor,
            data=payload.data,
            media_type=payload.media_type,
            max_bytes=runtime.settings.attachment_max_bytes,
        ),
    )


@router.get(
    "/{sha256}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_attachment(
    *, sha256: Sha256, actor: CurrentActor, sessions: ReadSessionsDep, store: FileStoreDep
) -> Response:
    """Download a file the caller's organisation uploaded or may see through a record."""

    def load() -> tuple[AttachmentPublic, bytes]:
        with sessions() as session:
            return attachments.download(session=session, store=store, actor=actor, sha256=sha256)

    meta, data = await run_in_threadpool(load)
    # Of a type determined from the bytes.
    return download(
        data,
        meta.sha256,
        media_type=attachments.served_type(data),
        headers={"ETag": f'"{meta.sha256}"'},
    )
