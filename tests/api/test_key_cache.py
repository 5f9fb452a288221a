"""The key cache: a busy caller's key is not read again for every request or group, and a
revocation still takes effect (at once in the process that made it, within the cache's time in
every other)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, update
from tests.conftest import World
from tests.records.factories import FACTORY, create_product, step_body

from hallmark.core.errors import AuthenticationError
from hallmark.services.access import keys
from hallmark.services.access.keys import KeyCache, authenticate_cached, forget_cached_keys
from hallmark.services.records import steps as steps_service
from hallmark.services.records.group_commit import CreateJob, GroupCommitter
from hallmark.services.records.schemas import StepCreate
from hallmark.store.models import ApiKey

SUPPLIER_KEY = "Lotus Gold Refinery/supplier"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on the engine meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _authenticate(world: World, cache: KeyCache, presented: str) -> keys.Actor:
    """As the API does: on a connection of the read engine (SQLite) or the engine."""
    engine = world.runtime.read_engine or world.runtime.engine
    assert engine is not None
    with engine.connect() as connection:
        return authenticate_cached(cache, connection, presented)


def _revoke_elsewhere(world: World, presented: str) -> None:
    """Revoke as another process does: in the database, without telling this process."""
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        session.execute(
            update(ApiKey)
            .where(ApiKey.prefix == keys.key_prefix(presented))
            .values(status="revoked")
        )


def test_a_key_revoked_by_another_process_is_refused_within_the_cache_time(
    world: World,
) -> None:
    presented = world.keys[SUPPLIER_KEY]
    cache = KeyCache(ttl=0.3)
    engine = world.runtime.read_engine or world.runtime.engine
    assert engine is not None
    actor = _authenticate(world, cache, presented)
    _revoke_elsewhere(world, presented)
    with statements(engine) as seen:
        assert _authenticate(world, cache, presented) == actor  # kept
    assert seen == []  # answered without reading the key
    time.sleep(0.35)
    with pytest.raises(AuthenticationError, match="revoked"):
        _authenticate(world, cache, presented)


def test_a_revocation_in_this_process_empties_every_cache_at_once(world: World) -> None:
    presented = world.keys[SUPPLIER_KEY]
    cache = KeyCache(ttl=60)
    _authenticate(world, cache, presented)
    _revoke_elsewhere(world, presented)
    forget_cached_keys()
    with pytest.raises(AuthenticationError, match="revoked"):
        _authenticate(world, cache, presented)


def test_a_lookup_that_raced_with_a_revocation_is_not_kept(world: World) -> None:
    presented = world.keys[SUPPLIER_KEY]
    cache = KeyCache(ttl=60)
    generation = cache.generation()
    actor = _authenticate(world, KeyCache(ttl=0), presented)  # read before the revocation
    forget_cached_keys()  # the revocation, committed while the lookup was under way
    cache.keep(presented, actor, generation)
    assert cache.get(presented) is None


def test_refused_keys_are_never_kept(world: World) -> None:
    presented = world.keys[SUPPLIER_KEY]
    cache = KeyCache(ttl=60)
    engine = world.runtime.read_engine or world.runtime.engine
    assert engine is not None
    _revoke_elsewhere(world, presented)
    for _ in range(2):
        with statements(engine) as seen, pytest.raises(AuthenticationError):
            _authenticate(world, cache, presented)
        assert sum("api_keys" in statement for statement in seen) == 1  # looked up each time
    assert cache.get(presented) is None


def test_no_cache_reads_the_key_on_every_request(world: World) -> None:
    presented = world.keys[SUPPLIER_KEY]
    cache = KeyCache(ttl=0)
    _authenticate(world, cache, presented)
    _revoke_elsewhere(world, presented)
    with pytest.raises(AuthenticationError, match="revoked"):
        _authenticate(world, cache, presented)


def test_a_group_commit_reads_a_known_key_once(world: World) -> None:
    """The second group of the same caller does not read its key again; after a revocation in
    this process, the next group refuses it."""
    sessions, engine = world.runtime.sessions, world.runtime.engine
    assert sessions is not None and engine is not None
    committer = GroupCommitter(sessions, key_cache=KeyCache(ttl=60))
    presented = world.keys[f"{FACTORY}/factory"]
    serial = create_product(world)["serial"]

    def group(size: int) -> list[CreateJob]:
        jobs = [
            CreateJob(
                presented=presented,
                kind=steps_service.KIND,
                item=StepCreate.model_validate(step_body(serial, responsible=f"emp-{i}")),
                key=None,
                fingerprint=f"{time.monotonic_ns()}-{i}",
            )
            for i in range(size)
        ]
        committer.commit(jobs)
        return jobs

    def key_reads(seen: list[str]) -> int:
        return sum("api_keys" in statement for statement in seen)

    with statements(engine) as seen:
        first = group(2)
    assert key_reads(seen) == 1
    with statements(engine) as seen:
        second = group(2)
    assert key_reads(seen) == 0
    assert [job.future.result()[0] for job in first + second] == [201] * 4
    _revoke_elsewhere(world, presented)
    forget_cached_keys()
    refused = group(1)
    with pytest.raises(AuthenticationError, match="revoked"):
        refused[0].future.result()


def test_whoami_is_refused_at_once_after_a_revocation_through_the_service(
    world: World,
) -> None:
    """The API's own cache (the runtime's), through an HTTP route."""
    from hallmark.services.access.organisations import revoke_api_key

    headers = world.headers("Lotus Gold Refinery")
    assert world.runtime.key_cache is not None and world.runtime.key_cache.ttl > 0
    assert world.http.get("/api/v1/whoami", headers=headers).status_code == 200
    assert world.http.get("/api/v1/whoami", headers=headers).status_code == 200  # cached
    assert world.runtime.sessions is not None
    revoke_api_key(sessions=world.runtime.sessions, key_ref=world.keys[SUPPLIER_KEY].split("_")[1])
    assert world.http.get("/api/v1/whoami", headers=headers).status_code == 401
