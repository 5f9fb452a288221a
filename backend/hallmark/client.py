"""A client of Hallmark's HTTP API, for the command line (`hallmark import`, `hallmark product`).

It talks to a Hallmark anywhere (a factory runs the CLI against a remote Hallmark), through the
same batch endpoints as any other client. Importing a CSV file: split it into chunks of rows
(each sent as text/csv with the header line, in `per_row` mode, with an Idempotency-Key derived
from the file's content and the chunk, so a re-run after a failure never stores a row twice),
and collect every rejected row's errors with its row number in the file.

Raises:
    RemoteApiError: the API is unreachable, or answered with an error (its message included).
    ValidationError: the file is not a readable CSV with a header line.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hallmark.core.errors import RemoteApiError, ValidationError

KINDS = ("lots", "products", "steps")


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    message: str


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.errors})


class HallmarkClient:
    """Hallmark's API over HTTP; no I/O until a method is called."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HallmarkClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RemoteApiError(self.base_url, str(exc) or type(exc).__name__) from exc
        if response.status_code >= 400:
            raise RemoteApiError(self.base_url, _reason(response), status=response.status_code)
        return response.json()

    def send_batch(self, kind: str, csv_text: str, *, key: str) -> dict[str, Any]:
        """POST one CSV chunk to /api/v1/<kind>/batch in per_row mode."""
        result: dict[str, Any] = self._request(
            "POST",
            f"/api/v1/{kind}/batch",
            params={"mode": "per_row"},
            content=csv_text.encode("utf-8"),
            headers={"Content-Type": "text/csv; charset=utf-8", "Idempotency-Key": key},
        )
        return result

    def retrieve_provenance(self, serial: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/api/v1/products/{serial}/provenance")
        return result


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


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
            raise ValidationError(f"{path} is empty (a CSV file needs a header line)") from None
        except csv.Error as exc:
            raise ValidationError(f"{path} is not readable CSV: {exc}") from None
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
            raise ValidationError(f"{path}: unreadable CSV after row {number}: {exc}") from None
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
    client: HallmarkClient,
    *,
    kind: str,
    path: Path,
    chunk: int,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Send the file in per-row chunks; returns what was created and every row's errors."""
    if kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
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
                    RowError(
                        row=part.first_row + int(row["row"]) - 1,
                        field=error["field"],
                        message=error["message"],
                    )
                )
        if progress is not None:
            progress(part.rows)
    return report


def write_error_report(path: Path, errors: list[RowError]) -> None:
    """CSV with one line per error: row (data row number in the file), field, message."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "field", "message"])
        for error in errors:
            writer.writerow([error.row, error.field, error.message])
