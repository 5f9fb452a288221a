"""Who may see which lots and products.

A material lot is visible to its owner and its current custodian; a product to its assigned
factory, and to its brand once the brand accepted it. Anyone else gets NotFoundError: existence
must not leak.

Raises:
    NotFoundError: the object does not exist or is not visible to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from hallmark.core.errors import NotFoundError
from hallmark.services.access.keys import Actor
from hallmark.store.models import MaterialLot, Product

M = TypeVar("M", MaterialLot, Product)


def lot_visible(organisation_id: str) -> ColumnElement[bool]:
    """The lots an organisation sees: it owns or holds them."""
    return or_(MaterialLot.owner_id == organisation_id, MaterialLot.custodian_id == organisation_id)


def product_visible(organisation_id: str) -> ColumnElement[bool]:
    """The products an organisation sees: it is their assigned factory, or their brand once it
    accepted them (a factory naming a brand does not make the product the brand's)."""
    return or_(
        and_(Product.brand_id == organisation_id, Product.brand_accepted_at.is_not(None)),
        Product.factory_id == organisation_id,
    )


@dataclass(frozen=True, slots=True)
class Visibility(Generic[M]):
    """Who sees one kind of object: its table, the key callers name it by, the condition on its
    rows, and what it is called in a NotFoundError."""

    model: type[M]
    key: InstrumentedAttribute[str]
    condition: Callable[[str], ColumnElement[bool]]
    kind: str


LOT = Visibility(MaterialLot, MaterialLot.id, lot_visible, "lot")
PRODUCT = Visibility(Product, Product.serial, product_visible, "product")


def visible(
    session: Session, actor: Actor, of: Visibility[M], key: str, *, lock: bool = False
) -> M:
    """The object named `key` if the caller's organisation may see it (with `lock`, its row
    locked for the caller's transaction).

    Raises:
        NotFoundError: no such object, or one the caller may not see.
    """
    query = select(of.model).where(of.key == key, of.condition(actor.organisation_id))
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).first()
    if found is None:
        raise NotFoundError(of.kind, key)
    return found
