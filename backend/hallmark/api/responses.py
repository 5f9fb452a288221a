"""The API's JSON responses, encoded by orjson; stored files served as downloads.

Why not Starlette's JSONResponse: the standard library's encoder is far slower than orjson on
large batch answers (docs/BENCHMARKS.md). Output is the same compact UTF-8 JSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response


class FastJSONResponse(JSONResponse):
    """JSONResponse rendered by orjson (no NaN or Infinity ever reaches an answer: inputs refuse
    them). orjson holds integers to 64 bits; inputs refuse larger numbers, but a record stored
    before they did is still answered, by the standard library's encoder."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except orjson.JSONEncodeError:
            return json.dumps(
                content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode()


def download(
    data: bytes,
    name: str,
    *,
    media_type: str = "application/octet-stream",
    headers: dict[str, str] | None = None,
) -> Response:
    """A stored file, always as a download named `name`: of the type given, never sniffed,
    never run (stored files come from other organisations and are served from the API's own
    origin); `headers` add to those."""
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            **(headers or {}),
        },
    )
