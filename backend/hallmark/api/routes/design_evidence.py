"""Evidence reports of the design registry: a registration's, or a suspect file compared with
one, as a JSON bundle or a PDF in Chinese and English (docs/EVIDENCE.md: how a third party
re-checks them with public tools). Every chain fact is read from the chain when asked.

Similarity is a prompt for a person, never a verdict.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hallmark.api.deps import CurrentActor, ReadSessionsDep, RuntimeDep
from hallmark.api.routes.designs import Ref, SearchUpload
from hallmark.api.writes import FileStoreDep
from hallmark.chain.ledger import Ledger
from hallmark.chain.registry import DesignRegistryContract
from hallmark.services.designs import evidence as evidence_service
from hallmark.services.designs.evidence_pdf import render_pdf

router = APIRouter(prefix="/api/v1/designs", tags=["designs"])


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description + ' (body: {"error": {"code", "message", "details"}})',
        "content": {"application/json": {}},
    }


_MULTIPART_FILE = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                    "additionalProperties": False,
                }
            }
        },
    }
}

Format = Annotated[
    Literal["json", "pdf"], Query(alias="format", description="json (the bundle) or pdf")
]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "application/pdf": {}}},
    401: _error("No or an unknown API key"),
    403: _error("Only legal and the owner's organisation read evidence (it names the owner)"),
    404: _error("No such registration"),
    409: _error(
        "The registration is not on chain yet (or failed), or a stored fact disagrees with "
        "the chain (code evidence_mismatch: no evidence is produced)"
    ),
    503: _error("The chain does not answer, or no font that renders Chinese is installed"),
}


def _answer(found: evidence_service.Evidence, fmt: str, name: str, runtime: Any) -> Response:
    if fmt == "pdf":
        return Response(
            render_pdf(found, font=runtime.settings.evidence_font),
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{name}.pdf"',
                "X-Content-Type-Options": "nosniff",
            },
        )
    return Response(
        found.json_bytes(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


def _contracts(runtime: Any) -> Any:
    def contracts(deployment_id: int | None) -> tuple[DesignRegistryContract, Ledger]:
        return runtime.registry_for(deployment_id), runtime.ledger_for(deployment_id)

    return contracts


@router.get("/{ref}/evidence", response_class=Response, responses=_RESPONSES)
async def registration_evidence(
    *,
    ref: Ref,
    actor: CurrentActor,
    runtime: RuntimeDep,
    sessions: ReadSessionsDep,
    store: FileStoreDep,
    fmt: Format = "json",
) -> Response:
    """The evidence of a registration, read from the chain: JSON bundle or bilingual PDF."""

    def run() -> Response:
        found = evidence_service.evidence_for(
            sessions=sessions,
            store=store,
            contracts=_contracts(runtime),
            ref=ref,
            actor=actor,
        )
        number = found.bundle["registration"]["number"]
        return _answer(found, fmt, f"{number}-evidence", runtime)

    return await run_in_threadpool(run)


@router.post(
    "/{ref}/evidence/compare",
    response_class=Response,
    responses={
        **_RESPONSES,
        413: _error("The file is larger than allowed, or decodes to more than allowed"),
        415: _error("The file is not what its name or media type claims"),
        422: _error("A malformed image or model"),
    },
    openapi_extra=_MULTIPART_FILE,
)
async def comparison_evidence(
    *,
    ref: Ref,
    actor: CurrentActor,
    upload: SearchUpload,
    runtime: RuntimeDep,
    sessions: ReadSessionsDep,
    store: FileStoreDep,
    fmt: Format = "json",
) -> Response:
    """The evidence of a comparison of a suspect file with a registration (a prompt, not a
    verdict): distances, coverage, both thumbnails, the registration's chain facts."""
    suspect = evidence_service.Suspect(upload.data, upload.filename, upload.media_type)

    def run() -> Response:
        found = evidence_service.evidence_for(
            sessions=sessions,
            store=store,
            contracts=_contracts(runtime),
            ref=ref,
            actor=actor,
            suspect=suspect,
        )
        number = found.bundle["registration"]["number"]
        return _answer(found, fmt, f"{number}-comparison-evidence", runtime)

    return await run_in_threadpool(run)
