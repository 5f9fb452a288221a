"""The API keeps its OpenAPI contract (schemathesis against our own document): for requests
generated from it, sent with each role's key, no answer is a 5xx, an undocumented status, or a
body or content type other than documented; and no schema-valid request is refused.

Every rule JSON Schema can say is in the document: bounds, patterns (decimals, plain text,
SHA-256), enums, free-form numbers within ±(2**53 - 1), and the rules that join two fields
(both coordinates or neither, exactly one of a source's lot or product, a result for a
qc_inspection). A generated request may still be refused by a rule the document cannot hold;
`EXCLUDED` lists each one by operation, and the 422 must name it (field and words of its
message), so the list cannot hide anything else. Answers that depend on stored data or on the
caller, not on the request's shape, are not refusals of valid data: 403 (the role), 404 (an id
nothing has), 409 (a duplicate, an over-draw, the step order).

Every operation is run and every failing one reported at once. Bounded for the test command
(`HALLMARK_API_FUZZ_EXAMPLES`, 8 examples per operation by default); a fuller run:

    HALLMARK_API_FUZZ_EXAMPLES=50 ./scripts/test tests/records/test_openapi_contract.py
"""

from __future__ import annotations

import os
import re
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from hallmark.api.openapi import NO_NUL
from tests.conftest import World
from tests.records.factories import BRAND, FACTORY, LEGAL, SUPPLIER, product_body
from tests.scheduling import parts

EXAMPLES = int(os.environ.get("HALLMARK_API_FUZZ_EXAMPLES", "8"))

#: The keys every generated request is sent with: each kind's writer, and a reader. A role an
#: operation refuses for the role alone (403 naming the role and the action, before anything is
#: looked up) is not sent that operation's later examples: its answer could not change.
ROLES = [
    f"{SUPPLIER}/supplier",
    f"{FACTORY}/factory",
    f"{BRAND}/brand",
    f"{LEGAL}/legal",
    f"{FACTORY}/reader",
]

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


#: Answers that say nothing about the request's shape (the role, a missing id, stored state).
NOT_A_REFUSAL = {403, 404, 409}
#: Row errors of a batch that are about stored data, not the row's shape.
STATE_ERRORS = {"not_found", "conflict", "mass_balance_exceeded", "step_order"}

#: Rules the document cannot say, by operation: rule → (field the 422 names, words of its
#: message). JSON Schema cannot check a GTIN's check digit; which of brand and assigned factory
#: a product names depends on the caller's role; a CSV batch is text in a grammar of its own.
_GTIN = ("gtin", "not a valid GTIN")
#: An edition's number is at most its size: JSON Schema cannot compare two values.
_EDITION = {"edition number within its size": ("edition", "is above the edition size")}
_PRODUCT_ROLE = {
    "a brand names the assigned factory": ("assigned_factory", "must name the assigned factory"),
    "a factory's products are its own": ("assigned_factory", "assigned to itself only"),
    "a brand's products are its own": ("brand", "creates products for itself only"),
}
_CSV = {
    "CSV grammar": ("body", "CSV"),
    "CSV rows": ("", "rows rejected"),
}
#: A batch uploaded as a multipart file is CSV (a .csv name or a CSV part type) or a JSON array
#: of rows: its content is the only field, any refusal of the body's shape is about it.
_BATCH_FILE = {**_CSV, "neither CSV nor a JSON array of rows": ("body", "")}
_ONLY_SPACES = ("", "String should have at least 1 character")
#: A reference to stored data, like a 404: an attachment must be one the caller uploaded.
_UPLOADED = ("", "was not uploaded by your organisation")
#: A design file is an image or a 3D model: what it must decode to (a size, a surface, its
#: claimed kind) is a grammar of its own (415 for a file whose content is not what it claims).
_DESIGN_FILE = {
    "a file that cannot be decoded, or too small": ("", "malformed"),
    "content other than the name or media type claims": ("", "the file claims to be"),
}
EXCLUDED: dict[str, dict[str, tuple[str, str]]] = {
    "POST /api/v1/products": {"GTIN check digit": _GTIN, **_PRODUCT_ROLE, **_EDITION},
    "POST /api/v1/products/batch": {
        "GTIN check digit": _GTIN,
        **_PRODUCT_ROLE,
        **_EDITION,
        **_CSV,
    },
    "POST /api/v1/lots/batch": _CSV,
    "POST /api/v1/steps/batch": _CSV,
    "POST /api/v1/designs": {
        **_DESIGN_FILE,
        # A reference to stored data, like a 404.
        "the owning organisation exists": ("owner_organisation", "no such organisation"),
        "the parent draft was filed": ("parent", "failed"),
    },
    "POST /api/v1/designs/search": _DESIGN_FILE,
    "POST /api/v1/designs/{ref}/evidence/compare": _DESIGN_FILE,
}


