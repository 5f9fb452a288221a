"""Bulk inserts of thousands of rows at driver speed, in the session's transaction.

Why not `session.execute(insert(table), rows)`: for a 10,000-row batch SQLAlchemy's per-row
parameter handling cost more than the database's own work (docs/BENCHMARKS.md). Here the
statement is compiled once per table and column set, each value goes through its column type's
own bind processor (so what is stored is exactly what SQLAlchemy would store), and the rows
reach the driver as tuples: `executemany` through
`Connection.exec_driver_sql` (still SQLAlchemy's error mapping and events) on SQLite, `COPY`
on PostgreSQL. A few rows on PostgreSQL (fewer than `COPY_MIN_ROWS`: a group of single creates)
go as one multi-row INSERT instead: one round trip to the server, where a COPY takes two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hallmark.store.conflicts import unique_violation


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    columns: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    copy: bool


_STATEMENTS: dict[tuple[int, str, tuple[str, ...]], _Statement] = {}

#: From this many rows on, PostgreSQL gets a COPY; below, one multi-row INSERT.
COPY_MIN_ROWS = 64


def _statement(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Statement:
    key = (id(dialect), table.name, columns)
    found = _STATEMENTS.get(key)
    if found is None:
        processors = tuple(
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
        )
        if dialect.name == "postgresql":
            quote = dialect.identifier_preparer.quote
            names = ", ".join(quote(name) for name in columns)
            sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
            found = _Statement(sql, columns, processors, copy=True)
        else:
            compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
            order = compiled.positiontup or list(columns)
            if tuple(order) != columns:  # positional parameters must follow the column order
                raise ValueError(f"unexpected parameter order {order} for {columns}")
            found = _Statement(str(compiled), columns, processors, copy=False)
        _STATEMENTS[key] = found
    return found


def _driver_values(
    statement: _Statement, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """The rows as tuples of driver values, column by column. A batch repeats some value objects
    (its timestamp): each object is processed once (by identity: equal datetimes with other
    offsets must still be processed on their own)."""
    columns: list[list[Any]] = []
    for name, process in zip(statement.columns, statement.processors, strict=True):
        raw = [row[name] for row in rows]
        if process is not None:
            done: dict[int, Any] = {}
            processed: list[Any] = []
            for value in raw:
                if value is None:
                    processed.append(None)
                    continue
                key = id(value)
                if key not in done:
                    done[key] = process(value)
                processed.append(done[key])
            raw = processed
        columns.append(raw)
    return list(zip(*columns, strict=True))


def bulk_insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table` in the session's transaction."""
    if not rows:
        return
    connection = session.connection()
    statement = _statement(connection.dialect, table, tuple(rows[0]))
    values = _driver_values(statement, rows)
    if not statement.copy:
        connection.exec_driver_sql(statement.sql, values)
        return
    if len(values) < COPY_MIN_ROWS:
        quote = connection.dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in statement.columns)
        row = "(" + ", ".join(["%s"] * len(statement.columns)) + ")"
        # Identifiers quoted by the dialect; every value is a bound parameter.
        sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES {', '.join([row] * len(values))}"  # noqa: S608
        connection.exec_driver_sql(sql, tuple(value for each in values for value in each))
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    error = connection.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(statement.sql) as copy:
            for value in values:
                copy.write_row(value)
    except error as exc:
        # What an ordinary INSERT would raise: a named conflict, else the same error classes
        # (IntegrityError, ...).
        conflict = unique_violation(exc)
        if conflict is not None:
            raise conflict from exc
        raise DBAPIError.instance(
            statement.sql, None, exc, error, dialect=connection.dialect
        ) from exc
