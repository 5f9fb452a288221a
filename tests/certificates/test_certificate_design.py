"""A certificate names the registered design its piece was made from: refused until the filing is
final, stated as the DesignRegistry holds it (never the owner's name), with the licence the brand
makes it under, and checked against the registry by the offline verifier — a brand's false
statement of the filing or the licence is found."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from hallmark.chain.registry import DesignRights, LicenceView, OnChainDesign, _view
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.services.certificates import verification as verification_service
from hallmark.store.models import Certificate, Product
from tests.certificates.builders import (
    LICENCE,
    a_minute_later,
    anchored,
    assign_design,
    certify_with_design,
    check,
    design_lies,
    fetch,
    licensed_design,
    made_product,
    post_certificate,
)
from tests.certificates.test_verification import _mine, _node_requests
from tests.conftest import World
from tests.designs.test_registry import LEGAL, workers
from tests.designs.test_rights import filed, pass_finality, settle

#: The registrar a design is assigned to here.
HEIR = "Lune Legal Heir"
__all__ = ["workers"]  # the fixture, shared with the registry's tests


def certified(world: World, serial: str) -> tuple[int, bool]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Certificate)
            .join(Product, Product.id == Certificate.product_id)
            .where(Product.serial == serial)
        )
        product = session.scalar(select(Product).where(Product.serial == serial))
        assert product is not None
        return int(count or 0), product.certified_at is not None


def test_certificate_names_its_final_registered_design_and_licence(
    world: World, workers: list[AnchorWorker]
) -> None:
    design = filed(world, workers, 711)
    number, fingerprint = design["number"], design["fingerprint"]
    serial = made_product(world, number)

    # Filed, not final yet: refused with the time it becomes final, nothing stored.
    early = post_certificate(world, serial)
    assert early.status_code == 409, early.text
    error = early.json()["error"]
    assert error["code"] == "design_not_certifiable"
    assert "not final until" in error["message"] and error["details"]["design"] == number
    assert certified(world, serial) == (0, False)
    # A product naming a registration the registry does not hold is refused too.
    unknown = post_certificate(world, made_product(world, "D-2026-000000000000"))
    assert unknown.status_code == 409, unknown.text
    assert "not in the design registry" in unknown.json()["error"]["message"]
    # A licence without a design is refused (the product names only its own style code).
    plain = made_product(world, "LUNE-RING-07")
    refused = post_certificate(world, plain, design_licence=LICENCE)
    assert refused.status_code == 422, refused.text

    pass_finality(world)
    # A licence that is not recorded for the design is refused.
    unlicensed = post_certificate(world, serial, design_licence=LICENCE)
    assert unlicensed.status_code == 409, unlicensed.text
    assert "no licence" in unlicensed.json()["error"]["message"]
    licence = {
        "licensee_ref": "brand:maison-lune",
        "document_sha256": LICENCE,
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2030-01-01T00:00:00Z",
    }
    granted = world.http.post(
        f"/api/v1/designs/{number}/licences", json=licence, headers=world.headers(LEGAL)
    )
    assert granted.status_code == 202, granted.text
    settle(world, workers)

    answer = post_certificate(world, serial, design_licence=LICENCE)
    assert answer.status_code == 201, answer.text
    assert certified(world, serial) == (1, True)
    # The brand's own style code is not a registration: no design, issued.
    assert post_certificate(world, plain).status_code == 201

    anchored(world, workers, answer.json()["id"])
    document, bundle = fetch(world, answer.json()["id"])
    stated = document["credentialSubject"]["design"]
    on_chain = world.runtime.registry.retrieve_design(fingerprint)
    assert stated == {
        "registration": number,
        "fingerprint": "0x" + fingerprint.removeprefix("0x"),
        "registry": document["proof"]["deployment"]["designRegistry"],
        "registrant": world.organisations[LEGAL].account_address,
        "ownerRef": on_chain.owner_ref,
        "metadataHash": on_chain.metadata_hash,
        "filedAt": on_chain.filed_at,
        "filedBlock": on_chain.filed_block,
        "finalAt": on_chain.final_at,
        "authorization": "simple",
        "licence": {
            "documentHash": "0x" + LICENCE,
            "licenseeRef": stated["licence"]["licenseeRef"],
            "validFrom": 1767225600,
            "validUntil": 1893456000,
            "grantedBy": world.organisations[LEGAL].account_address,
            "grantedAt": stated["licence"]["grantedAt"],
        },
    }
    text = json.dumps(document)
    assert "customer:4711" not in text and "brand:maison-lune" not in text  # never a name
    report = check(world, document, bundle)
    assert report.ok, report.as_json()
    [design_check] = [c for c in report.checks if c.name == "design"]
    assert design_check.ok and fingerprint.removeprefix("0x") in design_check.detail
    assert f"licensed under 0x{LICENCE}" in design_check.detail
    # The customer's verify page shows the design and what the registry on chain confirmed.
    page = world.http.get(f"/v/{answer.json()['id']}", headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text
    assert number in page.text and "Read from the design registry on the chain" in page.text
    assert "Its registered design matches the design registry" in page.text
    assert f"licensed under 0x{LICENCE}" in page.text
    # In Chinese, what the registry confirmed is said in Chinese: the same facts.
    chinese = world.http.get(f"/v/{answer.json()['id']}", headers={"Accept-Language": "zh"})
    assert chinese.status_code == 200, chinese.text
    assert f"依据许可文件 0x{LICENCE} 获得许可" in chinese.text
    assert f"设计 0x{fingerprint.removeprefix('0x')}" in chinese.text and "备案" in chinese.text
    assert "licensed under" not in chinese.text and "filed in block" not in chinese.text
    # The design's members are named in the page's language, its times as dates.
    assert "Filed in block" in page.text and "Licence document" in page.text
    assert "备案区块" in chinese.text and "许可文件" in chinese.text and "有效期至" in chinese.text
    assert "<code>filedBlock</code>" not in chinese.text and "2030" in chinese.text

    # A brand that states the filing or the licence otherwise than the registry is found out,
    # though it signed and anchored the statement itself.
    for name, lie in design_lies(world).items():
        lied = certify_with_design(world, workers, number, lie)
        report = check(world, *fetch(world, lied))
        failed = [c.name for c in report.checks if not c.ok]
        assert report.verdict == "tampered" and failed == ["design"], (name, report.as_json())


def test_a_seen_designed_certificate_rereads_its_design_in_the_block_batch_and_shows_changes(
    world: World, workers: list[AnchorWorker], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = world.runtime
    assert runtime.read_sessions is not None and runtime.chain is not None
    design = licensed_design(world, workers, 7311)
    number = design["number"]
    ref = certify_with_design(world, workers, number)
    document, bundle = fetch(world, ref)
    registry = document["credentialSubject"]["design"]["registry"]
    cache = verification_service.VerificationCache()  # asks the node for the block each time
    ledger_selectors = verification_service._encoding()._functions
    registry_selectors = verification_service._registry_encoding()._functions

    def verified() -> verification_service.Verification:
        return verification_service.of_certificate(
            ref=ref,
            sessions=runtime.read_sessions,  # type: ignore[arg-type]
            client=runtime.chain,  # type: ignore[arg-type]
            deployment=runtime.certificate_issuer().deployment,
            cache=cache,
        )

    def design_detail(found: verification_service.Verification) -> str:
        return next(c.detail for c in found.checks if c.name == "design")

    first = verified()
    assert first.verdict == "genuine" and cache.reused == 0
    assert "terminated later" not in design_detail(first)
    _mine(world)
    with _node_requests(world, monkeypatch) as sent:
        again = verified()
    block = runtime.chain.retrieve_block_number()
    # The block number, then one batch: the ledger's per-block reads and the design registry's
    # filing and licence at that block, nothing else (no block, no log, no receipt).
    assert [m for m, _ in sent] == ["eth_blockNumber", "batch"], sent
    reads = sent[1][1]
    assert all(m == "eth_call" and p[1] == hex(block) for m, p in reads)
    called = [(p[0]["to"], p[0]["data"][:10]) for _, p in reads]
    records = len(bundle["records"])
    assert (
        called[: 1 + records]
        == [(document["credentialStatus"]["ledger"], ledger_selectors["certificateStatus"][0])]
        + [(document["credentialStatus"]["ledger"], ledger_selectors["verifyRecord"][0])] * records
    )
    assert called[1 + records :] == [
        (registry, registry_selectors["designOf"][0]),
        (registry, registry_selectors["licenceOf"][0]),
    ]
    assert again.verdict == "genuine" and again.block == block and cache.reused == 1
    assert [c.detail for c in again.checks] == [c.detail for c in first.checks]

    # The licence terminated after the reuse: the next block's check is a whole one and says so.
    a_minute_later(world)  # blocks of one second share their time: terminated after, not then
    ended = world.http.post(
        f"/api/v1/designs/{number}/licences/{LICENCE}/terminate",
        json={"reason": "breach"},
        headers=world.headers(LEGAL),
    )
    assert ended.status_code == 202, ended.text
    settle(world, workers)
    terminated = verified()
    assert terminated.verdict == "genuine" and cache.reused == 1
    assert "terminated later" in design_detail(terminated)
    # Nothing changes after it: the next block reuses the findings with the termination.
    _mine(world)
    kept = verified()
    assert cache.reused == 2 and design_detail(kept) == design_detail(terminated)

    # The design assigned to another registrar: the next block's check finds the certificate's
    # registrant in the filing's history and says whom it went to.
    assign_design(world, workers, number, HEIR)
    assigned = verified()
    assert assigned.verdict == "genuine" and cache.reused == 2
    assert "assigned since to" in design_detail(assigned)
    assert world.organisations[HEIR].account_address in design_detail(assigned)


def test_a_seen_designed_certificate_shows_a_licence_and_a_filing_read_from_the_batch(
    world: World, workers: list[AnchorWorker]
) -> None:
    """What the batch answers is what the registry's own reads answer (decoded as web3 does)."""
    design = licensed_design(world, workers, 7312)
    ref = certify_with_design(world, workers, design["number"])
    document, _ = fetch(world, ref)
    calls = verification_service._design_calls(document)
    assert len(calls) == 2
    chain = world.runtime.chain
    assert chain is not None
    block = chain.retrieve_block_number()
    raw = chain.retrieve_eth_calls(calls, block)
    encoding = verification_service._registry_encoding()
    fingerprint = design["fingerprint"]
    registry = world.runtime.registry
    assert _view(OnChainDesign, encoding.answer("designOf", raw[0])) == registry.retrieve_design(
        fingerprint
    )
    assert _view(LicenceView, encoding.answer("licenceOf", raw[1])) == DesignRights(
        registry
    ).retrieve_licence(fingerprint, "0x" + LICENCE)