def _problems(error: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, message, type) of each problem a 422 names; a batch's rows' errors one by one."""
    details = error["details"]
    if error["code"] == "batch_rejected":
        return [
            (e["field"], e["message"], e["type"]) for row in details["rows"] for e in row["errors"]
        ]
    fields = details.get("fields") or [
        {"field": details.get("field", ""), "message": error["message"], "type": error["code"]}
    ]
    return [(f["field"], f["message"], f.get("type", "")) for f in fields]


def _excluded(rules: dict[str, tuple[str, str]], problem: tuple[str, str, str]) -> bool:
    field, message, kind = problem
    return kind in STATE_ERRORS or any(
        (not name or field.split(".")[-1] == name.split(".")[-1]) and words in message
        for name, words in [*rules.values(), _ONLY_SPACES, _UPLOADED]
    )


def _off_the_document(document: dict[str, Any], case: Any) -> bool:
    """A multipart part's JSON value the document does not allow: schemathesis draws such a part
    from its properties alone, without the object's `anyOf` (a rule joining two fields), so the
    request is not valid data (the document is checked here, not the generator trusted)."""
    if "multipart" not in str(case.media_type) or not isinstance(case.body, dict):
        return False
    body = document["paths"][case.path][case.method.lower()]["requestBody"]
    properties = body["content"]["multipart/form-data"]["schema"]["properties"]
    return any(
        isinstance(value, dict | list)
        and not jsonschema_rs.validator_for(properties[name]).is_valid(value)
        for name, value in case.body.items()
    )


def check_valid_data_accepted(document: dict[str, Any], case: Any, response: Any) -> None:
    """A schema-valid request is not refused, save by a rule `EXCLUDED` names for it."""
    status = response.status_code
    label = f"{case.method.upper()} {case.path}"
    if status < 400 or status in NOT_A_REFUSAL or _off_the_document(document, case):
        return
    rules = EXCLUDED.get(label, {})
    if "text/csv" in str(case.media_type):
        rules = {**rules, **_CSV}
    elif "multipart" in str(case.media_type) and label.endswith("/batch"):
        rules = {**rules, **_BATCH_FILE}
    error = response.json()["error"]
    request = f"{label} ({case.media_type}, body {str(case.body)[:400]!r})"
    assert status in (415, 422), f"{request}: valid data refused with {status}: {error}"
    unexplained = [p for p in _problems(error) if not _excluded(rules, p)]
    assert not unexplained, f"{request}: valid data refused: {unexplained}"


def _refuses_the_role(response: Any, role: str) -> bool:
    """A 403 for the role alone (`authorisation.require_role`), whatever the request."""
    if response.status_code != 403:
        return False
    details = response.json()["error"]["details"]
    return details.get("role") == role.split("/")[1] and "action" in details


#: The operations are shared among this many parts, each a test of its own (parallel workers run
#: them side by side; see `tests.scheduling`).
PARTS = 3


@pytest.mark.parametrize("part", parts(PARTS))
def test_the_api_keeps_its_contract(world: World, part: int) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", world.http.app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 50
    document = world.http.get("/openapi.json").json()
    failures: dict[str, str] = {}
    for operation in operations[part::PARTS]:
        try:
            _keeps_contract(world, document, operation)
        except Exception as exc:  # every operation is run; all failures are reported at once
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())


def _keeps_contract(world: World, document: dict[str, Any], operation: Any) -> None:
    roles = list(ROLES)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        # A failure names the request, the field and the message; shrinking it would multiply
        # the run's time.
        phases=[Phase.explicit, Phase.generate],
    )
    def keeps_contract(case: Any) -> None:
        for role in list(roles):
            response = case.call(headers={"Authorization": f"Bearer {world.keys[role]}"})
            case.validate_response(response, checks=CHECKS)
            check_valid_data_accepted(document, case, response)
            if _refuses_the_role(response, role):
                roles.remove(role)

    keeps_contract()


def test_options_and_405_name_every_method_of_a_path(world: World) -> None:
    response = world.http.options("/api/v1/lots")
    assert response.status_code == 204
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    response = world.http.delete("/api/v1/lots", headers=world.headers(SUPPLIER))
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    response = world.http.options("/api/v1/lots/some-id/split")
    assert response.headers["allow"] == "OPTIONS, POST"


def test_the_document_types_decimals_and_documents_errors(world: World) -> None:
    document = world.http.get("/openapi.json").json()
    lot = document["components"]["schemas"]["LotCreate"]["properties"]
    assert lot["quantity"]["type"] == "string"
    assert re.match(lot["quantity"]["pattern"], "12.500")
    assert not re.match(lot["quantity"]["pattern"], "")
    assert not re.match(lot["quantity"]["pattern"], "0")
    assert not re.match(lot["quantity"]["pattern"], "\u0661\u0662")
    split = document["paths"]["/api/v1/lots/{lot_id}/split"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "422", "500"} <= set(split)
    assert split["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def test_every_pattern_is_one_json_schema_validators_compile(world: World) -> None:
    """JSON Schema patterns are ECMA-262 regexes over Unicode text: one a validator cannot
    compile (a lone surrogate's range, say) is ignored by it, and by schemathesis' generator,
    which then draws the text the server refuses."""
    document = world.http.get("/openapi.json").json()
    patterns = set(_patterns(document))
    assert len(patterns) > 5
    for pattern in patterns:
        jsonschema_rs.validator_for({"type": "string", "pattern": pattern})  # raises if invalid
    schemas = document["components"]["schemas"]
    name = jsonschema_rs.validator_for(schemas["ProductCreate"]["properties"]["name"])
    note = jsonschema_rs.validator_for(schemas["LotTransfer"]["properties"]["note"])
    assert name.is_valid(" Bague Lune \u00e9\u4e2d ") and note.is_valid("Ring\nLune")
    assert not name.is_valid("Ring\nLune")
    for hidden in ["\x01", "\x85", "\u061c", "\u200b", "\u202e", "\u2066", "\ufeff"]:
        assert not name.is_valid(f"Ring{hidden}Lune")
        assert not note.is_valid(f"Ring{hidden}Lune")
    assert not name.is_valid(" \u3000\u2028 ")


def test_a_review_id_beyond_the_database_integers_is_refused(world: World) -> None:
    """Found by the contract test: a review id past 64 bits was a 500 (OverflowError)."""
    for review_id in ("7621969338532006446759936", str(2**31), "0"):
        response = world.http.post(
            f"/api/v1/designs/reviews/{review_id}",
            json={"decision": "distinct"},
            headers=world.headers(LEGAL),
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["fields"][0]["field"] == "path.review_id"
    response = world.http.post(
        f"/api/v1/designs/reviews/{2**31 - 1}",
        json={"decision": "distinct"},
        headers=world.headers(LEGAL),
    )
    assert response.status_code == 404, response.text


def test_an_id_with_a_nul_is_refused_before_the_database(world: World) -> None:
    """Found by the contract test on PostgreSQL (text cannot hold a NUL): a product batch naming
    an organisation id with one was a 500; ids are plain text, refused as a field."""
    body = product_body(world, assigned_factory="org\x00id")
    response = world.http.post("/api/v1/products/batch", json=[body], headers=world.headers(BRAND))
    assert response.status_code == 422, response.text
    rows = response.json()["error"]["details"]["rows"]
    assert [e["field"] for e in rows[0]["errors"]] == ["assigned_factory"]
    response = world.http.post("/api/v1/products", json=body, headers=world.headers(BRAND))
    assert response.status_code == 422, response.text
    response = world.http.post(
        "/api/v1/designs/departures",
        json={"principal": "designer\x00"},
        headers=world.headers(LEGAL),
    )
    assert response.status_code == 422, response.text


def test_a_nul_in_a_url_is_refused_before_any_route(world: World) -> None:
    """A NUL in a path id or a query filter was a 500 on PostgreSQL (text cannot hold one) for
    the lots, products and designs lookups: every URL with one is a 422 naming where it was."""
    paths = {
        "/api/v1/designs/D-%00x": "path",
        "/api/v1/lots/a%00b": "path",
        "/api/v1/products/a%00b": "path",
        "/api/v1/records/a%00b": "path",
        "/v/a%00b": "path",
        "/api/v1/designs?owner=a%00b": "query",
        "/api/v1/lots?skip=0&x=%00": "query",
    }
    for path, where in paths.items():
        for key in (LEGAL, BRAND):
            response = world.http.get(path, headers=world.headers(key))
            assert response.status_code == 422, (path, response.text)
            error = response.json()["error"]
            assert error["details"]["field"] == where and "NUL" in error["message"], path
    # A plain id still reaches its route.
    response = world.http.get("/api/v1/lots/no-such-lot", headers=world.headers(BRAND))
    assert response.status_code == 404, response.text
    # The document says so: a path or query text with no rule of its own holds no NUL, so the
    # contract test's generator never sends one as valid data.
    document = world.http.get("/openapi.json").json()
    said = []
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] not in ("path", "query"):
                    continue
                schema = parameter["schema"]
                for member in [schema, *schema.get("anyOf", [])]:
                    text = member.get("items", member)
                    if text.get("type") == "string":
                        assert "pattern" in text, (path, parameter["name"])
                        said.append(text["pattern"])
    assert said.count(NO_NUL) >= 5
    assert re.fullmatch(NO_NUL, "a\x00b") is None and re.fullmatch(NO_NUL, "a b")
