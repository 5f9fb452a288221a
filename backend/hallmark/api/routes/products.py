"""Products: create, list, read by serial, batch import, materials, steps, provenance, EPCIS."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from hallmark.api.deps import (
    CreateCallDep,
    CurrentActor,
    ReadSessionsDep,
    WriteCallDep,
)
from hallmark.api.routes import batches
from hallmark.api.writes import (
    Limit,
    Skip,
    create_single,
    idempotent,
)
from hallmark.services.records import epcis, products, provenance, steps
from hallmark.services.records.schemas import (
    ChainReport,
    MaterialsAdd,
    ProductCreate,
    ProductPublic,
    ProductsPublic,
    Provenance,
    StepsPublic,
)

router = APIRouter(prefix="/api/v1/products", tags=["products"])

Serial = Annotated[str, Path(description="The product's serial")]


@router.post("", status_code=201, response_model=ProductPublic)
async def create_product(
    *,
    product: ProductCreate,
    call: CreateCallDep,
) -> object:
    """Create a product (a brand for its assigned factory, or a factory for itself).

    \f
    Served by `hallmark.api.single_creates.SingleCreates` before the router, with the same
    steps and answers; declared here for the OpenAPI document and for an app without that
    middleware.
    """
    return await create_single(call, kind=products.KIND, item=product)


batches.add_route(router, "products")


@router.get("")
def list_products(
    *,
    actor: CurrentActor,
    sessions: ReadSessionsDep,
    skip: Skip = 0,
    limit: Limit = 100,
    offered: Annotated[
        bool,
        Query(
            description="true: the products factories made naming the caller's brand that it "
            "has not accepted yet (POST /products/{serial}/acceptance)"
        ),
    ] = False,
) -> ProductsPublic:
    """List the products of the caller's organisation (as assigned factory, or as brand once
    accepted), or those offered to its brand."""
    listing = products.list_offers if offered else products.list_products
    with sessions() as session:
        return listing(session=session, actor=actor, skip=skip, limit=limit)


@router.get("/{serial}")
def get_product(serial: Serial, actor: CurrentActor, sessions: ReadSessionsDep) -> ProductPublic:
    """Read a product with its materials, recycled share and carbon total."""
    with sessions() as session:
        return products.get_product(session=session, actor=actor, serial=serial)


@router.post("/{serial}/materials", status_code=201, response_model=ProductPublic)
async def add_materials(
    *,
    serial: Serial,
    materials: MaterialsAdd,
    call: WriteCallDep,
) -> object:
    """Record material lots consumed by a product (its assigned factory only)."""
    return await idempotent(
        call,
        permission="product.materials",
        status=201,
        write=lambda session: products.add_materials(
            session=session, actor=call.actor, serial=serial, materials=materials
        ),
    )


@router.post("/{serial}/acceptance", response_model=ProductPublic)
async def accept_product(*, serial: Serial, call: WriteCallDep) -> object:
    """The brand a factory named accepts the product as its own (brand role); until then the
    brand neither sees the product nor counts it as its own."""
    return await idempotent(
        call,
        permission="product.accept",
        status=200,
        write=lambda session: products.accept_product(
            session=session, actor=call.actor, serial=serial
        ),
    )


@router.get("/{serial}/steps")
def list_steps(
    *,
    serial: Serial,
    actor: CurrentActor,
    sessions: ReadSessionsDep,
    skip: Skip = 0,
    limit: Limit = 1000,
) -> StepsPublic:
    """List a product's production steps in chain order."""
    with sessions() as session:
        return steps.list_steps(session=session, actor=actor, serial=serial, skip=skip, limit=limit)


@router.get("/{serial}/chain")
def verify_chain(serial: Serial, actor: CurrentActor, sessions: ReadSessionsDep) -> ChainReport:
    """Verify a product's step hash chain from the stored documents."""
    with sessions() as session:
        return steps.check_chain(session=session, actor=actor, serial=serial)


@router.get("/{serial}/provenance")
def get_provenance(serial: Serial, actor: CurrentActor, sessions: ReadSessionsDep) -> Provenance:
    """Show a product's materials tree, steps timeline, record hashes and anchoring."""
    with sessions() as session:
        return provenance.product_provenance(session=session, actor=actor, serial=serial)


@router.get(
    "/{serial}/epcis",
    response_class=JSONResponse,
    responses={200: {"content": {"application/ld+json": {}}}},
)
def get_epcis(serial: Serial, actor: CurrentActor, sessions: ReadSessionsDep) -> JSONResponse:
    """Export a product's history as an EPCIS 2.0 JSON-LD document."""
    with sessions() as session:
        document: dict[str, Any] = epcis.product_epcis(session=session, actor=actor, serial=serial)
    return JSONResponse(document, media_type="application/ld+json")
