"""Step batches prepared on a snapshot before the write lock: used only while still true."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import select

from hallmark.services.access.keys import Actor, authenticate
from hallmark.services.records import imports, kinds
from hallmark.services.records import steps as steps_service
from hallmark.store.db import transaction
from hallmark.store.models import Product, ProductionStep, Record
from tests.conftest import World
from tests.records.factories import FACTORY, add_step, create_product, step_body


@pytest.fixture
def factory(world: World) -> Actor:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return authenticate(session, world.keys[f"{FACTORY}/factory"])


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of the locked path (`write`) and the prepared path (`store`) of the step kind."""
    calls = {"write": 0, "store": 0}
    kind = steps_service.KIND
    assert kind.speculation is not None

    def write(*args: Any) -> Any:
        calls["write"] += 1
        return kind.write(*args)

    def store(*args: Any) -> Any:
        calls["store"] += 1
        return kind.speculation.store(*args)  # type: ignore[union-attr]

    spied = dataclasses.replace(
        kind, write=write, speculation=dataclasses.replace(kind.speculation, store=store)
    )
    monkeypatch.setitem(imports.KINDS, "steps", spied)
    return calls


def _ingest(world: World, actor: Actor, rows: list[dict[str, Any]], mode: str) -> Any:
    assert world.runtime.sessions is not None
    with transaction(world.runtime.sessions) as session:
        return imports.ingest(
            session=session,
            actor=actor,
            kind="steps",
            body=json.dumps(rows).encode(),
            content_type="application/json",
            mode=mode,  # type: ignore[arg-type]
            max_rows=10_000,
            snapshot=world.runtime.read_sessions,
        )


def _chain(world: World, serial: str) -> tuple[Product, list[tuple[int, str, str]]]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        product = session.scalars(select(Product).where(Product.serial == serial)).one()
        assert steps_service.verify_chain(session, product).intact
        rows = session.execute(
            select(ProductionStep.sequence, ProductionStep.kind, Record.canonical)
            .join(Record, Record.id == ProductionStep.id)
            .where(ProductionStep.product_id == product.id)
            .order_by(ProductionStep.sequence)
        ).all()
        return product, [(r.sequence, r.kind, json.loads(r.canonical)) for r in rows]


def test_an_unchanged_snapshot_stores_what_was_prepared(
    world: World, factory: Actor, spies: dict[str, int]
) -> None:
    serials = [create_product(world)["serial"] for _ in range(3)]
    rows = [step_body(serials[i % 3], "polishing", responsible=f"e-{i}") for i in range(9)]
    answer = _ingest(world, factory, rows, "all_or_nothing")
    assert answer["created"] == 9
    assert spies == {"write": 0, "store": 1}
    for serial in serials:
        product, chain = _chain(world, serial)
        assert product.step_count == 3 and [c[0] for c in chain] == [1, 2, 3]


def test_a_stale_snapshot_is_planned_again_under_the_lock(
    world: World, factory: Actor, spies: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = create_product(world)["serial"]
    add_step(world, serial, "wax_3d_print")
    kind = imports.KINDS["steps"]
    assert kind.speculation is not None
    snapshot_context = kind.speculation.context

    def context_then_concurrent_write(*args: Any) -> Any:
        ctx = snapshot_context(*args)
        add_step(world, serial, "casting")  # another request commits after the snapshot
        return ctx

    racing = dataclasses.replace(
        kind,
        speculation=dataclasses.replace(kind.speculation, context=context_then_concurrent_write),
    )
    monkeypatch.setitem(imports.KINDS, "steps", racing)
    answer = _ingest(world, factory, [step_body(serial, "polishing")], "all_or_nothing")
    assert answer["created"] == 1
    assert spies == {"write": 1, "store": 0}
    # The chain is intact (checked by _chain): the batch's step names the racing step's hash.
    product, chain = _chain(world, serial)
    assert [(c[0], c[1]) for c in chain] == [(1, "wax_3d_print"), (2, "casting"), (3, "polishing")]
    assert product.step_count == 3


def test_a_batch_with_a_bad_row_is_decided_under_the_lock(
    world: World, factory: Actor, spies: dict[str, int]
) -> None:
    serial = create_product(world)["serial"]
    rows = [step_body(serial, "polishing"), step_body("SN-NO-SUCH", "polishing")]
    answer = _ingest(world, factory, rows, "per_row")
    assert (answer["created"], answer["rejected"]) == (1, 1)
    assert answer["results"][1]["errors"][0]["field"] == "product_serial"
    assert spies == {"write": 1, "store": 0}
    with pytest.raises(kinds.BatchRejectedError):
        _ingest(world, factory, rows, "all_or_nothing")
    _, chain = _chain(world, serial)
    assert len(chain) == 1


def test_an_all_or_nothing_batch_with_an_invalid_row_stores_nothing(
    world: World, factory: Actor, spies: dict[str, int]
) -> None:
    serial = create_product(world)["serial"]
    rows = [step_body(serial, "polishing"), step_body(serial, "no_such_kind")]
    with pytest.raises(kinds.BatchRejectedError):
        _ingest(world, factory, rows, "all_or_nothing")
    assert spies["store"] == 0
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        product = session.scalars(select(Product).where(Product.serial == serial)).one()
        assert product.step_count == 0
