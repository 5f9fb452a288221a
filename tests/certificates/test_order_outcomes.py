"""An order's outcomes are rows: each chunk's transaction inserts exactly that chunk's outcomes
and never touches the rows of earlier chunks; the API reads them by position, in pages, with
the same answer as before (keys and their order); a run overtaken by another between planning
a chunk and issuing it plans again, with no outcome or certificate twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from hallmark.services.access.keys import Actor
from hallmark.services.certificates import issuance
from hallmark.store.models import Certificate, CertificateOrder, CertificateOrderOutcome
from tests.certificates.builders import complete_product
from tests.conftest import World
from tests.records.factories import BRAND

ISSUED_KEYS = ["row", "serial", "status", "certificate", "number", "certificate_hash"]
REFUSED_KEYS = ["row", "serial", "status", "error"]


def _brand(world: World) -> Actor:
    return Actor(
        organisation_id=world.organisations[BRAND].id,
        organisation_kind="brand",
        principal_id="",
        api_key_id="",
        role="brand",
    )


@contextmanager
def _statements(world: World) -> Iterator[list[str]]:
    """The SQL statements sent through the runtime's engine meanwhile."""
    assert world.runtime.sessions is not None
    engine = world.runtime.sessions.kw["bind"]
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _rows(world: World, order_id: str) -> list[tuple[Any, ...]]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(CertificateOrderOutcome.__table__)
                .where(CertificateOrderOutcome.order_id == order_id)
                .order_by(CertificateOrderOutcome.position)
            )
        ]


def _processed(world: World, order_id: str) -> tuple[int, str]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        order = session.get(CertificateOrder, order_id)
        assert order is not None
        return order.processed, order.status


def test_each_chunk_inserts_exactly_its_outcomes_and_leaves_earlier_ones(world: World) -> None:
    serials = [
        complete_product(world),
        "SN-NO-SUCH-1",
        complete_product(world, qc="fail"),
        complete_product(world),
        complete_product(world),
    ]
    actor, sessions = _brand(world), world.runtime.sessions
    assert sessions is not None
    with sessions.begin() as session:
        order_id = issuance.create_order(session=session, actor=actor, serials=serials).id
    assert _rows(world, order_id) == []
    stop = threading.Event()
    stop.set()  # one chunk per call
    earlier: list[tuple[Any, ...]] = []
    counts = []
    while _processed(world, order_id)[1] != "done":
        with _statements(world) as seen:
            issuance.run_order(
                sessions=sessions,
                actor=actor,
                issuer=world.runtime.certificate_issuer(),
                order_id=order_id,
                chunk=2,
                stop=stop,
            )
        touching = [s for s in seen if "certificate_order_outcomes" in s]
        assert not [s for s in touching if s.lstrip().upper().startswith(("UPDATE", "DELETE"))]
        rows = _rows(world, order_id)
        processed, _ = _processed(world, order_id)
        counts.append(len(rows))
        assert len(rows) == processed
        assert rows[: len(earlier)] == earlier  # the earlier chunks' rows, as they were
        assert [row[1] for row in rows] == list(range(processed))
        earlier = rows
    assert counts == [2, 4, 5, 5]  # the last call finds nothing left and marks the order done
    assert [row[3] for row in earlier] == ["issued", "refused", "refused", "issued", "issued"]

    url, brand = f"/api/v1/certificate-orders/{order_id}", world.headers(BRAND)
    order = world.http.get(url, headers=brand).json()
    assert (order["processed"], order["issued"], order["failed"]) == (5, 3, 2)
    for result, serial in zip(order["results"], serials, strict=True):
        keys = ISSUED_KEYS if result["status"] == "issued" else REFUSED_KEYS
        assert list(result) == keys and result["serial"] == serial
    assert order["results"][1]["error"] == {
        "code": "not_found",
        "message": order["results"][1]["error"]["message"],
    }
    assert list(order["results"][2]["error"]) == ["code", "message"]
    assert order["results"][2]["error"]["code"] == "production_incomplete"


