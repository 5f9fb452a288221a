"""Batch imports: a JSON array or a CSV table of lots, products or steps, into the kind's batch.

Flow: decode the body (JSON array of objects, or CSV with a header line), turn each CSV line into
the same object a JSON client would send, refuse more rows than allowed (413), then hand the
rows to `kinds.run_batch` with the kind's `Kind` (`KINDS`: `lots`, `products`, `steps`), which
validates, plans and stores them (all-or-nothing or per row).

CSV rules (docs/RECORDS.md lists the columns of each kind):
- one column per field, named as in the JSON API; an empty cell means "not given";
- nested fields by dotted column names: `origin.country`, `edition.series`,
  `materials.0.lot` (a number is a list position), `parameters.layer_height_mm`;
- or a whole list/object as JSON in one cell: `certificates`, `materials`, `parameters`, ...;
- cells inside free-form objects (`extra`, `private`, `parameters`, `measurements`) are JSON
  values when they parse as JSON (`12`, `true`, `{"a": 1}`), text otherwise;
- `attachments` (steps) may also be SHA-256 values separated by `;`.

Raises:
    InvalidInputError: a body that is neither a JSON array nor CSV with a header.
    PayloadTooLargeError: more rows than allowed.
    BatchRejectedError: an all-or-nothing batch with bad rows.
"""

from __future__ import annotations

import csv
import functools
import io
from collections import Counter
from typing import Any, Literal

import pydantic
import pydantic_core
from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.errors import InvalidInputError, invalid_field
from hallmark.services.access import authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.records import kinds, lots, products, steps
from hallmark.services.records.schemas import FieldError

#: The kinds a batch import names, as in its URL (`/api/v1/<kind>/batch`).
KindName = Literal["lots", "products", "steps"]

#: Columns holding a list or an object: a JSON cell when the column is not dotted.
STRUCTURED: dict[str, frozenset[str]] = {
    "lots": frozenset(
        {
            "origin",
            "certificates",
            "recycled_from",
            "refining",
            "transport",
            "ethics",
            "extra",
            "private",
        }
    ),
    "products": frozenset({"edition", "materials"}),
    "steps": frozenset({"parameters", "measurements", "attachments"}),
}
#: Free-form objects: their cells are JSON values when they parse as JSON.
FREE_FORM = frozenset({"extra", "private", "parameters", "measurements"})

#: The record kinds by the name their URLs use: what each kind's batch and single creates need
#: (`kinds.run_batch`, `kinds.create_items`).
KINDS: dict[str, kinds.Kind[Any, Any, Any]] = {
    "lots": lots.KIND,
    "products": products.KIND,
    "steps": steps.KIND,
}


def parse_rows(
    kind: KindName, body: bytes, content_type: str, max_rows: int
) -> tuple[list[Any], dict[int, list[FieldError]]]:
    """The rows of a JSON or CSV body, and the CSV cells that could not be read, by row."""
    if _is_csv(content_type):
        return _csv_rows(kind, body, max_rows)
    try:
        rows = parse_json_value(body)
    except ValueError as exc:
        raise invalid_field("body", f"the body is not JSON: {exc}") from None
    if not isinstance(rows, list):
        raise invalid_field("body", "a batch is a JSON array of objects (or text/csv)")
    kinds.check_size(len(rows), max_rows)
    return rows, {}


def parse_json_value(text: str | bytes) -> Any:
    """JSON text as Python values, by a parser with a nesting limit (ValueError beyond it, as
    for any malformed JSON); `NaN` and `Infinity` are not JSON."""
    return pydantic_core.from_json(text, allow_inf_nan=False, cache_strings=False)


