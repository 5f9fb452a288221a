"""Batch writes: validate every row at once, plan row by row, store the accepted rows in bulk.

Flow of a batch (lots, products or steps):
1. validate the whole list with one Pydantic TypeAdapter (fast path: every row valid);
2. the kind's planner checks each valid row against the database (loaded up front in a few
   queries) and against the rows accepted before it in the same batch, raising a domain error
   for a bad row; the error becomes that row's field-level errors;
3. `all_or_nothing` (default): any bad row → BatchRejectedError (422) listing every bad row,
   nothing stored; `per_row`: the good rows are stored, the bad rows reported;
4. the kind's writer inserts the accepted rows with bulk INSERTs in the caller's transaction.

Raises:
    BatchRejectedError: all-or-nothing batch with at least one bad row (422).
    PayloadTooLargeError: more rows than allowed (413).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import pydantic
from pydantic import TypeAdapter

from hallmark.core.errors import HallmarkError, PayloadTooLargeError, ValidationError
from hallmark.schemas import BatchRowResult, FieldError

Mode = Literal["all_or_nothing", "per_row"]
T = TypeVar("T")
P = TypeVar("P")


class BatchRejectedError(ValidationError):
    """An all-or-nothing batch had bad rows: nothing of it was stored."""

    code = "batch_rejected"

    def __init__(self, rows: list[BatchRowResult], total: int) -> None:
        super().__init__(
            f"{len(rows)} of {total} rows rejected; nothing of this batch was stored",
            details={"rows": [r.model_dump() for r in rows], "total": total},
        )


class RowError(Exception):
    """A row's problems, as field-level errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def domain_error(exc: HallmarkError, field: str = "") -> RowError:
    """A domain error (404, 409, 422 ...) as a row error on `field`."""
    where = str(exc.details.get("field", field))
    return RowError([FieldError(field=where, message=exc.message, type=exc.code)])


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
    """Plan each valid row in order; a RowError or domain error marks the row bad."""
    planned: Planned[P] = Planned()
    for index, item in enumerate(items):
        if item is None:
            continue
        try:
            result = plan(index, item)
        except RowError as exc:
            errors[index] = exc.errors
            continue
        except HallmarkError as exc:
            errors[index] = domain_error(exc).errors
            continue
        planned.indexes.append(index)
        planned.plans.append(result)
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


def result(
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


def invalid(field: str, message: str, **details: Any) -> ValidationError:
    """A 422 naming the field, in the shape of the request validation errors."""
    return ValidationError(
        message,
        details={
            "field": field,
            "fields": [{"field": field, "message": message, "type": "value_error"}],
            **details,
        },
    )


E = TypeVar("E", bound=HallmarkError)


def at(field: str, error: E) -> E:
    """Name the field a domain error is about (for batch row errors)."""
    error.details["field"] = field
    return error
