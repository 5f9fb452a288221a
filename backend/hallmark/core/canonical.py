"""Canonical JSON (RFC 8785, "JCS") and the record hash built on it.

A Hallmark record (an appraisal, a certificate, a custody transfer, ...) is identified by the
keccak-256 hash of its *canonical* JSON form. Canonicalisation makes that hash independent of how
the document happened to be serialised: key order, whitespace, number spelling (``1.0`` vs ``1``
vs ``1E0``) and string escapes all collapse to a single byte sequence, so any party holding the
document can recompute the hash that was anchored on chain.

The serialisation itself is done by the ``rfc8785`` library, except for documents the standard
library's encoder provably serialises identically (no floats, keys in the Basic Multilingual
Plane: every record), which take that much faster path. This module adds a validation pass
in front of it that rejects everything JCS cannot represent faithfully, and reports *where* the
offending value sits (``$.lots[2].weight``) so a caller can fix its data.

Value rules (the JSON data model is that of I-JSON / RFC 7493):

* ``None``, ``bool``, ``str``, ``int`` and ``float`` map to the JSON scalars. Subclasses (e.g.
  ``StrEnum``, ``IntEnum``) are serialised as their underlying built-in value.
* ``int`` must lie in the IEEE-754 safe range ``[-(2**53 - 1), 2**53 - 1]``; larger integers
  cannot be represented exactly by every JSON consumer and would silently collide. Encode them as
  strings (e.g. token amounts in wei).
* ``float`` must be finite (no NaN / Infinity). Note that JCS treats all numbers as doubles, so
  ``1``, ``1.0`` and ``-0.0``/``0`` canonicalise (and hash) identically.
* Strings and keys must be valid Unicode (no lone surrogates).
* Objects are any ``Mapping`` with ``str`` keys; arrays are ``list`` or ``tuple``.
* Everything else is rejected: ``bytes`` (hex- or base64-encode explicitly), ``set`` (no defined
  order), ``datetime``/``date`` (format as an RFC 3339 string first, with an explicit offset),
  ``Decimal`` (convert explicitly to ``str`` or ``float``), arbitrary objects.
* Nesting deeper than :data:`MAX_DEPTH` and self-referencing containers are rejected.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, TypeAlias

import orjson
import rfc8785

from hallmark.core.hashing import keccak256 as keccak

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "CanonicalJSONError",
    "JSONValue",
    "canonical_bytes",
    "parse_json",
    "record_hash",
    "record_hash_hex",
]

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer magnitude JCS accepts (``Number.MAX_SAFE_INTEGER`` in ECMAScript)."""

MAX_DEPTH = 128
"""Maximum nesting depth of arrays/objects; records are shallow, this guards recursion."""

