"""The similarity index out of the registration request, and the near-duplicate check made
atomic with the insert: a registration is indexed after its commit in the background, a search
answers for every committed registration all the same, and two near-identical files registered
at the same moment are compared with each other."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update

from hallmark.services.designs import index as index_module
from hallmark.services.designs.fingerprints import fingerprint_file, probe_file
from hallmark.services.designs.index import DesignIndex
from hallmark.services.designs.registry import RegistryIndex, Screening
from hallmark.store.models import DesignRegistration, DesignReview
from tests.conftest import World
from tests.designs.corpus import draw_design, encode, image_variant
from tests.designs.test_registry import LEGAL, register, search


def _wait_for(condition: Any, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def test_a_registration_is_indexed_after_its_answer_and_searches_see_it_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = world.runtime.design_index
    adding_threads: list[str] = []
    real_add = index_module.DesignIndex.add

    def add(self: Any, registration: str, *args: Any, **kwargs: Any) -> None:
        adding_threads.append(threading.current_thread().name)
        real_add(self, registration, *args, **kwargs)

    monkeypatch.setattr(index_module.DesignIndex, "add", add)
    first = draw_design(611)
    answer = register(world, encode(first))
    assert answer.status_code == 201, answer.text
    # The background updater indexes it, not the request.
    _wait_for(lambda: len(index) == 1, "indexed in the background")
    assert adding_threads == ["design-index"]

    # Without the updater, the answer comes before any indexing: the next search indexes the
    # new registration itself and finds it, exactly and as a near-duplicate.
    index.stop_updates()
    second = draw_design(612)
    answer = register(world, encode(second), title="Second")
    assert answer.status_code == 201, answer.text
    number = answer.json()["design"]["number"]
    assert len(index) == 1
    found = search(world, encode(second))
    assert [e["registration"] for e in found["exact"]] == [number]
    assert len(index) == 2
    rotated = image_variant(second, "rotation", np.random.default_rng(5), 5)
    similar = search(world, rotated)
    assert number in [s["registration"] for s in similar["similar"] if s["flagged"]]
    assert adding_threads[1] != "design-index"


def test_two_near_identical_files_registered_at_once_are_compared_with_each_other(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both requests make their near-duplicate search before either writes: each finds nothing.
    # The check inside the transaction, under the registration lock, must see the other.
    both_screened = threading.Barrier(2, timeout=60)
    real_screen = RegistryIndex.screen

    def screen(self: RegistryIndex, *args: Any, **kwargs: Any) -> Screening:
        screening = real_screen(self, *args, **kwargs)
        both_screened.wait()
        return screening

    monkeypatch.setattr(RegistryIndex, "screen", screen)
    original = draw_design(621)
    files = [
        ("original.png", encode(original)),
        ("rotated.png", image_variant(original, "rotation", np.random.default_rng(9), 9)),
    ]
    answers: dict[str, Any] = {}

    def send(name: str, data: bytes) -> None:
        answers[name] = register(world, data, filename=name, title=name)

    threads = [threading.Thread(target=send, args=file) for file in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert set(answers) == {"original.png", "rotated.png"}
    bodies = [answers[name].json() for name, _ in files]
    for name, _ in files:
        assert answers[name].status_code == 201, answers[name].text
    flagged = [b for b in bodies if b["design"]["flagged"]]
    assert len(flagged) == 1, [b["matches"] for b in bodies]
    [later] = flagged
    [earlier] = [b for b in bodies if b is not later]
    assert earlier["matches"] == []
    assert earlier["design"]["number"] in [m["registration"] for m in later["matches"]]
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        [review] = session.scalars(select(DesignReview)).all()
        row = session.get(DesignRegistration, review.registration_id)
        assert row is not None and row.number == later["design"]["number"]
    queue = world.http.get("/api/v1/designs/reviews", headers=world.headers(LEGAL)).json()
    assert [entry["registration"] for entry in queue["data"]] == [later["design"]["number"]]


def test_a_registration_committed_out_of_its_time_order_is_still_indexed(world: World) -> None:
    index = world.runtime.design_index
    index.stop_updates()
    assert world.runtime.sessions is not None
    first = register(world, encode(draw_design(631)))
    assert first.status_code == 201, first.text
    with world.runtime.sessions() as session:
        assert index.sync(session) == 1
    second = register(world, encode(draw_design(632)), title="Stamped earlier")
    assert second.status_code == 201, second.text
    number = second.json()["design"]["number"]
    # As if it had been stamped before the first and committed after the index looked (another
    # process, a slow commit): the index looks back far enough to find it.
    with world.runtime.sessions() as session, session.begin():
        earliest = session.scalar(
            select(DesignRegistration.created_at).where(
                DesignRegistration.number == first.json()["design"]["number"]
            )
        )
        assert earliest is not None
        session.execute(
            update(DesignRegistration)
            .where(DesignRegistration.number == number)
            .values(created_at=earliest - timedelta(minutes=1))
        )
    with world.runtime.sessions() as session:
        assert index.sync(session) == 1
        assert index.sync(session) == 0
    assert len(index) == 2


def test_a_search_among_the_newest_registrations_completes_an_earlier_search() -> None:
    drawings = [draw_design(seed) for seed in (641, 642, 643)]
    probe = probe_file(image_variant(drawings[2], "rotation", np.random.default_rng(2), 2))
    full = DesignIndex()
    for number, rgb in enumerate(drawings):
        full.add(str(number), fingerprint_file(encode(rgb)))
    earlier = DesignIndex()
    for number, rgb in enumerate(drawings[:2]):
        earlier.add(str(number), fingerprint_file(encode(rgb)))

    newest = full.search(probe, since=2)
    assert [r.registration for r in newest.flagged] == ["2"]
    assert all(r.registration == "2" for r in newest.similar)
    assert full.search(probe, since=3).similar == ()
    completed = earlier.search(probe).merged(newest)
    assert [r.registration for r in completed.flagged] == [
        r.registration for r in full.search(probe).flagged
    ]
