"""Production steps: the per-product hash chain, order rules, corrections, tamper detection."""

from __future__ import annotations

from datetime import UTC, datetime

from eth_utils.crypto import keccak
from sqlalchemy import delete, select, update

from hallmark.services.records import steps as steps_service
from hallmark.store.models import AnchorQueueEntry, Product, ProductionStep, Record
from tests.conftest import World
from tests.records.factories import BRAND, FACTORY, FACTORY_2, add_step, create_product, step_body


def _post(world: World, body: dict, org: str = FACTORY):
    return world.http.post("/api/v1/steps", json=body, headers=world.headers(org))


def test_steps_form_a_hash_chain(world: World) -> None:
    product = create_product(world)
    first = add_step(
        world, product["serial"], "wax_3d_print", parameters={"layer_height_mm": "0.025"}
    )
    second = add_step(world, product["serial"], "casting", responsible="emp-00417")
    assert first["previous_step"] is None
    assert second["previous_step"] == first["record"]["record_hash"]
    assert (first["sequence"], second["sequence"]) == (1, 2)
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        record = session.get(Record, second["id"])
        assert record is not None
        assert "0x" + keccak(record.canonical.encode()).hex() == record.record_hash
    listed = world.http.get(
        f"/api/v1/products/{product['serial']}/steps", headers=world.headers(BRAND, "reader")
    )
    assert [s["kind"] for s in listed.json()["data"]] == ["wax_3d_print", "casting"]
    chain = world.http.get(
        f"/api/v1/products/{product['serial']}/chain", headers=world.headers(BRAND)
    ).json()
    assert chain == {"intact": True, "steps_checked": 2, "first_broken": None}


