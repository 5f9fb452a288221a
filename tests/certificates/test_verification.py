"""The verification API and the verify page (server side): every verdict of a stored certificate
(genuine, revoked within one block, superseded with its successor, unknown id, not anchored yet,
tampered in the database) and of a posted document (genuine with and without its bundle,
tampered, wrong signer, another ledger), malformed and oversized bodies, no API key needed; the
page's verdict, disclosures, languages, headers and size."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import update
from web3 import Web3
from web3.types import RPCEndpoint

from hallmark.api.pages import i18n
from hallmark.api.pages.rendering import STATIC_DIR
from hallmark.api.pages.verify import SAID
from hallmark.api.ratelimit import ClientRateLimit
from hallmark.config import Settings
from hallmark.core.errors import ChainUnavailableError, RateLimitedError
from hallmark.services.certificates import document as doc
from hallmark.services.certificates import verification as verification_service
from hallmark.services.certificates import verifier
from hallmark.services.certificates.verification import MAX_BODY_BYTES
from hallmark.store.models import Record
from tests.certificates.builders import (
    ToVerify,
    anchor_all,
    complete_product,
    fetch,
    issue,
    issue_to_verify,
    reissue_after_repair,
)
from tests.conftest import World
from tests.records.factories import BRAND, BRAND_2, FACTORY, SUPPLIER

CHECKS = [
    "document",
    "hash",
    "signature",
    "chain",
    "issuer",
    "merkle",
    "anchored",
    "status",
    "design",
]


@pytest.fixture(scope="module")
def certificates(world: World) -> ToVerify:
    return issue_to_verify(world, engraving="a star")


def _cache(world: World) -> verification_service.VerificationCache:
    """The API's verification cache, made (with its block watcher) by its first verification."""
    state = world.http.app.state  # type: ignore[attr-defined]
    if getattr(state, "verification_cache", None) is None:
        world.http.get("/api/v1/certificates/HM-00000000-NOSUCH/verification")
    cache: verification_service.VerificationCache = state.verification_cache
    return cache


def _watched(world: World) -> int:
    """Wait until the API's block watcher has read the chain's latest block (it asks every
    HALLMARK_VERIFY_BLOCK_SECONDS); from then on every request uses that block. Its number."""
    chain = world.runtime.chain
    assert chain is not None
    latest = chain.retrieve_block_number()
    deadline = time.monotonic() + 10  # a bound for a stuck watcher, not a measure of speed
    while (_cache(world).fresh_block() or -1) < latest:
        assert time.monotonic() < deadline, "the block watcher did not read the latest block"
        time.sleep(0.01)
    return latest


def verification(world: World, ref: str) -> dict[str, Any]:
    response = world.http.get(f"/api/v1/certificates/{ref}/verification")  # no API key
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def posted(world: World, document: Any, bundle: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"document": document}
    if bundle is not None:
        body["bundle"] = bundle
    response = world.http.post("/api/v1/verify", json=body)  # no API key
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _check(answer: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in answer["checks"] if c["name"] == name)
    return found


def test_genuine_certificate_is_verified_with_every_fact_and_its_evidence(
    world: World, certificates: ToVerify
) -> None:
    answer = verification(world, certificates.genuine)
    assert answer["verdict"] == "genuine" and answer["ok"], answer["checks"]
    assert [c["name"] for c in answer["checks"]] == [*CHECKS, "bundle"]
    assert answer["records_checked"] and answer["anchored"]
    assert answer["page"] == f"/v/{certificates.genuine}"
    brand = world.organisations[BRAND]
    certificate = answer["certificate"]
    assert certificate["issuer"]["name"] == BRAND
    assert certificate["evidence"]["account"].lower() == brand.account_address.lower()
    assert certificate["evidence"]["checked"] and certificate["evidence"]["block"] > 0
    assert "held ISSUER_ROLE" in certificate["evidence"]["note"]
    facts = answer["facts"]
    assert facts["product"]["statement"]["engraving"] == "a star"
    product_evidence = facts["product"]["evidence"]
    assert product_evidence["kind"] == "product" and product_evidence["checked"]
    assert product_evidence["organisation"] == BRAND
    material = facts["materials"][0]
    assert material["statement"]["origin"]["country"] == "ZA"
    lot = material["evidence"]
    assert lot["kind"] == "material_lot" and lot["organisation"] == SUPPLIER
    assert lot["account"].lower() == world.organisations[SUPPLIER].account_address.lower()
    assert lot["anchored_at"] is not None and lot["transaction"].startswith("0x")
    steps = facts["timeline"]["steps"]
    assert [s["kind"] for s in steps] == ["casting", "polishing", "qc_inspection", "packaging"]
    assert [s["sequence"] for s in steps] == [1, 2, 3, 4]
    assert all(s["evidence"]["organisation"] == FACTORY for s in steps)
    assert steps[2]["result"] == "pass"
    assert facts["design"] is None
    assert facts["carbon"]["footprint"]["kgCO2e"] is not None
    # By its number too, the same answer.
    by_number = verification(world, certificate["number"])
    assert by_number["certificate"]["id"] == certificates.genuine
    assert by_number["verdict"] == "genuine"


