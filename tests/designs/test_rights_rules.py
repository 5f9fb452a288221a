"""The rules of design rights that need no chain: the contract's refusals mapped to HTTP, the
document hashes and reasons accepted."""

from __future__ import annotations

import pytest

from hallmark.core.errors import ContractRevertError, InvalidInputError
from hallmark.services.designs.rights import (
    TERMINATION_REASONS,
    check_document,
    check_reason,
    refusal,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        ("DesignNotFinal", 409, "design_not_final"),
        ("NotActiveRegistrant", 403, "forbidden"),
        ("NotProposedRegistrant", 403, "forbidden"),
        ("UnauthorisedCancellation", 403, "forbidden"),
        ("AssignmentNoLongerAuthorised", 403, "forbidden"),
        ("AccessControlUnauthorizedAccount", 403, "forbidden"),
        ("AssignmentDocumentMismatch", 409, "design_rights_conflict"),
        ("NoPendingAssignment", 409, "design_rights_conflict"),
        ("LicenceAlreadyTerminated", 409, "design_rights_conflict"),
        ("LicenceNotGranted", 404, "not_found"),
        ("InvalidLicencePeriod", 422, "validation_error"),
        ("SomethingNew", 409, "contract_reverted"),
    ],
)
def test_refusals_map_to_http_with_the_contracts_reason(error: str, status: int, code: str) -> None:
    arguments = {"fingerprint": "0x" + "ab" * 32, "finalAt": 1798761600}
    mapped = refusal(ContractRevertError("DesignRegistry", error, arguments))
    assert (mapped.http_status, mapped.code) == (status, code)
    if code not in ("not_found", "contract_reverted"):
        assert mapped.details["contract_error"] == error
        assert error in mapped.message


def test_not_final_names_the_time_it_becomes_final() -> None:
    mapped = refusal(
        ContractRevertError("DesignRegistry", "DesignNotFinal", {"finalAt": 1798761600})
    )
    assert mapped.details["final_at"] == "2027-01-01T00:00:00Z"
    assert "2027-01-01T00:00:00Z" in mapped.message


def test_document_hashes_and_reasons() -> None:
    assert check_document(" 0x" + "AB" * 32) == "ab" * 32
    for bad in ("", "ab" * 31, "zz" * 32, "ab" * 33):
        with pytest.raises(InvalidInputError):
            check_document(bad)
    assert check_reason("breach") == TERMINATION_REASONS["breach"] == 1
    assert check_reason("7") == 7 and check_reason(65535) == 65535
    for bad in (0, 65536, "-1", "bored"):
        with pytest.raises(InvalidInputError):
            check_reason(bad)
