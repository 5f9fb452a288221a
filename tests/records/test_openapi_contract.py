"""The API keeps its OpenAPI contract (schemathesis against our own document): for requests
generated from it, sent with each role's key, no answer is a 5xx, an undocumented status, or a
body or content type other than documented.

Not checked yet: that no schema-valid request is refused (schemathesis' positive data
acceptance). Fields, patterns, enums and bounds are in the document (decimals, country codes,
plain text), but some rules join two fields (an edition's number at most its size, both
coordinates or neither, exactly one of a source's lot or product, a result for an inspection),
which JSON Schema cannot say or the generator cannot meet; such requests get a 422 naming the rule.

Bounded for the test command (`HALLMARK_API_FUZZ_EXAMPLES`, 8 examples per operation by
default); a fuller run:

    HALLMARK_API_FUZZ_EXAMPLES=200 ./scripts/test tests/records/test_openapi_contract.py
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.conftest import World
from tests.records.factories import BRAND, FACTORY, SUPPLIER

EXAMPLES = int(os.environ.get("HALLMARK_API_FUZZ_EXAMPLES", "8"))

#: The keys every generated request is sent with: each kind's writer, and a reader.
ROLES = [f"{SUPPLIER}/supplier", f"{FACTORY}/factory", f"{BRAND}/brand", f"{FACTORY}/reader"]

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def test_the_api_keeps_its_contract(world: World) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", world.http.app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def keeps_contract(case: Any) -> None:
            for role in ROLES:
                response = case.call(headers={"Authorization": f"Bearer {world.keys[role]}"})
                case.validate_response(response, checks=CHECKS)

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