def test_revocation_shows_at_the_next_block(world: World, certificates: ToVerify) -> None:
    assert verification(world, certificates.to_revoke)["verdict"] == "genuine"  # now cached
    answer = world.http.post(
        f"/api/v1/certificates/{certificates.to_revoke}/revocation",
        json={"reason": "lost_in_production"},
        headers=world.headers(BRAND),
    )
    assert answer.status_code == 200, answer.text
    block = _watched(world)
    revoked = verification(world, certificates.to_revoke)
    assert revoked["checked_at_block"] == block
    assert revoked["verdict"] == "revoked" and not revoked["ok"]
    assert revoked["revocation"]["cause"] == "certificate_revoked"
    assert revoked["revocation"]["reason"] == "lost_in_production"
    assert revoked["revocation"]["reason_code"] == doc.REVOCATION_REASONS["lost_in_production"]
    assert revoked["revocation"]["at"] is not None
    assert not _check(revoked, "status")["ok"]
    page = world.http.get(f"/v/{certificates.to_revoke}")
    assert page.status_code == 200
    assert "Revoked" in page.text and "lost in production" in page.text


def test_superseded_certificate_links_its_successor(world: World, certificates: ToVerify) -> None:
    answer = verification(world, certificates.superseded)
    assert answer["verdict"] == "superseded"
    successor = answer["successor"]
    assert successor["id"] == certificates.successor
    assert successor["page"] == f"/v/{certificates.successor}"
    new_document, _ = fetch(world, certificates.successor)
    assert successor["hash"] == new_document["proof"]["certificateHash"]
    assert verification(world, certificates.successor)["verdict"] == "genuine"
    page = world.http.get(f"/v/{certificates.superseded}")
    assert page.status_code == 200
    assert f'href="/v/{certificates.successor}"' in page.text


def test_unknown_certificate(world: World) -> None:
    response = world.http.get("/api/v1/certificates/HM-00000000-NOSUCH/verification")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and error["details"]["verdict"] == "unknown"
    page = world.http.get("/v/HM-00000000-NOSUCH")
    assert page.status_code == 404
    assert "Unknown" in page.text and "No certificate has this number" in page.text
    assert world.http.get("/v/" + "x" * 200).status_code == 404


def test_certificate_not_anchored_yet_is_unknown(world: World) -> None:
    fresh = issue(world, complete_product(world))["id"]  # no worker runs: not anchored
    answer = verification(world, fresh)
    assert answer["verdict"] == "unknown" and not answer["anchored"]
    assert "not anchored yet" in _check(answer, "issuer")["detail"]
    page = world.http.get(f"/v/{fresh}")
    assert "not anchored on the chain yet" in page.text


def test_record_altered_in_the_database_is_tampered(world: World, certificates: ToVerify) -> None:
    _, bundle = fetch(world, certificates.to_tamper)
    step = next(r for r in bundle["records"] if '"kind":"casting"' in r["canonical"])
    altered = step["canonical"].replace('"kind":"casting"', '"kind":"plating"')
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        session.execute(update(Record).where(Record.id == step["id"]).values(canonical=altered))
    answer = world.http.get(f"/api/v1/certificates/{certificates.to_tamper}/verification")
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "tampered"
    assert not answer.json()["ok"]
    page = world.http.get(f"/v/{certificates.to_tamper}")
    assert page.status_code == 200 and "Tampered" in page.text


def test_posted_document_with_and_without_its_bundle(world: World, certificates: ToVerify) -> None:
    document, bundle = fetch(world, certificates.genuine)
    full = posted(world, document, bundle)
    assert full["verdict"] == "genuine" and full["records_checked"]
    assert len(full["facts"]["timeline"]["steps"]) == 4
    alone = posted(world, document)
    assert alone["verdict"] == "genuine" and not alone["records_checked"]
    assert [c["name"] for c in alone["checks"]] == CHECKS
    product = alone["facts"]["product"]["evidence"]
    assert not product["checked"] and "no provenance bundle" in product["note"]
    assert alone["facts"]["timeline"]["steps"] == []
    revoked_document, _ = fetch(world, certificates.superseded)
    assert posted(world, revoked_document)["verdict"] == "superseded"


def test_posted_tampered_document_or_bundle(world: World, certificates: ToVerify) -> None:
    document, bundle = fetch(world, certificates.genuine)
    changed = copy.deepcopy(document)
    changed["credentialSubject"]["materials"][0]["origin"]["country"] = "CH"
    answer = posted(world, changed, bundle)
    assert answer["verdict"] == "tampered"
    assert not _check(answer, "hash")["ok"]
    changed_bundle = copy.deepcopy(bundle)
    lot = next(r for r in changed_bundle["records"] if r["kind"] == "material_lot")
    assert '"ZA"' in lot["canonical"]
    lot["canonical"] = lot["canonical"].replace('"ZA"', '"CH"')
    answer = posted(world, document, changed_bundle)
    assert answer["verdict"] == "tampered" and not _check(answer, "bundle")["ok"]
    assert not answer["facts"]["materials"][0]["evidence"]["checked"]
    not_a_certificate = posted(world, {"hello": "world"})
    assert not_a_certificate["verdict"] == "tampered"
    assert not_a_certificate["certificate"] is None


def test_posted_document_signed_by_another_brand(world: World, certificates: ToVerify) -> None:
    document, _ = fetch(world, certificates.genuine)
    other = world.runtime.organisation_signer(world.organisations[BRAND_2])
    forged = copy.deepcopy(document)
    forged["proof"]["signatureValue"] = doc.sign(forged, other)
    answer = posted(world, forged)
    assert answer["verdict"] == "tampered"
    assert not _check(answer, "signature")["ok"]
    assert other.address in _check(answer, "signature")["detail"]
    claimed = copy.deepcopy(forged)
    claimed["issuer"]["account"] = other.address
    claimed["proof"]["signer"] = other.address
    assert posted(world, claimed)["verdict"] != "genuine"


