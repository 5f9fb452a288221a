"""Mass balance as a property: no sequence of draws, losses and splits ever over-draws a lot,
and concurrent draws on one lot never exceed it either."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hallmark.core.errors import HallmarkError, MassBalanceError
from hallmark.services.access.keys import Actor, authenticate
from hallmark.services.records import kinds, lots, products
from hallmark.services.records.schemas import (
    LotCreate,
    LotSplit,
    LotTransfer,
    ProductCreate,
)
from hallmark.store.db import transaction
from hallmark.store.models import LotDraw, MaterialLot
from tests.conftest import World
from tests.records.factories import FACTORY, SUPPLIER, lot_body, unique

amounts = st.decimals(min_value="0.001", max_value="40", places=3)
operations = st.lists(
    st.tuples(st.sampled_from(["draw", "split"]), amounts, amounts.map(lambda d: d / 10)),
    max_size=10,
)


def _actor(world: World, org: str) -> Actor:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return authenticate(session, world.keys[f"{org}/{world.organisations[org].kind}"])


def _create(session: Session, actor: Actor, kind: kinds.Kind[Any, Any, Any], item: Any) -> str:
    """Create one record of `kind` in the caller's transaction, as a single create does; its
    id (a refusal is raised)."""
    (outcome,) = kinds.create_items(session=session, actor=actor, kind=kind, items=[item])
    if isinstance(outcome, HallmarkError):
        raise outcome
    return outcome[1].id


def _held_lot(world: World, quantity: Decimal) -> str:
    sessions = world.runtime.sessions
    assert sessions is not None
    supplier = _actor(world, SUPPLIER)
    with transaction(sessions) as session:
        lot_id = _create(
            session,
            supplier,
            lots.KIND,
            LotCreate.model_validate(lot_body(quantity=str(quantity))),
        )
        lots.transfer_lot(
            session=session,
            actor=supplier,
            lot_id=lot_id,
            transfer=LotTransfer(to_organisation=world.organisations[FACTORY].id),
        )
    return lot_id


def _draw(world: World, actor: Actor, lot_id: str, quantity: Decimal, loss: Decimal) -> None:
    assert world.runtime.sessions is not None
    with transaction(world.runtime.sessions) as session:
        _create(
            session,
            actor,
            products.KIND,
            ProductCreate.model_validate(
                {
                    "serial": unique("P"),
                    "name": "x",
                    "category": "ring",
                    "materials": [
                        {"lot": lot_id, "quantity": quantity, "unit": "g", "process_loss": loss}
                    ],
                }
            ),
        )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quantity=amounts, ops=operations)
def test_mass_balance_never_over_draws(
    world: World, quantity: Decimal, ops: list[tuple[str, Decimal, Decimal]]
) -> None:
    factory = _actor(world, FACTORY)
    lot_id = _held_lot(world, quantity)
    remaining = quantity
    sessions = world.runtime.sessions
    assert sessions is not None
    for op, amount, loss in ops:
        taken = amount + (loss if op == "draw" else 0)
        refused: MassBalanceError | None = None
        try:
            if op == "draw":
                _draw(world, factory, lot_id, amount, loss)
            else:
                with transaction(sessions) as session:
                    lots.split_lot(
                        session=session,
                        actor=factory,
                        lot_id=lot_id,
                        split=LotSplit.model_validate({"children": [{"quantity": amount}]}),
                    )
        except MassBalanceError as exc:
            refused = exc
        if refused is not None:
            assert taken > remaining
            assert Decimal(refused.details["remaining"]) == remaining
            continue
        assert taken <= remaining
        remaining -= taken
    with sessions() as session:
        lot = session.get(MaterialLot, lot_id)
        assert lot is not None
        drawn = session.scalar(
            select(func.count()).select_from(LotDraw).where(LotDraw.lot_id == lot_id)
        )
        total = sum(
            (Decimal(q) + Decimal(p))
            for q, p in session.execute(
                select(LotDraw.quantity, LotDraw.process_loss).where(LotDraw.lot_id == lot_id)
            ).all()
        )
    assert drawn is not None
    assert Decimal(lot.allocated) == total == quantity - remaining
    assert Decimal(lot.allocated) <= Decimal(lot.quantity)


def test_concurrent_draws_never_over_draw(world: World) -> None:
    factory = _actor(world, FACTORY)
    lot_id = _held_lot(world, Decimal(10))

    def attempt(_: int) -> bool:
        try:
            _draw(world, factory, lot_id, Decimal(3), Decimal(0))
        except MassBalanceError:
            return False
        return True

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count(True) == 3
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        lot = session.get(MaterialLot, lot_id)
        assert lot is not None
        assert Decimal(lot.allocated) == Decimal(9)
