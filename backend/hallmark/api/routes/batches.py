"""Batch creates, `POST /api/v1/<kind>/batch`: one route per record kind, from one table.

Each takes a JSON array or a CSV table (or either uploaded as multipart 'file') of up to
`batch_max_rows` items, all-or-nothing or per row, under an Idempotency-Key
(`services.records.imports.ingest`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from hallmark.api.deps import CurrentActor, RuntimeDep, WriteCallDep
from hallmark.api.writes import BatchMode, BatchPayload, idempotent
from hallmark.services.records import imports
from hallmark.services.records.schemas import BatchResult


@dataclass(frozen=True, slots=True)
class BatchRoute:
    """What a kind's batch route says in the OpenAPI document."""

    #: The item's schema (a component of the OpenAPI document).
    item_schema: str
    #: The route's description.
    description: str
    #: The CSV columns, for the text/csv request body.
    csv_columns: str


BATCH_ROUTES: dict[imports.KindName, BatchRoute] = {
    "lots": BatchRoute(
        item_schema="LotCreate",
        description="Create up to 10,000 lots from a JSON array or a CSV table.",
        csv_columns=(
            "Columns: lot_number, material, grade, quantity, unit, origin.name, origin.country, "
            "origin.latitude, origin.longitude, recycled, carbon_kg_co2e, "
            "ethics.conflict_free, ethics.fair_trade, ethics.wage_disclosure, and JSON cells (or "
            "dotted columns) for certificates, recycled_from, refining, transport, extra, private. "
            "See docs/RECORDS.md."
        ),
    ),
    "products": BatchRoute(
        item_schema="ProductCreate",
        description="Create up to 10,000 products from a JSON array or a CSV table.",
        csv_columns=(
            "Columns: serial, name, category, gtin, design_reference, edition.series, "
            "edition.number, edition.size, brand, assigned_factory, and materials as a JSON cell "
            "or dotted columns materials.0.lot, materials.0.quantity, materials.0.unit, "
            "materials.0.process_loss, ... See docs/RECORDS.md."
        ),
    ),
    "steps": BatchRoute(
        item_schema="StepCreate",
        description="Append up to 10,000 steps from a JSON array or a CSV table.",
        csv_columns=(
            "Columns: product_serial, kind, occurred_at (RFC 3339 with offset), result, "
            "responsible, previous_step_hash, attachments (JSON array or SHA-256 values separated "
            "by ';'), and parameters / measurements as JSON cells or dotted columns "
            "(parameters.layer_height_mm). See docs/RECORDS.md."
        ),
    ),
}

BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "per_row mode: every row's result (created or rejected with errors)"},
    413: {"description": "Body over the size limit, or more rows than allowed"},
    422: {"description": "all_or_nothing mode: the failing rows' errors; nothing stored"},
}


def batch_openapi(item_schema: str, csv_doc: str) -> dict[str, Any]:
    """OpenAPI request body of a batch endpoint: JSON array, CSV, or a multipart upload."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "maxItems": 10000,
                        "items": {"$ref": f"#/components/schemas/{item_schema}"},
                    }
                },
                "text/csv": {"schema": {"type": "string", "description": csv_doc}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                        "additionalProperties": False,
                    }
                },
            },
        }
    }


def add_route(router: APIRouter, kind: imports.KindName) -> None:
    """Add the kind's batch route, `<router prefix>/batch`, to its resource's router."""
    route = BATCH_ROUTES[kind]
    router.add_api_route(
        "/batch",
        _create_batch(kind),
        methods=["POST"],
        name=f"create_{kind}_batch",
        description=route.description,
        status_code=201,
        response_model=BatchResult,
        responses=BATCH_RESPONSES,
        openapi_extra=batch_openapi(route.item_schema, route.csv_columns),
    )


def _create_batch(kind: imports.KindName) -> Callable[..., Coroutine[Any, Any, object]]:
    async def create_batch(
        *,
        actor: CurrentActor,
        payload: BatchPayload,
        runtime: RuntimeDep,
        call: WriteCallDep,
        mode: BatchMode = "all_or_nothing",
    ) -> object:
        return await idempotent(
            call,
            permission=imports.KINDS[kind].permission,
            status=201 if mode == "all_or_nothing" else 200,
            write=lambda session: imports.ingest(
                session=session,
                actor=actor,
                kind=kind,
                body=payload.data,
                content_type=payload.media_type,
                mode=mode,
                max_rows=runtime.settings.batch_max_rows,
                snapshot=runtime.read_sessions,
            ),
        )

    return create_batch