def test_posted_document_naming_another_ledger(world: World, certificates: ToVerify) -> None:
    document, _ = fetch(world, certificates.genuine)
    elsewhere = copy.deepcopy(document)
    elsewhere["credentialStatus"]["ledger"] = "0x" + "12" * 20
    answer = posted(world, elsewhere)
    assert answer["verdict"] != "genuine"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 422),
        (b"[]", "application/json", 422),
        (b'{"bundle": {}}', "application/json", 422),
        (b'{"document": [1, 2]}', "application/json", 422),
        (b'{"document": {}, "extra": 1}', "application/json", 422),
        (b"[" * 1000 + b"]" * 1000, "application/json", 422),
    ],
)
def test_malformed_bodies_are_refused(
    world: World, body: bytes, content_type: str, status: int
) -> None:
    response = world.http.post(
        "/api/v1/verify", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_oversized_body_is_refused_before_it_is_read(world: World) -> None:
    padding = "x" * MAX_BODY_BYTES
    response = world.http.post("/api/v1/verify", json={"document": {"padding": padding}})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_openapi_document_describes_both_operations(world: World) -> None:
    paths = world.http.get("/openapi.json").json()["paths"]
    get = paths["/api/v1/certificates/{ref}/verification"]["get"]
    post = paths["/api/v1/verify"]["post"]
    assert {"200", "404", "422", "429", "500", "503"} <= set(get["responses"])
    assert {"200", "413", "422", "429", "500", "503"} <= set(post["responses"])
    assert "unknown" in get["responses"]["404"]["description"]


def test_page_in_both_languages_small_and_never_cached(
    world: World, certificates: ToVerify
) -> None:
    page = world.http.get(f"/v/{certificates.genuine}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.text
    assert "<script" not in html
    assert page.headers["cache-control"] == "no-store"
    assert "script-src" not in page.headers["content-security-policy"]  # none allowed
    assert "Genuine" in html and "Production timeline" in html
    assert html.count('<details class="how">') >= 7  # certificate, product, lot, 4 steps...
    assert "held the issuer role then" in html
    # A first visit: the page and every style sheet it links, each cached for good after.
    sheets = re.findall(r'href="(/static/([\w.-]+\.css)\?v=\w+)"', html)
    assert {name for _, name in sheets} >= {"base.css", "verify.css"}
    sent = len(page.content)
    for address, name in sheets:
        css = world.http.get(address)
        assert css.status_code == 200 and "immutable" in css.headers["cache-control"]
        assert len((STATIC_DIR / name).read_bytes()) == len(css.content)
        sent += len(css.content)
    assert sent <= 50_000
    chinese = world.http.get(
        f"/v/{certificates.genuine}", headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    assert chinese.headers["content-language"] == "zh-CN"
    assert "真实有效" in chinese.text and "生产时间线" in chinese.text
    # The piece's name is labelled as a thing's name (名称), not a person's (姓名).
    assert "<dt>名称</dt>" in chinese.text and "姓名" not in chinese.text
    # Every check's details and every "how this was checked" in Chinese, with the same facts.
    signer = world.organisations[BRAND].account_address
    assert f"由 {signer} 作出的 EIP-712 签名" in chinese.text
    assert f"{signer} 在第" in chinese.text and "持有发证角色" in chinese.text
    assert "未被撤销、取代或标记" in chinese.text and "条记录" in chinese.text
    for english in ("EIP-712 signature by", "held ISSUER_ROLE", "records verified", "valid:"):
        assert english in html and english not in chinese.text
    # The lots' ethics attestations by name, not by member.
    assert "Conflict-free" in html and "无冲突来源" in chinese.text and "公平贸易" in chinese.text
    assert "<code>conflict_free</code>" not in html + chinese.text
    switched = world.http.get(
        f"/language/zh?next=/v/{certificates.genuine}", follow_redirects=False
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == f"/v/{certificates.genuine}"
    assert world.http.get(f"/v/{certificates.genuine}").headers["content-language"] == "zh-CN"
    world.http.cookies.delete("hallmark_lang")  # the module's other tests read English


def test_chain_unreachable_answers_503_and_checks_nothing(
    world: World, certificates: ToVerify, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = world.runtime.chain
    assert chain is not None

    def unreachable() -> int:
        raise ChainUnavailableError(chain.url, "connection refused")

    verification(world, certificates.genuine)  # the watcher runs, its answer kept
    monkeypatch.setattr(chain, "retrieve_block_number", unreachable)
    # The watcher's last reading ages: from twice its interval on, a request asks the node.
    deadline = time.monotonic() + 10  # a bound for a stuck test, not a measure of speed
    while _cache(world).fresh_block() is not None:
        assert time.monotonic() < deadline, "the block watcher's reading did not age"
        time.sleep(0.01)
    answer = world.http.get(f"/api/v1/certificates/{certificates.genuine}/verification")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "chain_unavailable"
    page = world.http.get(f"/v/{certificates.genuine}")
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert "The chain cannot be reached just now" in page.text
    assert "Genuine" not in page.text


def _mine(world: World) -> None:
    chain = world.runtime.chain
    assert chain is not None
    chain.w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def test_kept_chain_facts_never_hide_a_revocation_or_supersession_in_the_next_block(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_revoke = issue(world, complete_product(world))["id"]
    serial = complete_product(world)
    to_supersede = issue(world, serial)["id"]
    successor = reissue_after_repair(world, serial, to_supersede)
    anchor_all(world, [to_revoke, to_supersede, successor])
    for ref in (to_revoke, to_supersede):
        assert verification(world, ref)["verdict"] == "genuine"
    # At a new block both are checked again, the final facts (receipts, batches, roles at a
    # past block) coming from what the first checks kept, what can change read in one batch:
    # neither a receipt nor a single contract read is asked of the node.
    chain = world.runtime.chain
    assert chain is not None
    receipts: list[str] = []
    reads: list[Any] = []
    real_receipt, real_call = chain.retrieve_receipt, chain.retrieve_call

    def counted(tx_hash: str) -> Any:
        receipts.append(tx_hash)
        return real_receipt(tx_hash)

    def counted_call(call: Any) -> Any:
        reads.append(call)
        return real_call(call)

    monkeypatch.setattr(chain, "retrieve_receipt", counted)
    monkeypatch.setattr(chain, "retrieve_call", counted_call)
    ledger_address = world.runtime.certificate_issuer().deployment["ledger"]
    made: list[str] = []
    real_contract = chain.w3.eth.contract

    def counted_contract(*args: Any, **kwargs: Any) -> Any:
        made.append(str(kwargs.get("address")))
        return real_contract(*args, **kwargs)

    monkeypatch.setattr(chain.w3.eth, "contract", counted_contract)
    _mine(world)
    _watched(world)
    for ref in (to_revoke, to_supersede):
        assert verification(world, ref)["verdict"] == "genuine"
    assert receipts == [] and reads == []
    # The ledger's contract object (made from its whole ABI) is made once, not per check.
    assert [a for a in made if a.lower() == ledger_address.lower()] == []
    # The very next block revokes one and supersedes the other: both show at once.
    revoked = world.http.post(
        f"/api/v1/certificates/{to_revoke}/revocation",
        json={"reason": "lost_in_production"},
        headers=world.headers(BRAND),
    )
    assert revoked.status_code == 200, revoked.text
    _watched(world)
    answer = verification(world, to_revoke)
    assert answer["verdict"] == "revoked" and answer["revocation"]["cause"] == "certificate_revoked"
    assert verification(world, to_supersede)["verdict"] == "genuine"  # kept for this block
    superseded = world.http.post(
        f"/api/v1/certificates/{successor}/supersession", headers=world.headers(BRAND)
    )
    assert superseded.status_code == 200, superseded.text
    _watched(world)
    answer = verification(world, to_supersede)
    assert answer["verdict"] == "superseded"
    assert answer["successor"]["id"] == successor
    assert receipts == []


def test_a_burst_of_requests_in_one_block_runs_one_check(
    world: World, certificates: ToVerify, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = world.runtime
    assert runtime.read_sessions is not None and runtime.chain is not None
    cache = verification_service.VerificationCache()
    burst = 12
    checks: list[str] = []
    real_of_stored = verification_service.of_stored
    _mine(world)
    block = runtime.chain.retrieve_block_number()

    def of_stored(**kwargs: Any) -> verification_service.Verification:
        checks.append(kwargs["ref"])
        # Hold the one check until every other request of the burst is waiting for it.
        deadline = threading.Event()
        for _ in range(600):
            if cache.checks.waiting((certificates.genuine, block)) == burst - 1:
                break
            deadline.wait(0.05)
        return real_of_stored(**kwargs)

    monkeypatch.setattr(verification_service, "of_stored", of_stored)

    def one(_: int) -> verification_service.Verification:
        return verification_service.of_certificate(
            ref=certificates.genuine,
            sessions=runtime.read_sessions,  # type: ignore[arg-type]
            client=runtime.chain,  # type: ignore[arg-type]
            deployment=runtime.certificate_issuer().deployment,
            cache=cache,
        )

    with ThreadPoolExecutor(burst) as pool:
        answers = list(pool.map(one, range(burst)))
    assert checks == [certificates.genuine]
    assert cache.checks.runs == 1
    assert all(a is answers[0] for a in answers) and answers[0].verdict == "genuine"
    assert answers[0].block == block
    # The next block runs it again, once.
    _mine(world)
    assert one(0).block == block + 1 and cache.checks.runs == 2


def test_rate_limit_counts_each_address_under_every_limit() -> None:
    limit = ClientRateLimit("3/minute;100/hour")
    for _ in range(3):
        limit.hit("198.51.100.7")
    with pytest.raises(RateLimitedError) as refused:
        limit.hit("198.51.100.7")
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.details == {
        "retry_after_seconds": refused.value.retry_after,
        "limit": "3 per 1 minute",
    }
    limit.hit("203.0.113.9")  # another address has its own budget
    off = ClientRateLimit("off")
    for _ in range(1000):
        off.hit("198.51.100.7")


@pytest.mark.parametrize("bad", ["lots", "20/fortnight", "-1/second", ""])
def test_rate_limit_setting_is_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Settings(verify_rate_limit=bad, _env_file=None)  # type: ignore[call-arg]
    assert Settings(verify_rate_limit=" OFF ", _env_file=None).verify_rate_limit == "off"  # type: ignore[call-arg]
    default = Settings(_env_file=None).verify_rate_limit  # type: ignore[call-arg]
    assert default == "20/second;600/minute" and len(ClientRateLimit(default).items) == 2


#: Seconds a test's requests against a budget take at most, on a busy machine.
BUDGET_TEST_SECONDS = 20.0


def _clear_of_window_ends(limit: ClientRateLimit) -> None:
    """Wait, if need be, for windows that last the test through. The sliding window counter
    weighs the previous window's hits by how much of the current one is left (windows start at
    multiples of their length since the epoch): a budget spent just before a window ends allows
    another request just after, so a test crossing that moment sees a request allowed that it
    counted as refused."""
    for item in limit.items:
        length = item.get_expiry()
        left = length - time.time() % length
        if left < BUDGET_TEST_SECONDS:
            time.sleep(left + 0.05)


@contextmanager
def _rate_limited(world: World, spec: str) -> Iterator[ClientRateLimit]:
    """The API's verification budget set to `spec` for a while, then the one before put back
    (monkeypatch cannot: undoing it deletes an attribute of Starlette's `State`)."""
    state = world.http.app.state  # type: ignore[attr-defined]
    before = state.verify_rate_limit
    limit = ClientRateLimit(spec)
    _clear_of_window_ends(limit)
    state.verify_rate_limit = limit
    try:
        yield limit
    finally:
        state.verify_rate_limit = before


def test_public_verification_is_rate_limited_per_address(
    world: World, certificates: ToVerify
) -> None:
    """One budget for the verification API, the posted document, the verify page and the GS1
    resolver; over it, 429 with Retry-After (the error shape, or the page in its language)."""
    with _rate_limited(world, "4/minute"):
        _rate_limited_answers(world, certificates)


def _rate_limited_answers(world: World, certificates: ToVerify) -> None:
    document, _bundle = fetch(world, certificates.genuine)
    assert world.http.get(f"/api/v1/certificates/{certificates.genuine}/verification").is_success
    assert world.http.post("/api/v1/verify", json={"document": document}).is_success
    assert world.http.get(f"/v/{certificates.genuine}").status_code == 200
    assert world.http.get("/01/00000000000000/21/NO-SUCH").status_code == 404
    refusals = [
        world.http.get(f"/api/v1/certificates/{certificates.genuine}/verification"),
        world.http.post("/api/v1/verify", json={"document": document}),
        world.http.get("/01/00000000000000/21/NO-SUCH", follow_redirects=False),
    ]
    for refused in refusals:
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["details"]["retry_after_seconds"] == int(refused.headers["Retry-After"])
    for language, text in (("en", "Too many checks"), ("zh", "检查次数过多")):
        page = world.http.get(f"/v/{certificates.genuine}", headers={"Accept-Language": language})
        assert page.status_code == 429
        assert page.headers["content-type"].startswith("text/html")
        assert int(page.headers["Retry-After"]) >= 1
        assert text in page.text
        assert certificates.genuine in page.text  # the number asked about, not its facts
        assert "Production timeline" not in page.text and "生产时间线" not in page.text
        # A phone that scanned a GS1 Digital Link is answered the same page.
        scanned = world.http.get(
            "/01/00000000000000/21/NO-SUCH",
            headers={"Accept": "text/html,*/*;q=0.8", "Accept-Language": language},
        )
        assert scanned.status_code == 429 and int(scanned.headers["Retry-After"]) >= 1
        assert scanned.headers["content-type"].startswith("text/html") and text in scanned.text
    # Authenticated, non-public endpoints are not counted against it.
    assert world.http.get(
        f"/api/v1/certificates/{certificates.genuine}", headers=world.headers(BRAND)
    ).is_success


def test_the_page_says_every_finding_of_the_verifier_in_both_languages() -> None:
    """Each finding the verifier names by key is on the page's list, with the same values, and
    translated in each language with those values."""
    assert set(SAID) == set(verifier.MESSAGES) | {"not_checked", "no_bundle"}
    for key, english in verifier.MESSAGES.items():
        names = set(re.findall(r"\{(\w+)(?:![rs])?\}", english))
        assert set(re.findall(r"%\((\w+)\)s", SAID[key])) == names, key
        for language in i18n.LANGUAGES:
            said = i18n.translations(language).gettext(SAID[key])
            assert said and set(re.findall(r"%\((\w+)\)s", said)) == names, (language, key)


class _Node:
    """A chain client that answers the block number it is told, counting the questions."""

    url = "http://node.invalid"

    def __init__(self) -> None:
        self.block = 7
        self.questions = 0
        self.down = False

    def retrieve_block_number(self) -> int:
        self.questions += 1
        if self.down:
            raise ChainUnavailableError(self.url, "connection refused")
        return self.block


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_block_watcher_reading_is_used_only_while_fresh() -> None:
    node, clock = _Node(), _Clock()
    watcher = verification_service.BlockWatcher(node, 0.2, clock=clock)  # type: ignore[arg-type]
    assert watcher.fresh() is None  # nothing read yet
    assert watcher.read() == 7 and node.questions == 1
    node.block = 8  # mined: the reading still says 7 until it is read again or ages
    clock.now += 0.39  # under twice the interval: still used
    assert watcher.fresh() == 7
    clock.now += 0.02  # older than twice the interval: never used
    assert watcher.fresh() is None
    assert watcher.read() == 8 and watcher.fresh() == 8


def test_requests_share_the_watchers_reading_and_ask_the_node_once_it_is_stale() -> None:
    node, clock = _Node(), _Clock()
    cache = verification_service.VerificationCache(block_seconds=0.2)
    watcher = verification_service.BlockWatcher(node, 0.2, clock=clock)  # type: ignore[arg-type]
    cache.watcher = watcher  # not started: the test reads for it
    watcher.read()
    for _ in range(50):
        assert cache.latest_block(node) == 7  # type: ignore[arg-type]
    assert node.questions == 1  # the requests asked the node nothing
    node.block = 9
    clock.now += 1.0  # the watcher stopped reading (a slow node, a starved thread)
    assert cache.fresh_block() is None
    assert cache.latest_block(node) == 9 and node.questions == 2  # type: ignore[arg-type]
    assert cache.fresh_block() == 9  # that answer is the reading now
    node.down = True
    clock.now += 1.0
    with pytest.raises(ChainUnavailableError):  # a stale reading is never a fallback
        cache.latest_block(node)  # type: ignore[arg-type]


def test_block_watcher_thread_reads_new_blocks_and_stops() -> None:
    node = _Node()
    cache = verification_service.VerificationCache(block_seconds=0.01)
    assert cache.latest_block(node) == 7  # type: ignore[arg-type]
    watcher = cache.watcher
    assert watcher is not None
    node.block = 8
    deadline = time.monotonic() + 10  # a bound for a stuck thread, not a measure of speed
    while cache.fresh_block() != 8:
        assert time.monotonic() < deadline, "the watcher did not read the new block"
        time.sleep(0.005)
    cache.close()
    asked = node.questions
    time.sleep(0.05)
    assert node.questions == asked  # stopped
    assert cache.fresh_block() is None and cache.latest_block(node) == 8  # type: ignore[arg-type]


def test_kept_answers_are_served_before_the_router_as_the_routes_made_them(
    world: World, certificates: ToVerify, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hallmark.api.pages import verify as verify_page
    from hallmark.api.routes import verification as verification_routes

    _mine(world)
    _watched(world)
    api = f"/api/v1/certificates/{certificates.genuine}/verification"
    page = f"/v/{certificates.genuine}"
    first_api, first_page = world.http.get(api), world.http.get(page)
    first_zh = world.http.get(page, headers={"Accept-Language": "zh-CN"})
    assert first_api.status_code == first_page.status_code == first_zh.status_code == 200
    routed: list[str] = []

    def counted(*args: Any, **kwargs: Any) -> verification_service.Verification:
        routed.append("route")
        return real(*args, **kwargs)

    real = verification_routes.verify_stored
    monkeypatch.setattr(verification_routes, "verify_stored", counted)
    monkeypatch.setattr(verify_page, "verify_stored", counted)
    again_api, again_page = world.http.get(api), world.http.get(page)
    again_zh = world.http.get(page, headers={"Accept-Language": "zh-CN"})
    assert routed == []  # answered from what was kept, before the router
    for first, again in ((first_api, again_api), (first_page, again_page), (first_zh, again_zh)):
        assert again.status_code == 200 and again.content == first.content
        assert {k: v for k, v in again.headers.items() if k != "x-request-id"} == {
            k: v for k, v in first.headers.items() if k != "x-request-id"
        }
    assert (
        again_zh.headers["content-language"] == "zh-CN" and again_zh.content != again_page.content
    )
    # A page not made yet (another address) and an unknown certificate go to the routes.
    assert world.http.get(page + "?lang=en").status_code == 200
    assert world.http.get("/api/v1/certificates/HM-00000000-NOSUCH/verification").status_code == 404
    assert routed == ["route", "route"]
    # A new block: nothing kept is served for it; the first request is checked again.
    routed.clear()
    _mine(world)
    block = _watched(world)
    fresh = world.http.get(api)
    assert routed == ["route"] and fresh.json()["checked_at_block"] == block


def test_a_certificate_anchored_after_the_reading_is_checked_at_a_block_that_holds_it(
    world: World,
) -> None:
    runtime = world.runtime
    assert runtime.read_sessions is not None and runtime.chain is not None
    clock = _Clock()  # never moves: the reading stays fresh
    cache = verification_service.VerificationCache(block_seconds=0.2)
    cache.watcher = verification_service.BlockWatcher(runtime.chain, 0.2, clock=clock)
    before = cache.watcher.read()
    ref = issue(world, complete_product(world))["id"]
    anchor_all(world, [ref])  # mined after the reading
    assert cache.fresh_block() == before
    found = verification_service.of_certificate(
        ref=ref,
        sessions=runtime.read_sessions,
        client=runtime.chain,
        deployment=runtime.certificate_issuer().deployment,
        cache=cache,
    )
    assert found.verdict == "genuine", [c for c in found.checks if not c.ok]
    assert found.block is not None and found.block > before
    assert cache.fresh_block() == found.block  # the node's answer is the reading now
    assert cache.get(ref, found.block) is found


def test_kept_answers_count_against_the_address_budget_as_routed_ones_do(
    world: World, certificates: ToVerify
) -> None:
    """An answer kept for the block is served before the router, yet costs its address one
    request of its budget, once: over the budget, the route refuses it in its own shape."""
    _mine(world)
    _watched(world)
    api = f"/api/v1/certificates/{certificates.genuine}/verification"
    page = f"/v/{certificates.genuine}"
    assert world.http.get(api).status_code == world.http.get(page).status_code == 200  # kept
    with _rate_limited(world, "3/minute") as limit:
        for path in (api, page, api):  # served from what was kept, each counted once
            assert world.http.get(path).status_code == 200
        refused_api, refused_page = world.http.get(api), world.http.get(page)
        limit.hit("203.0.113.9")  # another address still has its budget
    assert refused_api.status_code == 429 and refused_api.json()["error"]["code"] == "rate_limited"
    assert refused_page.status_code == 429 and "Too many checks" in refused_page.text
    # The page's English is the verifier's, and the Chinese is Chinese.
    for key, english in verifier.MESSAGES.items():
        names = set(re.findall(r"\{(\w+)(?:![rs])?\}", english))
        values = {name: index + 7 for index, name in enumerate(sorted(names))}
        en = i18n.translations("en").gettext(SAID[key]) % values
        assert en == english.format(**values), key
        assert re.search("[\u4e00-\u9fff]", i18n.translations("zh").gettext(SAID[key])), key


def test_a_malformed_document_or_bundle_is_named_by_key_in_both_languages(
    world: World, certificates: ToVerify
) -> None:
    """What the verifier finds in a file of another shape than a certificate's or a bundle's
    comes with its key and values: the API's English unchanged, the page's Chinese from them."""
    document, bundle = fetch(world, certificates.genuine)

    def changed(path: tuple[Any, ...], value: Any, *, in_bundle: bool = False) -> Any:
        target = copy.deepcopy(bundle if in_bundle else document)
        holder = target
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = value
        return target

    cases = [
        (
            "document",
            changed(("@context",), ["https://example.org"]),
            None,
            "context_other",
            "@context is not the Verifiable Credentials 2.0 context",
        ),
        (
            "document",
            changed(("proof", "chainId"), "31337"),
            None,
            "not_integer",
            "proof.chainId is not an integer: '31337'",
        ),
        (
            "document",
            changed(("issuer", "id"), "urn:x"),
            None,
            "issuer_id",
            "issuer.id is not urn:uuid:<organisation>: 'urn:x'",
        ),
        (
            "document",
            changed(("issuer",), {"name": "x"}),
            None,
            "member_missing",
            "issuer has no 'id'",
        ),
        (
            "bundle",
            document,
            changed(("records", 0, "canonical"), 5, in_bundle=True),
            "canonical_not_text",
            "bundle record 1.canonical is not text",
        ),
        (
            "bundle",
            document,
            changed(("type",), "Other", in_bundle=True),
            "bundle_type",
            f"the bundle is not a {doc.BUNDLE_TYPE}",
        ),
    ]
    zh = i18n.translations("zh")
    chain, sessions = world.runtime.chain, world.runtime.read_sessions
    assert chain is not None and sessions is not None
    for name, sent, sent_bundle, key, english in cases:
        found = verification_service.of_document(
            document=sent, bundle=sent_bundle, client=chain, sessions=sessions
        )
        check = next(c for c in found.checks if c.name == name)
        assert not check.ok and check.detail == english, (key, check.detail)
        assert check.said is not None and check.said.key == key
        chinese = zh.gettext(SAID[key]) % dict(check.said.values)
        assert re.search("[\u4e00-\u9fff]", chinese) and english not in chinese, chinese
        # The API says it as before, in English.
        answer = posted(world, sent, sent_bundle)
        assert _check(answer, name)["detail"] == english


@contextmanager
def _node_requests(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every JSON-RPC request this thread sends through the runtime's client, as it goes over
    HTTP: (method, params), a batch as ("batch", [(method, params), ...])."""
    chain = world.runtime.chain
    assert chain is not None
    sessions: Any = chain.w3.provider._request_session_manager  # type: ignore[attr-defined]
    sent: list[Any] = []
    real = sessions.make_post_request
    thread = threading.get_ident()

    def post(endpoint: Any, data: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == thread:
            body = json.loads(data)
            if isinstance(body, list):
                sent.append(("batch", [(r["method"], r["params"]) for r in body]))
            else:
                sent.append((body["method"], body["params"]))
        return real(endpoint, data, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(sessions, "make_post_request", post)
        yield sent


def test_a_new_block_rereads_only_what_can_change_and_nothing_final(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = world.runtime
    assert runtime.read_sessions is not None and runtime.chain is not None
    ref = issue(world, complete_product(world))["id"]
    anchor_all(world, [ref])
    cache = verification_service.VerificationCache()  # asks the node for the block each time
    _, bundle = fetch(world, ref)
    ledger = runtime.certificate_issuer().deployment["ledger"]
    selectors = verification_service._encoding()._functions

    def verified() -> verification_service.Verification:
        return verification_service.of_certificate(
            ref=ref,
            sessions=runtime.read_sessions,  # type: ignore[arg-type]
            client=runtime.chain,  # type: ignore[arg-type]
            deployment=runtime.certificate_issuer().deployment,
            cache=cache,
        )

    with _node_requests(world, monkeypatch) as sent:
        first = verified()
    assert first.verdict == "genuine" and cache.reused == 0
    first_json, _ = first.rendered("json", lambda v: (str(v.as_json()).encode(), None))
    # A first check: the ledger's reads in one batch at the block (what can change, then each
    # batch, each anchorer's organisation and the issuer role then); alone only what is read
    # once per process (the chain id, the ledger's code and version, the registry's ledger)
    # and the receipts.
    by_selector = {selector: name for name, (selector, _, _) in selectors.items()}
    batches = [requests for method, requests in sent if method == "batch"]
    assert len(batches) == 1
    assert {by_selector[p[0]["data"][:10]] for _, p in batches[0]} == {
        "certificateStatus",
        "verifyRecord",
        "batchOf",
        "accountOf",
        "hasRoleAt",
    }
    alone = [method for method, _ in sent if method != "batch"]
    assert alone.count("eth_call") == 2  # version() and the registry's ledger()
    assert set(alone) <= {
        "eth_blockNumber",
        "eth_chainId",
        "eth_getCode",
        "eth_call",
        "eth_getTransactionReceipt",
    }, alone
    for round_ in range(2):  # at each new block, again
        _mine(world)
        with _node_requests(world, monkeypatch) as sent:
            again = verified()
        block = runtime.chain.retrieve_block_number()
        # The block number, then one batch: the certificate's status and each record's
        # standing at that block, nothing else (no receipt, no batch, no role, no code).
        assert [m for m, _ in sent] == ["eth_blockNumber", "batch"], sent
        reads = sent[1][1]
        assert [m for m, _ in reads] == ["eth_call"] * (1 + len(bundle["records"]))
        assert all(p[0]["to"] == ledger and p[1] == hex(block) for _, p in reads)
        called = [p[0]["data"][:10] for _, p in reads]
        assert called == [selectors["certificateStatus"][0]] + [selectors["verifyRecord"][0]] * len(
            bundle["records"]
        )
        assert again.verdict == "genuine" and again.block == block
        assert cache.reused == round_ + 1
        assert [c.detail for c in again.checks] == [c.detail for c in first.checks]
        # Its renditions say the new block, and are what rendering it afresh makes.
        shown, _ = again.renditions["json"]
        assert shown == str(again.as_json()).encode() != first_json
        assert f"'checked_at_block': {block}" in shown.decode()


def test_a_reused_verification_still_shows_a_change_in_the_database_or_on_chain(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = world.runtime
    assert runtime.read_sessions is not None and runtime.chain is not None
    refs = [issue(world, complete_product(world))["id"] for _ in range(2)]
    anchor_all(world, refs)
    cache = verification_service.VerificationCache()

    def verified(ref: str) -> verification_service.Verification:
        return verification_service.of_certificate(
            ref=ref,
            sessions=runtime.read_sessions,  # type: ignore[arg-type]
            client=runtime.chain,  # type: ignore[arg-type]
            deployment=runtime.certificate_issuer().deployment,
            cache=cache,
        )

    to_tamper, to_revoke = refs
    for ref in refs:
        assert verified(ref).verdict == "genuine"
    _mine(world)
    for ref in refs:
        assert verified(ref).verdict == "genuine"
    assert cache.reused == 2
    # A stored text altered: the next block's check is a whole one, and finds it.
    _, bundle = fetch(world, to_tamper)
    step = next(r for r in bundle["records"] if '"kind":"casting"' in r["canonical"])
    with world.runtime.sessions() as session, session.begin():  # type: ignore[misc]
        session.execute(
            update(Record)
            .where(Record.id == step["id"])
            .values(canonical=step["canonical"].replace('"casting"', '"plating"'))
        )
    # A revocation mined in the very next block shows in it.
    revoked = world.http.post(
        f"/api/v1/certificates/{to_revoke}/revocation",
        json={"reason": "issued_in_error"},
        headers=world.headers(BRAND),
    )
    assert revoked.status_code == 200, revoked.text
    assert verified(to_tamper).verdict == "tampered"
    answer = verified(to_revoke)
    assert answer.verdict == "revoked" and answer.revocation is not None
    assert answer.revocation["reason"] == "issued_in_error"
    assert cache.reused == 2


def test_the_per_block_reads_are_encoded_as_web3_encodes_them(
    world: World, certificates: ToVerify
) -> None:
    document, bundle = fetch(world, certificates.genuine)
    ledger_abi, _ = verification_service._abis()
    contract = world.runtime.chain.w3.eth.contract(  # type: ignore[union-attr]
        address=document["credentialStatus"]["ledger"], abi=ledger_abi
    )
    calls = verification_service._changeable_calls(
        document["credentialStatus"]["ledger"], document, bundle
    )
    status, anchor = document["credentialStatus"], document["proof"]["anchor"]
    status_call = contract.functions.certificateStatus(
        bytes.fromhex(status["organisation"][2:]),
        bytes.fromhex(status["issuanceId"][2:]),
        bytes.fromhex(document["proof"]["certificateHash"][2:]),
        anchor["anchorer"],
        bytes.fromhex(anchor["root"][2:]),
        [bytes.fromhex(n[2:]) for n in anchor["proof"]],
    )
    expected = [status_call._encode_transaction_data()]
    for entry in bundle["records"]:
        record = entry["anchor"]
        expected.append(
            contract.functions.verifyRecord(
                record["anchorer"],
                bytes.fromhex(record["root"][2:]),
                doc.RECORD_KIND_NUMBERS[entry["kind"]],
                bytes.fromhex(entry["recordHash"][2:]),
                [bytes.fromhex(n[2:]) for n in record["proof"]],
            )._encode_transaction_data()
        )
    assert [data for _, data in calls] == expected
    # And their answers decode as web3 decodes them (every field; eth_abi gives addresses in
    # lower case where web3 checksums them, as the callers do).
    block = world.runtime.chain.retrieve_block_number()  # type: ignore[union-attr]
    raw = world.runtime.chain.retrieve_eth_calls(calls, block)  # type: ignore[union-attr]
    encoding = verification_service._encoding()

    def checksummed(values: Any) -> tuple[Any, ...]:
        return tuple(
            Web3.to_checksum_address(v) if isinstance(v, str) and Web3.is_address(v) else v
            for v in values
        )

    assert checksummed(encoding.answer("certificateStatus", raw[0])) == checksummed(
        status_call.call(block_identifier=block)
    )
    assert all(encoding.answer("verifyRecord", answer) is True for answer in raw[1:])


def test_readiness_says_how_many_verifications_were_reused_and_checked_whole(
    world: World, certificates: ToVerify
) -> None:
    def counts() -> dict[str, int]:
        found: dict[str, int] = world.http.get("/readyz").json()["verifications"]
        return found

    _watched(world)
    assert verification(world, certificates.genuine)["verdict"] == "genuine"
    before = counts()
    _mine(world)
    block = _watched(world)
    answer = verification(world, certificates.genuine)
    assert answer["verdict"] == "genuine" and answer["checked_at_block"] == block
    # Nothing it read changed: the kept findings were reused, no whole check ran.
    assert counts() == {"reused": before["reused"] + 1, "whole": before["whole"]}
    # A certificate not checked yet by this process is a whole check.
    new = issue(world, complete_product(world))["id"]
    anchor_all(world, [new])
    _watched(world)
    assert verification(world, new)["verdict"] == "genuine"
    assert counts() == {"reused": before["reused"] + 1, "whole": before["whole"] + 1}
