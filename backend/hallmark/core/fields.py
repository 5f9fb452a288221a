"""Field types every domain's schemas share: exact decimals, short texts, codes, JSON objects.

Quantities, masses and coordinates are exact decimals, written as decimal strings in documents
and answers so hashes never depend on float formatting. Free-form JSON objects are checked for
what canonical JSON can hold (integers within ±(2**53 - 1), limited nesting).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
)

from hallmark.core.canonical import MAX_SAFE_INTEGER

# --- decimals ----------------------------------------------------------------------------------


def fixed(value: Decimal) -> Decimal:
    """Plain notation, no negative zero (1E+3 → 1000, -0 → 0)."""
    return Decimal(0) if value == 0 else Decimal(format(value, "f"))


def decimal_text(value: Decimal) -> str:
    """Plain notation, keeping the given precision ("12.500" stays "12.500")."""
    return format(value, "f")


def plain(value: Decimal) -> str:
    """Plain notation without trailing zeros (database values carry 6 decimals)."""
    return format(Decimal(value).normalize(), "f") if value != 0 else "0"


#: Serialises a Decimal as its decimal text, in JSON and in Python dumps alike.
DecimalOut = PlainSerializer(decimal_text, return_type=str, when_used="always")

#: A positive exact quantity (at most 15 significant digits, 6 decimals).
Quantity = Annotated[
    Decimal,
    Field(gt=0, max_digits=15, decimal_places=6, examples=["12.500"]),
    AfterValidator(fixed),
    DecimalOut,
]
#: A non-negative exact quantity.
NonNegativeQuantity = Annotated[
    Decimal,
    Field(ge=0, max_digits=15, decimal_places=6, examples=["0.150"]),
    AfterValidator(fixed),
    DecimalOut,
]
Latitude = Annotated[
    Decimal,
    Field(ge=-90, le=90, max_digits=10, decimal_places=7),
    AfterValidator(fixed),
    DecimalOut,
]
Longitude = Annotated[
    Decimal,
    Field(ge=-180, le=180, max_digits=10, decimal_places=7),
    AfterValidator(fixed),
    DecimalOut,
]

# --- texts and codes ---------------------------------------------------------------------------


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[str, AfterValidator(_country), Field(examples=["ZA"])]
Sha256 = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$", to_lower=True), Field(examples=["ab" * 32])
]
RecordHash = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$", to_lower=True)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ObjectId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

# --- JSON objects ------------------------------------------------------------------------------

MAX_JSON_DEPTH = 16


def _json_safe(value: Any, depth: int = 0) -> None:
    # Hand-written: cheaper than a full canonicalisation per object, and JsonValue alone
    # accepts integers beyond the range canonical JSON allows.
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is beyond ±(2**53 - 1); send it as a string")
    elif isinstance(value, dict):
        for item in value.values():
            _json_safe(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _json_safe(item, depth + 1)


def _check_object(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    _json_safe(value)
    return value


#: A free-form JSON object (finite numbers, integers within ±2**53-1).
JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_check_object)]


class Input(BaseModel):
    """Strict about unknown fields (a typo is a field-level error, not silently dropped)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