JSONValue: TypeAlias = (
    Mapping[str, Any] | list[Any] | tuple[Any, ...] | str | int | float | bool | None
)
"""What :func:`canonical_bytes` accepts at the top level (contents are validated at runtime)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class CanonicalJSONError(ValueError):
    """A value cannot be represented in canonical JSON (RFC 8785).

    ``path`` is a JSONPath-like pointer to the offending value (``$`` is the document root,
    ``$.lots[2].weight`` a member of an object inside an array); ``reason`` says what is wrong.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _member_path(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _check_unicode(value: str, path: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError(
            path, f"{what} contains a lone surrogate at index {exc.start} (not valid Unicode)"
        ) from None


def _normalise(value: object, path: str, depth: int, active: set[int]) -> object:
    """Validate ``value`` and return a copy made only of built-in JSON types.

    ``rfc8785`` only understands exact ``dict``/``list`` containers and would accept some values
    we reject (or fail without a location), so the copy is what gets serialised.
    """
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int):
        number = int.__int__(value)
        if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            raise CanonicalJSONError(
                path,
                f"integer {number} is outside the IEEE-754 safe range ±(2**53 - 1); "
                "encode it as a string",
            )
        return number
    if isinstance(value, float):
        number_f = float.__float__(value)
        if not math.isfinite(number_f):
            raise CanonicalJSONError(path, f"{number_f!r} is not representable in JSON")
        return number_f
    if isinstance(value, str):
        text = str.__str__(value)
        _check_unicode(text, path, "string")
        return text

    if isinstance(value, Mapping | list | tuple):
        if depth >= MAX_DEPTH:
            raise CanonicalJSONError(path, f"nesting deeper than {MAX_DEPTH} levels")
        marker = id(value)
        if marker in active:
            raise CanonicalJSONError(path, "circular reference")
        active.add(marker)
        try:
            if isinstance(value, Mapping):
                result: dict[str, object] = {}
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise CanonicalJSONError(
                            path,
                            f"object key {key!r} is a {type(key).__name__}, keys must be strings",
                        )
                    key_text = str.__str__(key)
                    _check_unicode(key_text, path, f"object key {key_text!r}")
                    result[key_text] = _normalise(
                        item, _member_path(path, key_text), depth + 1, active
                    )
                return result
            return [
                _normalise(item, f"{path}[{index}]", depth + 1, active)
                for index, item in enumerate(value)
            ]
        finally:
            active.discard(marker)

    raise CanonicalJSONError(path, _unsupported_reason(value))


def _unsupported_reason(value: object) -> str:
    type_name = type(value).__name__
    hints = {
        "bytes": "encode bytes explicitly (e.g. 0x-hex or base64) as a string",
        "bytearray": "encode bytes explicitly (e.g. 0x-hex or base64) as a string",
        "memoryview": "encode bytes explicitly (e.g. 0x-hex or base64) as a string",
        "set": "sets have no defined order; use a sorted list",
        "frozenset": "sets have no defined order; use a sorted list",
        "datetime": "format it as an RFC 3339 string with an explicit UTC offset",
        "date": "format it as an ISO 8601 date string",
        "time": "format it as an ISO 8601 time string",
        "Decimal": "convert it explicitly to a string (exact) or a float",
    }
    hint = hints.get(type_name, "only None, bool, int, float, str, list, tuple and Mapping")
    return f"unsupported type {type_name}: {hint}"


class _SlowPathError(Exception):
    """The fast path cannot vouch for this document: take the validating path."""


def _plain(value: object, depth: int) -> None:
    """Check that ``value`` is built only of exact dict/list/str/int/bool/None, with safe-range
    integers, no floats, and keys inside the Basic Multilingual Plane; raise _SlowPathError if not.
    """
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return
    if kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[operator]
            raise _SlowPathError
        return
    if depth >= MAX_DEPTH:
        raise _SlowPathError
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                raise _SlowPathError
            _plain(item, depth + 1)
        return
    if kind is list:
        for item in value:  # type: ignore[attr-defined]
            _plain(item, depth + 1)
        return
    raise _SlowPathError


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_SUBCLASS


def _fast_canonical(document: object) -> bytes | None:
    """The canonical bytes through orjson, or None when it can't vouch.

    For documents without floats whose keys are all in the Basic Multilingual Plane, orjson's
    sorted compact output is exactly RFC 8785: keys sort the same by code point as by UTF-16
    unit, integers print the same, and it escapes the same characters the same way (tests check
    every character up to U+07FF and sampled documents against the rfc8785 library). It is
    much faster than the general serialiser, and records are such documents
    (decimal quantities are strings). Anything else (floats, exotic keys, subclasses, lone
    surrogates, cycles) falls back to the validating path, which also says where the problem is.
    """
    try:
        _plain(document, 0)
        return orjson.dumps(document, option=_ORJSON_OPTIONS)
    except (_SlowPathError, orjson.JSONEncodeError, RecursionError):
        return None


def canonical_bytes(document: JSONValue) -> bytes:
    """Return the RFC 8785 canonical UTF-8 serialisation of ``document``.

    Raises :class:`CanonicalJSONError` (with the path of the offending value) if the document
    contains anything JCS cannot represent; see the module docstring for the exact rules.
    """
    fast = _fast_canonical(document)
    if fast is not None:
        return fast
    normalised: Any = _normalise(document, "$", 0, set())
    try:
        return rfc8785.dumps(normalised)
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - pre-validated above
        raise CanonicalJSONError("$", str(exc)) from exc


def record_hash(document: JSONValue) -> bytes:
    """Return the 32-byte record hash: keccak-256 of :func:`canonical_bytes` of ``document``.

    This is the value that becomes a leaf of the anchored Merkle tree (see
    :mod:`hallmark.core.merkle`).
    """
    return keccak(canonical_bytes(document))


def record_hash_hex(document: JSONValue) -> str:
    """Return :func:`record_hash` as a ``0x``-prefixed lowercase hex string (66 characters)."""
    return "0x" + record_hash(document).hex()


def _parse_int(literal: str) -> int | float:
    number = int(literal)
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return number
    # Canonical output spells large doubles as integral literals (1e20 is written
    # "100000000000000000000", 5.824454904014009e16 "58244549040140090"). Read such a literal as
    # that double when it is either exactly the double's value or its canonical spelling; refuse
    # literals that would silently round (9007199254740993 would become ...992).
    as_float = float(literal)
    if math.isfinite(as_float) and (
        int(as_float) == number or rfc8785.dumps(as_float) == literal.encode()
    ):
        return as_float
    raise CanonicalJSONError(
        "$", f"integer literal {literal} would lose precision as an IEEE-754 double"
    )


def _reject_constant(name: str) -> float:
    raise CanonicalJSONError("$", f"{name} is not valid JSON")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalJSONError("$", f"duplicate object key {key!r}")
        result[key] = value
    return result


def parse_json(text: str | bytes) -> Any:
    """Parse JSON text into values that :func:`canonical_bytes` maps back to the same JSON.

    Use it to re-hash a received record: ``canonical_bytes(parse_json(canonical_bytes(x))) ==
    canonical_bytes(x)`` for every accepted ``x``. Compared with :func:`json.loads` it rejects
    ``NaN``/``Infinity`` literals and duplicate keys (I-JSON), and reads integral literals beyond
    the safe integer range as the double they denote, raising if that would lose precision.
    """
    try:
        return json.loads(
            text,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
            object_pairs_hook=_reject_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise CanonicalJSONError("$", f"invalid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise CanonicalJSONError("$", f"invalid UTF-8: {exc}") from exc