def test_previous_step_hash_must_be_the_current_head(world: World) -> None:
    product = create_product(world)
    first = add_step(world, product["serial"])
    ok = _post(
        world, step_body(product["serial"], previous_step_hash=first["record"]["record_hash"])
    )
    assert ok.status_code == 201
    stale = _post(
        world, step_body(product["serial"], previous_step_hash=first["record"]["record_hash"])
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "previous_step_mismatch"
    assert error["details"]["expected"] == ok.json()["record"]["record_hash"]


def test_steps_need_timezone_and_qc_result(world: World) -> None:
    product = create_product(world)
    naive = _post(world, step_body(product["serial"], occurred_at="2026-11-20T09:30:00"))
    assert naive.status_code == 422
    assert naive.json()["error"]["details"]["fields"][0]["field"] == "body.occurred_at"
    no_result = _post(world, step_body(product["serial"], "qc_inspection", result=None))
    assert no_result.status_code == 422
    assert no_result.json()["error"]["details"]["fields"][0]["field"] == "body.result"
    a_name = _post(world, step_body(product["serial"], responsible="Jane Doe"))
    assert a_name.status_code == 422


def test_no_shipping_before_a_passing_qc_after_the_last_repair(world: World) -> None:
    serial = create_product(world)["serial"]
    refused = _post(world, step_body(serial, "shipping"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "step_order"
    add_step(world, serial, "qc_inspection", result="fail")
    assert _post(world, step_body(serial, "shipping")).status_code == 409
    add_step(world, serial, "qc_inspection", result="pass")
    add_step(world, serial, "repair")
    assert _post(world, step_body(serial, "shipping")).status_code == 409
    add_step(world, serial, "qc_inspection", result="pass")
    add_step(world, serial, "packaging")
    assert _post(world, step_body(serial, "shipping")).status_code == 201


def test_after_certification_only_repairs_and_a_repair_clears_it(world: World) -> None:
    serial = create_product(world)["serial"]
    add_step(world, serial, "qc_inspection")
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        session.execute(
            update(Product).where(Product.serial == serial).values(certified_at=datetime.now(UTC))
        )
    polishing = _post(world, step_body(serial, "polishing"))
    assert polishing.status_code == 409
    assert "certified" in polishing.json()["error"]["message"]
    repair = _post(world, step_body(serial, "repair", parameters={"reason": "prong"}))
    assert repair.status_code == 201
    product = world.http.get(f"/api/v1/products/{serial}", headers=world.headers(FACTORY)).json()
    assert product["certified_at"] is None
    assert _post(world, step_body(serial, "polishing")).status_code == 201


def test_corrections_are_chain_links_and_replace_the_view(world: World) -> None:
    serial = create_product(world)["serial"]
    qc = add_step(world, serial, "qc_inspection", result="fail", measurements={"mass_g": "5.1"})
    correction = world.http.post(
        f"/api/v1/steps/{qc['id']}/corrections",
        json={
            "kind": "qc_inspection",
            "occurred_at": "2026-11-20T10:00:00Z",
            "result": "pass",
            "measurements": {"mass_g": "5.10"},
        },
        headers=world.headers(FACTORY),
    )
    assert correction.status_code == 201, correction.text
    view = correction.json()
    assert view["id"] == qc["id"]
    assert view["result"] == "pass"
    assert view["history"][0]["id"] == qc["id"]
    assert view["history"][1]["corrects"] == qc["id"]
    assert view["previous_step"] == qc["record"]["record_hash"]
    # The corrected QC now passes: shipping is allowed.
    assert _post(world, step_body(serial, "shipping")).status_code == 201
    listed = world.http.get(
        f"/api/v1/products/{serial}/steps", headers=world.headers(FACTORY)
    ).json()
    assert [s["kind"] for s in listed["data"]] == ["qc_inspection", "shipping"]
    kind_change = world.http.post(
        f"/api/v1/steps/{qc['id']}/corrections",
        json={"kind": "polishing", "occurred_at": "2026-11-20T10:00:00Z"},
        headers=world.headers(FACTORY),
    )
    assert kind_change.status_code == 422
    chain = world.http.get(f"/api/v1/products/{serial}/chain", headers=world.headers(FACTORY))
    assert chain.json()["intact"] is True
    assert chain.json()["steps_checked"] == 3
    got = world.http.get(f"/api/v1/steps/{view['record']['id']}", headers=world.headers(BRAND))
    assert got.status_code == 200 and got.json()["id"] == qc["id"]


def test_only_the_assigned_factory_records_steps(world: World) -> None:
    serial = create_product(world)["serial"]
    assert _post(world, step_body(serial), org=FACTORY_2).status_code == 404
    assert _post(world, step_body(serial), org=BRAND).status_code == 403
    assert _post(world, step_body("NO-SUCH-SERIAL")).status_code == 404
    step = add_step(world, serial)
    foreign = world.http.get(f"/api/v1/steps/{step['id']}", headers=world.headers(FACTORY_2))
    assert foreign.status_code == 404


def _chain(world: World, serial: str) -> dict:
    response = world.http.get(f"/api/v1/products/{serial}/provenance", headers=world.headers(BRAND))
    assert response.status_code == 200
    return response.json()


def test_editing_a_stored_step_breaks_the_chain_at_that_step(world: World) -> None:
    serial = create_product(world)["serial"]
    steps = [add_step(world, serial, kind) for kind in ("casting", "polishing", "plating")]
    assert _chain(world, serial)["chain_intact"] is True
    victim = steps[1]
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        record = session.get(Record, victim["id"])
        assert record is not None
        record.canonical = record.canonical.replace("polishing", "plating")
    # The altered step is never served as data (tests/records/test_integrity.py); the chain
    # report names where the chain breaks.
    provenance = world.http.get(
        f"/api/v1/products/{serial}/provenance", headers=world.headers(BRAND)
    )
    assert provenance.json()["error"]["code"] == "record_integrity"
    chain = world.http.get(f"/api/v1/products/{serial}/chain", headers=world.headers(BRAND))
    assert chain.json()["intact"] is False
    broken = chain.json()["first_broken"]
    assert (broken["step_id"], broken["sequence"]) == (victim["id"], 2)
    assert "hash" in broken["reason"]
    with world.runtime.sessions() as session:
        product = session.scalars(select(Product).where(Product.serial == serial)).one()
        report = steps_service.verify_chain(session, product)
    assert report.first_broken is not None and report.first_broken.step_id == victim["id"]


def test_rehashed_edit_is_caught_by_the_next_link(world: World) -> None:
    serial = create_product(world)["serial"]
    steps = [add_step(world, serial, kind) for kind in ("casting", "polishing", "plating")]
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        record = session.get(Record, steps[0]["id"])
        assert record is not None
        record.canonical = record.canonical.replace("casting", "polishing")
        forged = "0x" + keccak(record.canonical.encode()).hex()
        session.execute(
            update(AnchorQueueEntry)
            .where(AnchorQueueEntry.record_id == record.id)
            .values(record_hash=forged)
        )
        record.record_hash = forged
        session.execute(
            update(ProductionStep).where(ProductionStep.id == record.id).values(record_hash=forged)
        )
    broken = _chain(world, serial)["chain"]["first_broken"]
    assert (broken["step_id"], broken["sequence"]) == (steps[1]["id"], 2)
    assert "previousStep" in broken["reason"]


def test_deleting_a_step_breaks_the_chain(world: World) -> None:
    serial = create_product(world)["serial"]
    steps = [
        add_step(world, serial, kind) for kind in ("casting", "polishing", "plating", "packaging")
    ]
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        for model, column in (
            (AnchorQueueEntry, AnchorQueueEntry.record_id),
            (ProductionStep, ProductionStep.id),
            (Record, Record.id),
        ):
            session.execute(delete(model).where(column == steps[1]["id"]))
    provenance = _chain(world, serial)
    assert provenance["chain_intact"] is False
    broken = provenance["chain"]["first_broken"]
    assert (broken["step_id"], broken["sequence"]) == (steps[2]["id"], 3)
    assert "step 2" in broken["reason"]
    # Deleting the last step is caught too (the product's chain head names it).
    serial2 = create_product(world)["serial"]
    tail = [add_step(world, serial2, kind) for kind in ("casting", "polishing")]
    with world.runtime.sessions() as session, session.begin():
        for model, column in (
            (AnchorQueueEntry, AnchorQueueEntry.record_id),
            (ProductionStep, ProductionStep.id),
            (Record, Record.id),
        ):
            session.execute(delete(model).where(column == tail[1]["id"]))
    broken = _chain(world, serial2)["chain"]["first_broken"]
    assert broken["sequence"] == 2 and broken["step_id"] is None
