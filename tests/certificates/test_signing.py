"""The certificate signature: `document.sign` (the EIP-712 digest hashed directly, signed with
libsecp256k1) gives exactly the bytes eth-account's `sign_typed_data` gives for the same
message, for any document, and eth-account recovers the issuer from it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from hallmark.services.certificates import document as doc

ACCOUNTS = [Account.from_key(bytes([n]) * 32) for n in (1, 7, 200)]


def _document(
    chain_id: int, ledger: bytes, organisation: uuid.UUID, issuance: bytes, number: str, body: str
) -> dict[str, Any]:
    return {
        "@context": [doc.VC_CONTEXT],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "credentialSubject": {"certificateNumber": number, "note": body},
        "credentialStatus": {
            "type": doc.STATUS_TYPE,
            "chainId": chain_id,
            "ledger": "0x" + ledger.hex(),
            "organisation": doc.organisation_bytes16(str(organisation)),
            "issuanceId": "0x" + issuance.hex(),
        },
    }


@settings(max_examples=200, deadline=None)
@given(
    chain_id=st.integers(min_value=1, max_value=2**53 - 1),
    ledger=st.binary(min_size=20, max_size=20),
    organisation=st.uuids(),
    issuance=st.binary(min_size=32, max_size=32),
    number=st.text(max_size=40),
    body=st.text(max_size=20),
    which=st.sampled_from(range(len(ACCOUNTS))),
)
def test_signature_equals_eth_accounts_typed_data_signature(
    chain_id: int,
    ledger: bytes,
    organisation: uuid.UUID,
    issuance: bytes,
    number: str,
    body: str,
    which: int,
) -> None:
    account = ACCOUNTS[which]
    document = _document(chain_id, ledger, organisation, issuance, number, body)
    expected = account.sign_typed_data(full_message=doc.typed_data(document))
    signature = doc.sign(document, account)
    assert signature == "0x" + bytes(expected.signature).hex()
    assert doc.recover_signer(document, signature) == account.address


def test_a_given_hash_is_signed_as_the_documents_own() -> None:
    account = ACCOUNTS[0]
    document = _document(1, b"\x11" * 20, uuid.uuid4(), b"\x22" * 32, "HM-1", "x")
    cert_hash = doc.certificate_hash(document)
    assert doc.sign(document, account, cert_hash) == doc.sign(document, account)
    other = "0x" + "ab" * 32
    assert doc.sign(document, account, other) != doc.sign(document, account)


@pytest.mark.parametrize(
    ("field", "value"),
    [("ledger", "0x1234"), ("organisation", "0x00"), ("issuanceId", "0x" + "00" * 31)],
)
def test_malformed_status_fields_are_refused(field: str, value: str) -> None:
    document = _document(1, b"\x11" * 20, uuid.uuid4(), b"\x22" * 32, "HM-1", "x")
    document["credentialStatus"][field] = value
    with pytest.raises(doc.DocumentError):
        doc.sign(document, ACCOUNTS[0])
