"""The certificates benchmark counts a sampled certificate as served only when its public
document carries its anchoring evidence and a signature that recovers to its issuer's account,
and its QR code (version 5 at most) holds the link to its verify page."""

from __future__ import annotations

import copy
import uuid
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from eth_account import Account

from bench import certificates
from hallmark.services.certificates import document as doc

ISSUER = Account.from_key(b"\x05" * 32)
OTHER = Account.from_key(b"\x06" * 32)
NUMBER = "HM-20261204-0A1B2C3D4E"


def _document(signer: Any = ISSUER) -> dict[str, Any]:
    unsigned = {
        "issuer": {"account": ISSUER.address},
        "credentialSubject": {"certificateNumber": NUMBER},
        "credentialStatus": {
            "chainId": 31337,
            "ledger": "0x" + "11" * 20,
            "organisation": doc.organisation_bytes16(str(uuid.uuid4())),
            "issuanceId": "0x" + "22" * 32,
        },
    }
    return {
        **unsigned,
        "proof": {"signatureValue": doc.sign(unsigned, signer), "anchor": {"root": "0x00"}},
    }


def _served(
    document: dict[str, Any] | None, *, url: str = f"http://h/v/{NUMBER}", version: str = "3"
) -> bool:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/document"):
            return httpx.Response(404) if document is None else httpx.Response(200, json=document)
        return httpx.Response(
            200, text="<svg/>", headers={"X-QR-URL": url, "X-QR-Version": version}
        )

    with httpx.Client(base_url="http://h", transport=httpx.MockTransport(answer)) as public:
        bench = cast(certificates.Bench, SimpleNamespace(public=public))
        return certificates._served(bench, "c1")


def test_a_certificate_served_with_evidence_signature_and_qr_counts() -> None:
    assert _served(_document())


def _unanchored() -> dict[str, Any]:
    document = copy.deepcopy(_document())
    document["proof"]["anchor"] = None
    return document


@pytest.mark.parametrize(
    ("document", "url", "version"),
    [
        (None, f"http://h/v/{NUMBER}", "3"),
        (_unanchored(), f"http://h/v/{NUMBER}", "3"),
        (_document(OTHER), f"http://h/v/{NUMBER}", "3"),
        (_document(), "http://h/v/HM-20261204-FFFFFFFFFF", "3"),
        (_document(), f"http://h/v/{NUMBER}", "6"),
    ],
    ids=["not served", "not anchored", "another signer", "another link", "QR version 6"],
)
def test_a_sampled_certificate_fails_unless_all_of_it_is_served(
    document: dict[str, Any] | None, url: str, version: str
) -> None:
    assert not _served(document, url=url, version=version)
