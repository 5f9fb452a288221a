"""Field types every domain's schemas share: exact decimals, short texts, codes, JSON objects.

Quantities, masses and coordinates are exact decimals, written as decimal strings in documents
and answers so hashes never depend on float formatting. Free-form JSON objects are checked for
what canonical JSON can hold (integers within ±(2**53 - 1), limited nesting).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any

import orjson
import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
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

#: A decimal as text: ASCII digits, an optional sign, fraction and exponent (Python's Decimal
#: alone would also take other scripts' digits, `1_000`, `NaN` and `Infinity`).
DECIMAL_TEXT = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def _decimal_input(value: Any) -> Any:
    if isinstance(value, str) and not DECIMAL_TEXT.match(value.strip()):
        raise ValueError(f"{value!r} is not a decimal number written with the digits 0-9")
    return value


AsciiDecimal = BeforeValidator(_decimal_input)

# What the OpenAPI document says of each decimal: text matching a pattern that accepts no more
# than the validators do (the validators count digits after dropping trailing zeros; JSON
# numbers are accepted too, but text is the documented form).
_POSITIVE = r"[1-9][0-9]{0,8}(\.[0-9]{0,6}0*)?|0?\.[0-9]{0,5}[1-9]0*"
POSITIVE_DECIMAL = f"^({_POSITIVE})$"
NON_NEGATIVE_DECIMAL = f"^({_POSITIVE}|0(\\.0*)?)$"
LATITUDE_DECIMAL = r"^-?(90(\.0*)?|[1-8]?[0-9](\.[0-9]{0,7}0*)?)$"
LONGITUDE_DECIMAL = r"^-?(180(\.0*)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]{0,7}0*)?)$"


def _decimal_schema(pattern: str, example: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern, "examples": [example]})


#: A positive exact quantity (at most 15 significant digits, 6 decimals).
Quantity = Annotated[
    Decimal,
    Field(gt=0, max_digits=15, decimal_places=6),
    AsciiDecimal,  # after the constraints, which stay native; still runs first
    AfterValidator(fixed),
    DecimalOut,
    _decimal_schema(POSITIVE_DECIMAL, "12.500"),
]
#: A non-negative exact quantity.
NonNegativeQuantity = Annotated[
    Decimal,
    Field(ge=0, max_digits=15, decimal_places=6),
    AsciiDecimal,  # after the constraints, which stay native; still runs first
    AfterValidator(fixed),
    DecimalOut,
    _decimal_schema(NON_NEGATIVE_DECIMAL, "0.150"),
]
Latitude = Annotated[
    Decimal,
    Field(ge=-90, le=90, max_digits=10, decimal_places=7),
    AsciiDecimal,  # after the constraints, which stay native; still runs first
    AfterValidator(fixed),
    DecimalOut,
    _decimal_schema(LATITUDE_DECIMAL, "-26.2041"),
]
Longitude = Annotated[
    Decimal,
    Field(ge=-180, le=180, max_digits=10, decimal_places=7),
    AsciiDecimal,  # after the constraints, which stay native; still runs first
    AfterValidator(fixed),
    DecimalOut,
    _decimal_schema(LONGITUDE_DECIMAL, "28.0473"),
]

# --- texts and codes ---------------------------------------------------------------------------


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[
    str,
    AfterValidator(_country),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(country.alpha_2 for country in pycountry.countries),
            "examples": ["ZA"],
        }
    ),
]
#: A SHA-256 in hex.
SHA256_PATTERN = "^[0-9a-fA-F]{64}$"
Sha256 = Annotated[
    str, StringConstraints(pattern=SHA256_PATTERN, to_lower=True), Field(examples=["ab" * 32])
]
RecordHash = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$", to_lower=True)]

#: Characters that change how text around them is shown without being seen themselves: bidi
#: embeddings, overrides and isolates, zero-width spaces and joiners, the byte order mark.
INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)


#: Control characters (C0, DEL, C1), the `INVISIBLE` ones and lone surrogates; tab, line feed
#: and carriage return are allowed in paragraphs only.
_HIDDEN_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff" + "".join(sorted(INVISIBLE)) + "]"
)
_LINE_BREAKS = re.compile("[\t\n\r]")


def _refuse_hidden(value: str, allowed: str) -> str:
    found = _HIDDEN_CHARS.search(value) or (None if allowed else _LINE_BREAKS.search(value))
    if found is not None:
        raise ValueError(
            f"character U+{ord(found.group()):04X} at position {found.start()} is a control, "
            "bidi or invisible character; names and numbers are plain text"
        )
    return value


def plain_text(value: str) -> str:
    """Refuse control characters (C0, C1), bidi controls and zero-width characters: a name or a
    number shows as what it is, in a page, a terminal or a PDF."""
    return _refuse_hidden(value, "")


def plain_paragraph(value: str) -> str:
    """As `plain_text`, with line breaks and tabs allowed (notes)."""
    return _refuse_hidden(value, "\n\r\t")


#: What the OpenAPI document says of plain text: no control, bidi or invisible character, not
#: only spaces (the validators strip surrounding spaces, then refuse those characters). Written
#: for ECMA-262 regexes as JSON Schema validators read them: no `\\s` (whose members differ
#: between engines) and no lone surrogates (`\\ud800-\\udfff` is no valid pattern where strings
#: are Unicode scalar values, and a validator or generator that cannot compile a pattern ignores
#: it; JSON text in UTF-8 cannot carry one anyway, and the validators still refuse an escaped one).
_HIDDEN = (
    "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b-\\u200f\\u202a-\\u202e"
    "\\u2060-\\u2064\\u2066-\\u2069\\ufeff"
)
#: What the validators strip first (Unicode White_Space).
_STRIPPED = (
    "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
PLAIN_TEXT_PATTERN = f"^[{_STRIPPED}]*[^{_STRIPPED}{_HIDDEN}][^{_HIDDEN}]*$"

#: Text with one character `str.strip` keeps: not empty, not only spaces (Python's spaces are
#: Unicode White_Space and U+001C-U+001F), unanchored.
NOT_BLANK_PATTERN = (
    "[^\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
    "\\u205f\\u3000]"
)
_HIDDEN_IN_PARAGRAPH = (
    "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u061c\\u200b-\\u200f\\u202a-\\u202e"
    "\\u2060-\\u2064\\u2066-\\u2069\\ufeff"
)


def text_schema(max_length: int, *, paragraph: bool = False) -> WithJsonSchema:
    """The OpenAPI schema of optional plain text (`plain_text`, or `plain_paragraph` with line
    breaks and tabs) of at most `max_length` characters: what the validators refuse, as a
    pattern."""
    hidden = _HIDDEN_IN_PARAGRAPH if paragraph else _HIDDEN
    return WithJsonSchema({"type": "string", "maxLength": max_length, "pattern": f"^[^{hidden}]*$"})


#: One line of plain text (`plain_text`), 1 to 200 characters, surrounding spaces removed.
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(plain_text),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 200, "pattern": PLAIN_TEXT_PATTERN}
    ),
]
#: An id (of an organisation, a lot, ...): plain text too, so a control character (a NUL, which
#: PostgreSQL text cannot hold) is refused as a field (422), never sent to the database.
ObjectId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(plain_text),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": PLAIN_TEXT_PATTERN}
    ),
]

# --- JSON objects ------------------------------------------------------------------------------

MAX_JSON_DEPTH = 16
#: The largest free-form object, as compact JSON (a whole record has its own limit,
#: store.records.MAX_RECORD_BYTES).
MAX_JSON_OBJECT_BYTES = 64 * 1024


def _json_safe(value: Any, depth: int = 0) -> None:
    # Hand-written: cheaper than a full canonicalisation per object, and JsonValue alone
    # accepts numbers canonical JSON cannot hold.
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        # A float beyond the safe range is refused too: canonical JSON spells 1e20 as the
        # integer 100000000000000000000, which no reader holds exactly.
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"number {value} is beyond ±(2**53 - 1); send it as a string")
    elif isinstance(value, str):
        _json_text(value)
    elif isinstance(value, dict):
        for item in value.values():
            _json_safe(item, depth + 1)
        for key in value:
            _json_text(key)
    elif isinstance(value, list):
        for item in value:
            _json_safe(item, depth + 1)


def _json_text(value: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text with a lone surrogate (not valid Unicode)") from None


def _check_object(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    _json_safe(value)
    size = len(orjson.dumps(value))
    if size > MAX_JSON_OBJECT_BYTES:
        raise ValueError(f"{size} bytes as JSON; at most {MAX_JSON_OBJECT_BYTES}")
    return value


def _json_object_schema() -> dict[str, Any]:
    """What the OpenAPI document says of a free-form object: two levels of JSON values spelled
    out (JSON Schema has no bounded recursion), numbers within ±(2**53 - 1), valid Unicode.
    Deeper values are accepted too, with the same rules (`_json_safe`)."""
    # Valid Unicode: no lone surrogate, which no JSON Schema pattern can name (see `_HIDDEN`).
    text = {"type": "string"}
    scalar: list[dict[str, Any]] = [
        text,
        {"type": "number", "minimum": -MAX_SAFE_INTEGER, "maximum": MAX_SAFE_INTEGER},
        {"type": "boolean"},
        {"type": "null"},
    ]
    inner = {"anyOf": scalar}
    value = {
        "anyOf": [
            *scalar,
            {"type": "array", "items": inner, "maxItems": 64},
            {"type": "object", "additionalProperties": inner, "propertyNames": text},
        ]
    }
    return {
        "type": "object",
        "additionalProperties": value,
        "propertyNames": text,
        "description": f"Free-form JSON: numbers within ±(2**53 - 1), nesting up to "
        f"{MAX_JSON_DEPTH} levels, at most {MAX_JSON_OBJECT_BYTES} bytes as compact JSON",
    }


#: A free-form JSON object: finite numbers within ±(2**53 - 1), nesting up to MAX_JSON_DEPTH,
#: at most MAX_JSON_OBJECT_BYTES as JSON.
JsonObject = Annotated[
    dict[str, JsonValue], AfterValidator(_check_object), WithJsonSchema(_json_object_schema())
]


class Input(BaseModel):
    """Strict about unknown fields (a typo is a field-level error, not silently dropped)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
