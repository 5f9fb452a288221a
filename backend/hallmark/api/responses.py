"""The API's JSON responses, encoded by orjson.

Why not Starlette's JSONResponse: the standard library's encoder is far slower than orjson on
large batch answers (docs/BENCHMARKS.md). Output is the same compact UTF-8 JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """JSONResponse rendered by orjson (no NaN or Infinity ever reaches an answer: inputs refuse
    them)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
