"""Record kinds: how records of each kind (lots, products, steps) are created, one by one or in
batches. A `Kind` says what the engine needs of its kind: role, validation, context, planning,
writing, answer; `lots.KIND`, `products.KIND` and `steps.KIND` are the three.

Flow of a batch (`run_batch` with the kind's `Kind`): validate every row at once, plan row by
row, store the accepted rows in bulk:
1. validate the whole list with one Pydantic TypeAdapter (fast path: every row valid);
2. the kind's planner checks each valid row against the database (loaded up front in a few
   queries) and against the rows accepted before it in the same batch, raising a domain error
   for a bad row; the error becomes that row's field-level errors;
3. `all_or_nothing` (default): any bad row → BatchRejectedError (422) listing every bad row,
   nothing stored; `per_row`: the good rows are stored, the bad rows reported;
4. the kind's writer inserts the accepted rows with bulk INSERTs in the caller's transaction;
5. one audit entry for the batch (`<kind>.batch`, with the mode and the counts).

`create_items` is the same path for single items (the create endpoints, one request alone or
several committed together): plan each, write the accepted ones, one audit entry per item.

Raises:
    PermissionDeniedError: the caller's role may not create this kind (403).
    BatchRejectedError: all-or-nothing batch with at least one bad row (422).
    PayloadTooLargeError: more rows than allowed (413).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import pydantic
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.errors import HallmarkError, InvalidInputError, PayloadTooLargeError
from hallmark.services.access import audit, authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.records.schemas import (
    BatchRowResult,
    FieldError,
)
from hallmark.store.records import StoredRecord

Mode = Literal["all_or_nothing", "per_row"]
T = TypeVar("T")
P = TypeVar("P")
C = TypeVar("C")


class BatchRejectedError(InvalidInputError):
    """An all-or-nothing batch had bad rows: nothing of it was stored."""

    code = "batch_rejected"

    def __init__(self, rows: list[BatchRowResult], total: int) -> None:
        super().__init__(
            f"{len(rows)} of {total} rows rejected; nothing of this batch was stored",
            details={"rows": [r.model_dump() for r in rows], "total": total},
        )


def row_errors(exc: HallmarkError) -> list[FieldError]:
    """A domain error (404, 409, 422 ...) as a row's field-level errors, on the field it names
    (`for_field`), else on the row as a whole."""
    where = str(exc.details.get("field", ""))
    return [FieldError(field=where, message=exc.message, type=exc.code)]


def _loc(loc: Sequence[int | str]) -> str:
    return ".".join(str(p) for p in loc)


def pydantic_errors(exc: pydantic.ValidationError, skip: int = 0) -> list[FieldError]:
    return [
        FieldError(field=_loc(err["loc"][skip:]), message=err["msg"], type=err["type"])
        for err in exc.errors(include_url=False)
    ]


def validate_rows(
    adapter: TypeAdapter[list[T]],
    item_adapter: TypeAdapter[T],
    rows: list[Any],
    known: dict[int, list[FieldError]] | None = None,
) -> tuple[list[T | None], dict[int, list[FieldError]]]:
    """Validate every row; returns the valid items (None for bad rows) and the errors by index.

    `known`: rows already found bad (e.g. unreadable CSV cells), not validated again.
    """
    if not known:
        try:
            return list(adapter.validate_python(rows)), {}
        except pydantic.ValidationError:
            pass
    items: list[T | None] = []
    errors: dict[int, list[FieldError]] = dict(known or {})
    for index, row in enumerate(rows):
        if index in errors:
            items.append(None)
            continue
        try:
            items.append(item_adapter.validate_python(row))
        except pydantic.ValidationError as exc:
            items.append(None)
            errors[index] = pydantic_errors(exc)
    return items, errors


@dataclass
class Planned(Generic[P]):
    """The accepted rows, in order, with their row indexes."""

    indexes: list[int] = field(default_factory=list)
    plans: list[P] = field(default_factory=list)


def check_size(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise PayloadTooLargeError(
            f"{count} records in one batch; at most {max_rows} per request",
            details={"rows": count, "max_rows": max_rows},
        )


def plan_rows(
    items: list[T | None],
    errors: dict[int, list[FieldError]],
    plan: Callable[[int, T], P],
) -> Planned[P]:
    """Plan each valid row in order; a domain error marks the row bad."""
    planned: Planned[P] = Planned()
    for index, item in enumerate(items):
        if item is None:
            continue
        try:
            planned_row = plan(index, item)
        except HallmarkError as exc:
            errors[index] = row_errors(exc)
            continue
        planned.indexes.append(index)
        planned.plans.append(planned_row)
    return planned


def rejected_rows(errors: dict[int, list[FieldError]]) -> list[BatchRowResult]:
    return [
        BatchRowResult(row=index + 1, status="rejected", errors=errors[index])
        for index in sorted(errors)
    ]


def require_clean(mode: Mode, errors: dict[int, list[FieldError]], total: int) -> None:
    """All-or-nothing: refuse the whole batch when any row is bad."""
    if mode == "all_or_nothing" and errors:
        raise BatchRejectedError(rejected_rows(errors), total)


#: A batch answer as JSON, in the shape of schemas.BatchResult (built as plain data: 10,000
#: rows would otherwise cost more as models than storing them does).
BatchAnswer = dict[str, Any]


def batch_answer(
    *,
    mode: Mode,
    total: int,
    errors: dict[int, list[FieldError]],
    created: dict[int, tuple[str, str]],
) -> BatchAnswer:
    """The per-row answer: created rows with id and record hash, rejected rows with errors."""
    rows: list[dict[str, Any]] = []
    for index in range(total):
        if index in created:
            record_id, record_hash = created[index]
            rows.append(
                {
                    "row": index + 1,
                    "status": "created",
                    "id": record_id,
                    "record_hash": record_hash,
                    "errors": [],
                }
            )
        else:
            rows.append(
                {
                    "row": index + 1,
                    "status": "rejected",
                    "id": None,
                    "record_hash": None,
                    "errors": [e.model_dump() for e in errors.get(index, [])],
                }
            )
    return {
        "mode": mode,
        "created": len(created),
        "rejected": total - len(created),
        "results": rows,
    }


@dataclass(frozen=True, slots=True)
class Speculation(Generic[T, C, P]):
    """How a kind's batch is planned and prepared on a snapshot, before the write lock.

    `context` loads what `make_context` loads, without locking; `versions` is everything in a
    context that plans depend on; `prepare` makes the records (the costly part: documents,
    canonical JSON, hashes) without the database; `store` writes prepared rows in the locked
    transaction (given its locked context).
    """

    context: Callable[[Session, Actor, Sequence[T | None]], C]
    versions: Callable[[C], Hashable]
    prepare: Callable[[Actor, Sequence[P]], Any]
    store: Callable[[Session, Actor, C, Any], list[StoredRecord]]


@dataclass(frozen=True, slots=True)
class Kind(Generic[T, C, P]):
    """What `run_batch` and `create_items` need to know of one kind of record.

    `make_context` loads (and locks) what the rows refer to, in a few queries; `plan` checks one
    item against that context (updating it, so later rows see earlier ones) and returns its plan,
    or raises a domain error; `write` stores the plans, in order, and returns their records.
    """

    #: The authorisation.WRITE_ROLES action, also the audit action of a single create.
    permission: str
    #: The audit action of a batch.
    batch_action: str
    #: The audit entries' object kind.
    object_kind: str
    list_adapter: TypeAdapter[list[T]]
    item_adapter: TypeAdapter[T]
    make_context: Callable[[Session, Actor, Sequence[T | None]], C]
    plan: Callable[[C, T], P]
    write: Callable[[Session, Actor, Sequence[P]], list[StoredRecord]]
    #: The public view of a created item: the answer of the kind's create endpoint.
    answer: Callable[[Session, Actor, P, StoredRecord], BaseModel]
    #: What the audit entry of a single create names besides the record hash.
    audit_details: Callable[[T], dict[str, Any]]
    #: Batches planned and prepared before the write lock (see `run_batch`), if the kind can.
    speculation: Speculation[T, C, P] | None = None


def run_batch(
    *,
    session: Session,
    actor: Actor,
    kind: Kind[T, C, P],
    rows: list[Any],
    mode: Mode,
    max_rows: int,
    known: dict[int, list[FieldError]] | None = None,
    validated: bool = False,
    snapshot: sessionmaker[Session] | None = None,
) -> BatchAnswer:
    """Validate, plan and store a batch of one kind; the answer lists every row's result.

    `known`: rows already found bad (unreadable CSV cells); `validated`: `rows` are the kind's
    items already (validated as a whole from the JSON bytes). `snapshot`: read sessions; with
    them, a kind that can (`Kind.speculation`) plans and prepares the batch on a snapshot
    before `session` takes the write lock, then stores it under the lock if nothing it depends
    on changed meanwhile (else it plans again under the lock). The lock is then held only for
    the inserts, and API processes prepare their batches in parallel.

    All-or-nothing: any bad row raises BatchRejectedError and nothing is stored; per_row: the
    good rows are stored. One audit entry (`kind.batch_action`) records the mode and the counts.
    """
    authorisation.require_role(actor, kind.permission)
    check_size(len(rows), max_rows)
    if validated:
        items: list[T | None] = list(rows)
        errors: dict[int, list[FieldError]] = {}
    else:
        items, errors = validate_rows(kind.list_adapter, kind.item_adapter, rows, known)
    guess = None
    if snapshot is not None and not (mode == "all_or_nothing" and errors):
        guess = _speculate(snapshot, actor, kind, items, errors)
    ctx = kind.make_context(session, actor, items)
    speculation = kind.speculation
    if (
        guess is not None
        and speculation is not None
        and speculation.versions(ctx) == guess.versions
    ):
        # Nothing the plans depend on changed since the snapshot, and every planned row passed
        # (`_speculate` gives up on a new bad row): store what was prepared.
        planned, errors = guess.planned, guess.errors
        stored = speculation.store(session, actor, ctx, guess.prepared)
    else:
        planned = plan_rows(items, errors, lambda _i, item: kind.plan(ctx, item))
        require_clean(mode, errors, len(rows))
        stored = kind.write(session, actor, planned.plans) if planned.plans else []
    created = {
        index: (record.id, record.record_hash)
        for index, record in zip(planned.indexes, stored, strict=True)
    }
    audit.append(
        session,
        actor=actor.audit,
        action=kind.batch_action,
        object_kind=kind.object_kind,
        details={"mode": mode, "created": len(created), "rejected": len(rows) - len(created)},
    )
    return batch_answer(mode=mode, total=len(rows), errors=errors, created=created)


@dataclass
class _Guess(Generic[P]):
    versions: Hashable
    planned: Planned[P]
    errors: dict[int, list[FieldError]]
    prepared: Any


def _speculate(
    snapshot: sessionmaker[Session],
    actor: Actor,
    kind: Kind[T, C, P],
    items: list[T | None],
    errors: dict[int, list[FieldError]],
) -> _Guess[P] | None:
    """The batch planned and prepared on a snapshot; None when the kind cannot, or a row is bad
    (its error is decided under the lock)."""
    speculation = kind.speculation
    if speculation is None:
        return None
    guessed = dict(errors)
    with snapshot() as read:
        ctx = speculation.context(read, actor, items)
        versions = speculation.versions(ctx)  # before planning, which moves the context on
        planned = plan_rows(items, guessed, lambda _i, item: kind.plan(ctx, item))
    if len(guessed) > len(errors) or not planned.plans:
        return None
    return _Guess(versions, planned, guessed, speculation.prepare(actor, planned.plans))


def create_items(
    *, session: Session, actor: Actor, kind: Kind[T, C, P], items: Sequence[T]
) -> list[tuple[P, StoredRecord] | HallmarkError]:
    """Create single items of one kind, in order, each accepted or refused on its own.

    What the create endpoints share, for one request or for several committed together
    (`group_commit`): the role check (raised for all), one context for every item, each
    item planned against the items before it, the accepted ones written in bulk. A refused
    item's outcome is its domain error, as it would be raised for it alone.
    """
    authorisation.require_role(actor, kind.permission)
    ctx = kind.make_context(session, actor, items)
    outcomes: list[tuple[P, StoredRecord] | HallmarkError | None] = []
    plans: list[P] = []
    positions: list[int] = []
    for item in items:
        try:
            plans.append(kind.plan(ctx, item))
        except HallmarkError as exc:
            outcomes.append(exc)
            continue
        positions.append(len(outcomes))
        outcomes.append(None)
    records = kind.write(session, actor, plans) if plans else []
    for position, plan, record in zip(positions, plans, records, strict=True):
        outcomes[position] = (plan, record)
    return [outcome for outcome in outcomes if outcome is not None]


def created_event(
    actor: Actor, kind: Kind[T, C, P], item: T, record: StoredRecord
) -> audit.AuditEvent:
    """The audit entry of one created item: `kind.permission`, naming the record and its hash."""
    return audit.AuditEvent(
        actor=actor.audit,
        action=kind.permission,
        object_kind=kind.object_kind,
        object_id=record.id,
        details={"record_hash": record.record_hash, **kind.audit_details(item)},
    )
