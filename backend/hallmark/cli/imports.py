"""`hallmark import lots|products|steps FILE.csv`: a CSV file imported through the HTTP API.

The file is split into chunks of rows, each sent as text/csv with the header line to the kind's
batch endpoint in `per_row` mode, with an Idempotency-Key derived from the file's content and the
chunk, so a re-run after a failure never stores a row twice. Every rejected row's errors are
collected with its row number in the file (and written to a CSV report on request).

Raises:
    RemoteApiError: the API is unreachable, or answered with an error (its message included).
    InvalidInputError: the file is not a readable CSV with a header line.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from hallmark.cli.api_client import ApiClient
from hallmark.cli.console import (
    ApiKeyOption,
    ApiUrlOption,
    err,
    fail,
    out,
    reported,
    require_api_key,
)
from hallmark.core.errors import InvalidInputError

KINDS = ("lots", "products", "steps")

import_app = typer.Typer(
    help="Import lots, products or steps from CSV through the HTTP API (docs/RECORDS.md).",
    no_args_is_help=True,
)


def _import(
    kind: str,
    file: Path,
    *,
    api_url: str,
    api_key: str | None,
    chunk: int,
    errors: Path | None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    if chunk < 1:
        fail("--chunk must be at least 1")
    if not file.is_file():
        fail(f"{file} is not a file")
    key = require_api_key(api_key)
    with reported(), ApiClient(api_url, key) as api:
        total = count_rows(file)
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeRemainingColumn(), console=err) as bar:
            task = bar.add_task(f"importing {kind}", total=total)
            report = import_csv(
                api,
                kind=kind,
                path=file,
                chunk=chunk,
                progress=lambda rows: bar.advance(task, rows),
            )
    if errors is not None:
        write_error_report(errors, report.errors)
    out.print(
        f"{report.created} of {report.total} {kind} imported, {report.rejected_rows} rejected"
        + (f" (errors in {errors})" if errors is not None and report.errors else "")
    )
    if report.errors:
        for error in report.errors[:10]:
            err.print(f"row {error.row}: {error.field}: {error.message}", markup=False)
        if len(report.errors) > 10:
            err.print(f"... and {len(report.errors) - 10} more", markup=False)
        raise typer.Exit(1)


def _import_command(kind: str) -> None:
    @import_app.command(kind)
    def command(
        file: Annotated[Path, typer.Argument(help="CSV file with a header line")],
        api_url: ApiUrlOption = "http://127.0.0.1:8000",
        api_key: ApiKeyOption = None,
        chunk: Annotated[int, typer.Option(help="Rows per request")] = 1000,
        errors: Annotated[
            Path | None, typer.Option(help="Write every rejected row's errors to this CSV")
        ] = None,
    ) -> None:
        _import(kind, file, api_url=api_url, api_key=api_key, chunk=chunk, errors=errors)

    command.__doc__ = f"Import {kind} from a CSV file (per row; exit 1 when any row failed)."


for _kind in ("lots", "products", "steps"):
    _import_command(_kind)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One error of a rejected row: its data row number in the file, the field, why."""

    row: int
    field: str
    message: str


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    errors: list[RowProblem] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.errors})


@dataclass(frozen=True, slots=True)
class Chunk:
    first_row: int  # 1-based data row number of the chunk's first row
    rows: int
    text: str


def csv_chunks(path: Path, size: int) -> Iterator[Chunk]:
    """The file's data rows in chunks of `size`, each as CSV text with the header line."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidInputError(f"{path} is empty (a CSV file needs a header line)") from None
        except csv.Error as exc:
            raise InvalidInputError(f"{path} is not readable CSV: {exc}") from None
        batch: list[list[str]] = []
        first = 1
        number = 0
        try:
            for line in reader:
                if not any(cell.strip() for cell in line):
                    continue  # the server skips blank lines too: row numbers stay aligned
                number += 1
                batch.append(line)
                if len(batch) == size:
                    yield Chunk(first, len(batch), _text(header, batch))
                    first, batch = number + 1, []
        except csv.Error as exc:
            raise InvalidInputError(f"{path}: unreadable CSV after row {number}: {exc}") from None
        if batch:
            yield Chunk(first, len(batch), _text(header, batch))


def _text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return max(0, sum(1 for line in csv.reader(handle) if any(c.strip() for c in line)) - 1)


def import_csv(
    client: ApiClient,
    *,
    kind: str,
    path: Path,
    chunk: int,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Send the file in per-row chunks; returns what was created and every row's errors."""
    if kind not in KINDS:
        raise InvalidInputError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    report = ImportReport()
    for index, part in enumerate(csv_chunks(path, chunk)):
        key = "import-" + hashlib.sha256(f"{kind}:{digest}:{chunk}:{index}".encode()).hexdigest()
        result = client.send_batch(kind, part.text, key=key[:64])
        report.total += part.rows
        report.created += int(result["created"])
        for row in result["results"]:
            for error in row.get("errors", []):
                report.errors.append(
                    RowProblem(
                        row=part.first_row + int(row["row"]) - 1,
                        field=error["field"],
                        message=error["message"],
                    )
                )
        if progress is not None:
            progress(part.rows)
    return report


def write_error_report(path: Path, errors: list[RowProblem]) -> None:
    """CSV with one line per error: row (data row number in the file), field, message."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "field", "message"])
        for error in errors:
            writer.writerow([error.row, error.field, error.message])
