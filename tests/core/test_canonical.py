"""Canonical JSON (RFC 8785) and record hashes: RFC examples, properties and rejections."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import random
import struct
from collections import OrderedDict
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
import rfc8785
from eth_utils.crypto import keccak
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hallmark.core.canonical import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    _fast_canonical,
    canonical_bytes,
    parse_json,
    record_hash,
    record_hash_hex,
)

# --------------------------------------------------------------------------- RFC 8785 examples


def test_rfc8785_section_3_2_2_example() -> None:
    # The input text of RFC 8785 section 3.2.2, parsed as ordinary JSON.
    source = r"""{
      "numbers": [333333333.33333329, 1E30, 4.50,
                  2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"""
    expected = (
        '{"literals":[null,true,false],'
        '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    assert canonical_bytes(json.loads(source)) == expected


def test_rfc8785_section_3_2_3_keys_sort_by_utf16_code_units() -> None:
    document = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    ordered_values = [value for value in json.loads(canonical_bytes(document)).values()]
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16 and so sorts *before* U+FB33, although
    # it comes after it in code-point order.
    assert ordered_values == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]


# RFC 8785 appendix B: IEEE-754 bit patterns and their canonical (ECMAScript) spelling.
RFC_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), RFC_NUMBERS)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_bytes(value) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_rfc8785_appendix_b_nan_and_infinity_are_errors(bits: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    with pytest.raises(CanonicalJSONError) as info:
        canonical_bytes(value)
    assert info.value.path == "$"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e21", "1e+21"),
        ("1E+21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("1E-7", "1e-7"),
        ("1.5E-7", "1.5e-7"),
        ("1e-6", "0.000001"),
        ("0.0000012", "0.0000012"),
        ("-0.0", "0"),
        ("1.0", "1"),
        ("1E0", "1"),
        ("100", "100"),
        ("-9007199254740991", "-9007199254740991"),
        ("123.456e3", "123456"),
        ("0.1", "0.1"),
    ],
)
def test_number_spellings_collapse(text: str, expected: str) -> None:
    assert canonical_bytes(json.loads(text)) == expected.encode()


def test_int_and_equal_float_are_the_same_json_number() -> None:
    assert canonical_bytes({"w": 1}) == canonical_bytes({"w": 1.0}) == b'{"w":1}'
    assert record_hash({"w": 0}) == record_hash({"w": -0.0})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\b\t\n\f\r", '"\\b\\t\\n\\f\\r"'),
        ("\x00\x0f\x1f", '"\\u0000\\u000f\\u001f"'),
        ('quote " backslash \\ slash /', '"quote \\" backslash \\\\ slash /"'),
        ("\x7f é € \u2028 \U0001f48e", '"\x7f é € \u2028 \U0001f48e"'),
    ],
)
def test_string_escapes(value: str, expected: str) -> None:
    assert canonical_bytes(value) == expected.encode("utf-8")


def test_nested_document_no_whitespace_sorted_keys() -> None:
    document = {"b": [1, {"z": None, "a": True}], "a": "x", "": 0}
    assert canonical_bytes(document) == b'{"":0,"a":"x","b":[1,{"a":true,"z":null}]}'


# --------------------------------------------------------------------------- accepted types


class Metal(enum.StrEnum):
    GOLD = "gold"


class Carat(enum.IntEnum):
    K18 = 18


def test_containers_and_subclasses_map_to_plain_json() -> None:
    document = MappingProxyType(
        {"metal": Metal.GOLD, "carat": Carat.K18, "stones": ("ruby", "opal"), "o": OrderedDict()}
    )
    assert (
        canonical_bytes(document) == b'{"carat":18,"metal":"gold","o":{},"stones":["ruby","opal"]}'
    )


def test_safe_integer_bounds_are_accepted() -> None:
    assert canonical_bytes([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == (
        b"[9007199254740991,-9007199254740991]"
    )


# --------------------------------------------------------------------------- rejections


class _Thing:
    pass


def _self_referencing() -> dict[str, Any]:
    item: dict[str, Any] = {"name": "ring"}
    item["parent"] = {"child": item}
    return item


def _deep(levels: int) -> list[Any]:
    document: list[Any] = []
    for _ in range(levels - 1):
        document = [document]
    return document


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        ({"lots": [{}, {}, {"weight": math.nan}]}, "$.lots[2].weight", "not representable"),
        ({"lots": [{"weight": math.inf}]}, "$.lots[0].weight", "inf"),
        ([-math.inf], "$[0]", "-inf"),
        ({"wei": 2**53}, "$.wei", "safe range"),
        ({"wei": -(2**53)}, "$.wei", "safe range"),
        ({"wei": 10**30}, "$.wei", "encode it as a string"),
        ({"sig": b"\x01\x02"}, "$.sig", "unsupported type bytes"),
        ({"sig": bytearray(b"\x01")}, "$.sig", "bytearray"),
        ({"tags": {"a", "b"}}, "$.tags", "set"),
        ({"tags": frozenset()}, "$.tags", "frozenset"),
        ({"at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}, "$.at", "RFC 3339"),
        ({"on": dt.date(2024, 1, 1)}, "$.on", "date"),
        ({"price": Decimal("1.10")}, "$.price", "Decimal"),
        ({"x": _Thing()}, "$.x", "unsupported type _Thing"),
        ({"lots": {1: "a"}}, "$.lots", "keys must be strings"),
        ({"lots": {None: "a"}}, "$.lots", "NoneType"),
        ({"note": "bad \ud800 text"}, "$.note", "lone surrogate"),
        ({"a": {"bad \udc00": 1}}, "$.a", "lone surrogate"),
        ({"with space": [1, {"x-y": math.nan}]}, '$["with space"][1]["x-y"]', "nan"),
        (_self_referencing(), "$.parent.child", "circular reference"),
        (_deep(MAX_DEPTH + 1), "$" + "[0]" * MAX_DEPTH, "nesting deeper"),
    ],
)
def test_unrepresentable_values_are_rejected_with_path(
    document: Any, path: str, fragment: str
) -> None:
    with pytest.raises(CanonicalJSONError) as info:
        canonical_bytes(document)
    assert info.value.path == path
    assert fragment in info.value.reason
    assert str(info.value).startswith(path + ": ")
    assert isinstance(info.value, ValueError)


def test_maximum_depth_is_accepted() -> None:
    assert canonical_bytes(_deep(MAX_DEPTH)) == b"[" * MAX_DEPTH + b"]" * MAX_DEPTH


def test_shared_but_acyclic_references_are_fine() -> None:
    shared = {"k": 1}
    assert canonical_bytes([shared, shared]) == b'[{"k":1},{"k":1}]'


# --------------------------------------------------------------------------- record hash

PINNED_RECORD_HASH = "0xae321be0f432b5f6c6b69e070441383a8ba0515ef773ed1315c3cdab9ad88d23"


def test_record_hash_is_keccak_of_canonical_bytes() -> None:
    document = {"sku": "R-001", "lots": [{"weight": 1.25, "metal": "gold"}], "pieces": 3}
    digest = record_hash(document)
    assert len(digest) == 32
    assert digest == keccak(b'{"lots":[{"metal":"gold","weight":1.25}],"pieces":3,"sku":"R-001"}')
    # Pinned: if this changes, every record hash anchored so far stops verifying.
    assert record_hash_hex(document) == "0x" + digest.hex() == PINNED_RECORD_HASH


def test_record_hash_reports_bad_documents() -> None:
    with pytest.raises(CanonicalJSONError, match=r"\$\.lots\[0\]"):
        record_hash({"lots": [math.nan]})


# --------------------------------------------------------------------------- parse_json


def test_parse_json_reads_canonical_large_numbers_back_exactly() -> None:
    canonical = canonical_bytes([1e20, 1e21, 5.824454904014009e16, -(2.0**60)])
    assert canonical == b"[100000000000000000000,1e+21,58244549040140090,-1152921504606847000]"
    # json.loads reads the first number as an int beyond the safe range ...
    with pytest.raises(CanonicalJSONError, match="safe range"):
        canonical_bytes(json.loads(canonical))
    # ... parse_json reads it as the double it came from.
    assert canonical_bytes(parse_json(canonical)) == canonical


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[NaN]", "NaN"),
        ('{"x": -Infinity}', "-Infinity"),
        ('{"a": 1, "a": 2}', "duplicate object key 'a'"),
        ("[9007199254740993]", "lose precision"),
        ("[1,", "invalid JSON"),
        (b'"\xff"', "invalid UTF-8"),
    ],
)
def test_parse_json_rejects(text: str | bytes, fragment: str) -> None:
    with pytest.raises(CanonicalJSONError, match=fragment):
        parse_json(text)


# --------------------------------------------------------------------------- properties

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


def _shuffled(value: Any, rng: random.Random) -> Any:
    """Return a deep copy of ``value`` whose objects list their keys in a random order."""
    if isinstance(value, dict):
        items = [(key, _shuffled(item, rng)) for key, item in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of the scalars and empty containers in ``value``."""
    if isinstance(value, dict) and value:
        return [p for key, item in value.items() for p in _leaf_paths(item, (*path, key))]
    if isinstance(value, list) and value:
        return [p for i, item in enumerate(value) for p in _leaf_paths(item, (*path, i))]
    return [path]


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    return [_replace(item, rest, new) if i == head else item for i, item in enumerate(value)]


@settings(deadline=None)
@given(_json)
def test_canonical_form_is_idempotent(document: Any) -> None:
    once = canonical_bytes(document)
    assert canonical_bytes(parse_json(once)) == once
    assert parse_json(once) == document  # same JSON value (1 == 1.0, -0.0 == 0)


@settings(deadline=None)
@given(_json, st.randoms(use_true_random=False))
def test_key_order_of_input_never_matters(document: Any, rng: random.Random) -> None:
    assert canonical_bytes(_shuffled(document, rng)) == canonical_bytes(document)
    assert record_hash(_shuffled(document, rng)) == record_hash(document)


@settings(deadline=None)
@given(st.dictionaries(st.text(), _json, min_size=1, max_size=4), st.data())
def test_record_hash_changes_when_any_leaf_value_changes(
    document: dict[str, Any], data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(_leaf_paths(document)), label="leaf path")
    old = _get(document, path)
    new = data.draw(_scalars, label="new value")
    assume(canonical_bytes(new) != canonical_bytes(old))
    assert record_hash(_replace(document, path, new)) != record_hash(document)


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


# --- the fast path (orjson) equals the general serialiser ----------------------------------------

_plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text()
)
_plain_documents = st.recursive(
    _plain_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@given(_plain_documents)
def test_fast_path_equals_rfc8785(document: object) -> None:
    """Documents without floats take the fast path; its bytes must be exactly RFC 8785's."""
    try:
        expected = rfc8785.dumps(document)
    except rfc8785.CanonicalizationError:
        return  # lone surrogates and the like: both paths refuse (tested above)
    assert canonical_bytes(document) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "characters",
    [
        [chr(c) for c in range(0x800) if not 0xD800 <= c <= 0xDFFF],
        ["\u2028", "\u2029", "\ufeff", "\ue000", "\uffff", "\U0001f600", "\U0010ffff"],
    ],
    ids=["up-to-U+07FF", "specials"],
)
def test_fast_path_escapes_every_character_as_rfc8785(characters: list[str]) -> None:
    for character in characters:
        key = "k" + character if character <= "\uffff" else "k"  # other keys: general path
        document = {key: [character, "a" + character + "z"]}
        fast = _fast_canonical(document)
        assert fast is not None, repr(character)
        assert fast == rfc8785.dumps(document), repr(character)


def test_fast_path_refuses_what_it_cannot_vouch_for() -> None:
    class Text(str):
        pass

    for document in (
        {"a": 1.5},
        {"a": 2**53},
        {"a": Text("x")},
        {"\U0001f600": 1},
        {"a": "\ud800"},
    ):
        assert _fast_canonical(document) is None, document


def test_fast_path_sorts_keys_by_utf16_units_through_the_general_path() -> None:
    # U+1F600 (a surrogate pair in UTF-16) sorts before U+FF61 by UTF-16 units but after it by
    # code point: such keys must not take the code-point-sorting fast path.
    document = {"\uff61": 1, "\U0001f600": 2}
    assert canonical_bytes(document) == rfc8785.dumps(document)
    assert canonical_bytes(document).index("\U0001f600".encode()) < canonical_bytes(document).index(
        "\uff61".encode()
    )