def test_pages_of_outcomes_at_their_edges(world: World) -> None:
    serials = [complete_product(world), "SN-NO-SUCH-2", complete_product(world)]
    actor, sessions = _brand(world), world.runtime.sessions
    assert sessions is not None
    with sessions.begin() as session:
        order_id = issuance.create_order(session=session, actor=actor, serials=serials).id
    url, brand = f"/api/v1/certificate-orders/{order_id}", world.headers(BRAND)

    def page(query: str) -> dict[str, Any]:
        answer = world.http.get(f"{url}?{query}", headers=brand)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    assert page("results_from=0")["results"] == []  # nothing processed yet
    stop = threading.Event()
    stop.set()
    issuance.run_order(
        sessions=sessions,
        actor=actor,
        issuer=world.runtime.certificate_issuer(),
        order_id=order_id,
        chunk=2,
        stop=stop,
    )
    # Running, two of three processed: pages see the processed ones only.
    running = page("results_from=1&results_limit=5")
    assert running["status"] == "running" and running["processed"] == 2
    assert [r["row"] for r in running["results"]] == [2]
    issuance.run_order(
        sessions=sessions,
        actor=actor,
        issuer=world.runtime.certificate_issuer(),
        order_id=order_id,
        chunk=2,
    )
    whole = world.http.get(url, headers=brand).json()["results"]
    assert [r["row"] for r in whole] == [1, 2, 3]
    cases = {
        "results_limit=0": [],
        "results_from=2&results_limit=0": [],
        "results_from=0&results_limit=1": whole[:1],
        "results_from=2&results_limit=1": whole[2:],
        "results_from=2&results_limit=50000": whole[2:],
        "results_from=2": whole[2:],
        "results_from=3": [],
        "results_from=3&results_limit=1": [],
        "results_from=50000&results_limit=50000": [],
    }
    for query, expected in cases.items():
        answer = page(query)
        assert answer["results"] == expected, query
        asked = dict(part.split("=") for part in query.split("&"))
        assert answer["results_from"] == int(asked.get("results_from", 0)), query
    # Pages of two put together are the whole list.
    pages = [page(f"results_from={start}&results_limit=2") for start in (0, 2, 4)]
    assert [r for p in pages for r in p["results"]] == whole
    assert [p["results_from"] for p in pages] == [0, 2, 4]
    # Every outcome is one row; none for another order.
    with sessions() as session:
        count = session.scalar(
            select(func.count())
            .select_from(CertificateOrderOutcome)
            .where(CertificateOrderOutcome.order_id == order_id)
        )
        assert count == 3
        assert issuance.outcomes(session, "no-such-order") == []


def test_a_run_overtaken_between_planning_and_its_chunk_plans_again(world: World) -> None:
    """Another run issues the chunk after this one planned it (read the serials, resolved the
    designs) and before its transaction: this run finds the progress moved on when it locks the
    order, plans the next chunk instead, and no product gets two certificates or outcomes."""
    serials = [complete_product(world) for _ in range(3)]
    actor, sessions = _brand(world), world.runtime.sessions
    assert sessions is not None
    with sessions.begin() as session:
        order_id = issuance.create_order(session=session, actor=actor, serials=serials).id
    issuer = world.runtime.certificate_issuer()
    overtaken: list[int] = []

    class Overtaken:
        """This run's sessions: before its first chunk transaction, another run's chunk."""

        def __call__(self) -> Session:
            return sessions()

        def begin(self) -> Any:
            if not overtaken:
                stop = threading.Event()
                stop.set()
                other = threading.Thread(
                    target=issuance.run_order,
                    kwargs={
                        "sessions": sessions,
                        "actor": actor,
                        "issuer": issuer,
                        "order_id": order_id,
                        "chunk": 2,
                        "stop": stop,
                    },
                )
                other.start()
                other.join(300)
                assert not other.is_alive()
                overtaken.append(_processed(world, order_id)[0])
            return sessions.begin()

    done = issuance.run_order(
        sessions=Overtaken(),  # type: ignore[arg-type]
        actor=actor,
        issuer=issuer,
        order_id=order_id,
        chunk=2,
    )
    assert overtaken == [2]
    assert (done.status, done.processed, done.issued, done.failed) == ("done", 3, 3, 0)
    rows = _rows(world, order_id)
    assert [(row[1], row[2], row[3]) for row in rows] == [
        (position, serial, "issued") for position, serial in enumerate(serials)
    ]
    with sessions() as session:
        certified = session.scalars(
            select(Certificate.product_id).where(Certificate.order_id == order_id)
        ).all()
    assert len(certified) == len(set(certified)) == 3
    assert sorted(row[4] for row in rows) == sorted(_certificate_ids(world, order_id))


def _certificate_ids(world: World, order_id: str) -> list[str]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return list(session.scalars(select(Certificate.id).where(Certificate.order_id == order_id)))
