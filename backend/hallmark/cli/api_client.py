"""A client of Hallmark's HTTP API, for the command line (`hallmark import`, `hallmark product`).

It talks to a Hallmark anywhere (a factory runs the CLI against a remote Hallmark), through the
same endpoints as any other client.

Raises:
    RemoteApiError: the API is unreachable, or answered with an error (its message included).
"""

from __future__ import annotations

from typing import Any, Self

import httpx

from hallmark.core.errors import RemoteApiError


class ApiClient:
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

    def __enter__(self) -> Self:
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

    def send_json(
        self, path: str, body: dict[str, Any], *, key: str | None = None
    ) -> dict[str, Any]:
        """POST a JSON body (with an Idempotency-Key when given); the answer."""
        headers = {"Idempotency-Key": key} if key else {}
        result: dict[str, Any] = self._request("POST", path, json=body, headers=headers)
        return result

    def retrieve_json(self, path: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", path)
        return result

    def retrieve_file(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        """GET a file (a QR code, a PDF): the whole answer, its bytes and headers."""
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise RemoteApiError(self.base_url, str(exc) or type(exc).__name__) from exc
        if response.status_code >= 400:
            raise RemoteApiError(self.base_url, _reason(response), status=response.status_code)
        return response

    def retrieve_provenance(self, serial: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/api/v1/products/{serial}/provenance")
        return result


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


# --- design rights (`hallmark designs assign|licence|rights`) ------------------------------------


def send_json(api: ApiClient, method: str, path: str, body: Any | None = None) -> dict[str, Any]:
    """One JSON request through `api` (its errors as RemoteApiError)."""
    result: dict[str, Any] = api._request(method, path, json=body)
    return result
