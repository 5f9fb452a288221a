"""Unique violations, named: the store's answer when a write meets a row stored meanwhile.

Two transactions that check "no such serial yet" with a SELECT and then insert it both pass the
check; the database's unique constraint stops the second at INSERT (on PostgreSQL, once the
first commits). That is a conflict of the request with what is stored, not a fault of the
service: every engine from `db.make_engine` turns such an `IntegrityError` into a
`UniqueViolationError` (409) naming the constraint, and the field it guards where the API
has one. Other integrity errors (a foreign key, a NOT NULL) stay what they are: Hallmark's bugs.

PostgreSQL names the constraint (`diag.constraint_name`); SQLite names the table and columns
("UNIQUE constraint failed: products.serial"), which the models' constraints map to the name
the migrations gave the constraint (`models.NAMING_CONVENTION`).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.engine import ExceptionContext

from hallmark.core.errors import UniqueViolationError
from hallmark.store.models import NAMING_CONVENTION, Base

#: constraint name → (what exists already, the request field it guards).
DESCRIPTIONS: dict[str, tuple[str, str | None]] = {
    "uq_products_serial": ("a product with this serial", "serial"),
    "uq_products_edition_owner_id": ("this edition number of the series", "edition.number"),
    "uq_material_lots_owner_id": ("a lot with this number for its owner", "lot_number"),
    "uq_production_steps_product_id": (
        "a step at this place of the product's step chain (recorded meanwhile)",
        None,
    ),
    "uq_records_record_hash": ("a record with the same content hash", None),
    "uq_organisations_name": ("an organisation with this name", "name"),
    "uq_principals_organisation_id": ("a principal with this name in the organisation", "name"),
    "uq_staff_users_username": ("a staff account with this username", "username"),
    "pk_idempotency_keys": ("an answer stored for this Idempotency-Key", None),
}

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_SQLITE_UNIQUE_CODES = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
#: SQLSTATE of a unique violation (PostgreSQL).
_PG_UNIQUE = "23505"


@cache
def _names_by_columns() -> dict[tuple[str, tuple[str, ...]], str]:
    """(table, columns) → the constraint's name, for every unique constraint of the models."""
    names: dict[tuple[str, tuple[str, ...]], str] = {}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, PrimaryKeyConstraint):
                convention = NAMING_CONVENTION["pk"]
            elif isinstance(constraint, UniqueConstraint):
                convention = NAMING_CONVENTION["uq"]
            else:
                continue
            columns = tuple(column.name for column in constraint.columns)
            if columns:
                tokens = {"table_name": table.name, "column_0_name": columns[0]}
                names[(table.name, columns)] = convention % tokens
        for index in table.indexes:
            if index.unique and index.name is not None:
                columns = tuple(column.name for column in index.columns)
                names[(table.name, columns)] = str(index.name)
    return names


def constraint_name(driver_error: BaseException) -> str | None:
    """The unique constraint a driver's error reports as violated; None for any other error."""
    if getattr(driver_error, "sqlstate", None) == _PG_UNIQUE:  # psycopg
        diag: Any = getattr(driver_error, "diag", None)
        name = getattr(diag, "constraint_name", None)
        return str(name) if name else "unique"
    if getattr(driver_error, "sqlite_errorname", None) in _SQLITE_UNIQUE_CODES:
        found = _SQLITE_UNIQUE.search(str(driver_error))
        if found is None:
            return "unique"
        qualified = [part.strip() for part in found.group(1).split(",")]
        table = qualified[0].split(".", 1)[0]
        columns = tuple(part.split(".", 1)[-1] for part in qualified)
        return _names_by_columns().get((table, columns), f"{table}({', '.join(columns)})")
    return None


def unique_violation(driver_error: BaseException) -> UniqueViolationError | None:
    """The conflict a driver's error stands for, or None when it is not a unique violation."""
    name = constraint_name(driver_error)
    if name is None:
        return None
    what, field = DESCRIPTIONS.get(name, (f"a row with the same values ({name})", None))
    return UniqueViolationError(name, what, field=field)


def handle_error(context: ExceptionContext) -> UniqueViolationError | None:
    """An engine `handle_error` listener: a unique violation is raised as a conflict."""
    return unique_violation(context.original_exception)
