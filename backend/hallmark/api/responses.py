"""The API's JSON responses, encoded by orjson.

Why not Starlette's JSONResponse: the standard library's encoder is far slower than orjson on
large batch answers (docs/BENCHMARKS.md). Output is the same compact UTF-8 JSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.responses import JSONResponse


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