def _is_csv(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in ("text/csv", "application/csv")


def _csv_rows(
    kind: KindName, body: bytes, max_rows: int
) -> tuple[list[Any], dict[int, list[FieldError]]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid_field("body", f"CSV must be UTF-8: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise invalid_field("body", "the CSV has no header line") from None
    except csv.Error as exc:
        raise invalid_field("body", f"unreadable CSV: {exc}") from None
    header = [h.strip() for h in header]
    if not any(header):
        raise invalid_field("body", "the CSV header is empty")
    twice = sorted(name for name, count in Counter(h for h in header if h).items() if count > 1)
    if twice:
        raise invalid_field("body", f"CSV columns named more than once: {', '.join(twice)}")
    try:
        lines = [line for line in reader if any(cell.strip() for cell in line)]
    except csv.Error as exc:
        raise invalid_field("body", f"unreadable CSV: {exc}") from None
    kinds.check_size(len(lines), max_rows)
    rows: list[Any] = []
    errors: dict[int, list[FieldError]] = {}
    for index, line in enumerate(lines):
        row, problems = csv_row(kind, header, line)
        rows.append(row)
        if problems:
            errors[index] = problems
    return rows, errors


def _cell_value(kind: KindName, path: list[str], cell: str) -> Any:
    top = path[0]
    if len(path) == 1 and top in STRUCTURED[kind]:
        if top == "attachments" and not cell.lstrip().startswith("["):
            return [part.strip() for part in cell.split(";") if part.strip()]
        return parse_json_value(cell)
    if top in FREE_FORM and len(path) > 1:
        try:
            return parse_json_value(cell)
        except ValueError:
            return cell
    return cell


def csv_row(kind: KindName, header: list[str], line: list[str]) -> tuple[Any, list[FieldError]]:
    """One CSV line as the object a JSON client would send, and the cells that failed."""
    row: dict[str, Any] = {}
    problems: list[FieldError] = []
    if len(line) > len(header):
        problems.append(
            FieldError(
                field="",
                message=f"{len(line)} cells for {len(header)} columns",
                type="csv_error",
            )
        )
    for name, cell in zip(header, line, strict=False):
        if not name or not cell.strip():
            continue
        path = name.split(".")
        try:
            value = _cell_value(kind, path, cell.strip())
        except ValueError as exc:
            problems.append(
                FieldError(field=name, message=f"not valid JSON: {exc}", type="json_invalid")
            )
            continue
        target: dict[str, Any] = row
        for part in path[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(
                    FieldError(
                        field=name, message="column conflicts with another", type="csv_error"
                    )
                )
                break
            target = child
        else:
            target[path[-1]] = value
    return _lists(row), problems


def _lists(value: Any) -> Any:
    """Objects whose keys are all list positions become lists (`materials.0.lot`)."""
    if not isinstance(value, dict):
        return value
    converted = {k: _lists(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def ingest(
    *,
    session: Session,
    actor: Actor,
    kind: KindName,
    body: bytes,
    content_type: str,
    mode: kinds.Mode,
    max_rows: int,
    snapshot: sessionmaker[Session] | None = None,
) -> kinds.BatchAnswer:
    """Parse a JSON or CSV batch and write it as the kind's batch (BatchResult JSON).

    `snapshot`: read sessions, to prepare the batch before the write lock (`run_batch`)."""
    if kind not in KINDS:
        raise InvalidInputError(f"unknown batch kind {kind!r}")
    batch = KINDS[kind]
    authorisation.require_role(actor, batch.permission)
    run = functools.partial(
        kinds.run_batch,
        session=session,
        actor=actor,
        kind=batch,
        mode=mode,
        max_rows=max_rows,
        snapshot=snapshot,
    )
    if not _is_csv(content_type):
        try:
            # Fast path: a valid JSON array straight from the bytes (no intermediate objects).
            items = batch.list_adapter.validate_json(body)
        except pydantic.ValidationError:
            pass  # below: the rows one by one, each bad one with its own errors
        else:
            kinds.check_size(len(items), max_rows)
            return run(rows=items, validated=True)
    rows, known = parse_rows(kind, body, content_type, max_rows)
    return run(rows=rows, known=known)
