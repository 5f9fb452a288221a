"""The customer's verify page, `GET /v/{id}` (the certificate's QR code points here): public,
no sign-in, no JavaScript, English and Chinese.

The verdict comes from checking the certificate against the chain (the offline verifier's
checks, `services.certificates.verification`), never from the database's statuses; every fact
carries a "how this was checked" disclosure with its record's evidence. The answer is not
stored by caches (a revocation shows within one block of being mined); its one style sheet is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from hallmark.api.pages import i18n
from hallmark.api.pages.i18n import N_
from hallmark.api.pages.rendering import render
from hallmark.api.ratelimit import check_verify_rate
from hallmark.api.routes.verification import MAX_REF_LENGTH, verify_stored
from hallmark.core.errors import (
    ChainError,
    DatabaseUnavailableError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
)
from hallmark.services.certificates.verification import Verification

router = APIRouter(include_in_schema=False)

#: The verdicts: heading and explanation.
VERDICTS = {
    "genuine": N_("Genuine"),
    "revoked": N_("Revoked"),
    "superseded": N_("Superseded"),
    "unknown": N_("Unknown"),
    "tampered": N_("Tampered"),
}
#: What the verifier's checks are called on the page.
CHECK_NAMES = {
    "document": N_("The document is a Hallmark certificate"),
    "hash": N_("Its content hashes to the hash it was signed with"),
    "signature": N_("The brand's signature is valid"),
    "chain": N_("It is checked on the chain and ledger it names"),
    "issuer": N_("The signer held the issuer role when it was anchored"),
    "merkle": N_("Its Merkle proof leads to the anchored root"),
    "anchored": N_("The brand's account anchored it as a certificate"),
    "status": N_("Not revoked or replaced on the ledger"),
    "design": N_("Its registered design matches the design registry"),
    "bundle": N_("Every record of its story matches the chain"),
    "records": N_("The stored records match their hashes"),
}
#: What the checks found (`verifier.MESSAGES`, and the records' notes), by key, as the page
#: says it in each language; a detail without a key here is shown as the verifier gives it.
SAID = {
    "document_ok": N_("a %(type)s of organisation %(organisation)s"),
    "hash_differs": N_("the document hashes to %(computed)s, its proof says %(claimed)s"),
    "signature_other": N_("the signature is %(recovered)s's, the proof names %(signer)s"),
    "signature_ok": N_("EIP-712 signature by %(account)s"),
    "chain_other": N_("the certificate is for chain %(expected)s, the node is on chain %(found)s"),
    "chain_ok": N_("chain %(chain)s, ledger %(ledger)s version %(version)s"),
    "not_anchored": N_("%(what)s carries no anchoring evidence (not anchored yet)"),
    "no_batch": N_("no batch with that anchorer and root on the ledger"),
    "issuer_role_missing": N_("the signer did not hold ISSUER_ROLE in block %(block)s"),
    "issuer_ok": N_("%(signer)s held ISSUER_ROLE in block %(block)s"),
    "merkle_ok": N_("proof of %(nodes)s nodes leads to %(root)s"),
    "anchored_other": N_("the batch was anchored by %(anchorer)s, not the signer"),
    "anchored_ok": N_("Certificate batch anchored by the signer in block %(block)s"),
    "status_ok": N_("valid: not revoked, superseded or flagged"),
    "revoked": N_("revoked (%(cause)s, reason %(reason)s, at %(at)s)"),
    "superseded": N_(
        "superseded at %(at)s by %(successor)s (anchored by %(anchorer)s in root %(root)s)"
    ),
    "status_unknown": N_("unknown to the ledger (%(cause)s)"),
    "record_hash_differs": N_(
        "bundle record %(record)s's text hashes to %(computed)s, not its record hash"
    ),
    "record_anchorer": N_(
        "bundle record %(record)s was anchored by %(anchorer)s, the who-is-who table gives "
        "organisation %(organisation)s the account %(account)s"
    ),
    "bundle_ok": N_("%(records)s records verified; step chain of %(links)s links ends at %(head)s"),
    "design_none": N_("no registered design named"),
    "design_no_filing": N_("the DesignRegistry holds no filing of %(fingerprint)s"),
    "design_field": N_("design.%(field)s is %(stated)s, the registry's is %(held)s"),
    "design_not_final": N_("the filing was not final when the certificate was anchored"),
    "design_holder": N_("design.registrant and ownerRef are not the filing's, now or before"),
    "licence_none": N_("the DesignRegistry holds no licence under %(document)s"),
    "licence_field": N_("design.licence.%(field)s is not the registry's"),
    "licence_later": N_("the licence was granted after the certificate was anchored"),
    "licence_terminated": N_("the licence had been terminated when the certificate was anchored"),
    "cannot_check": N_("cannot check: %(error)s"),
    "not_checked": N_("not checked"),
    "no_bundle": N_("not checked: no provenance bundle was given"),
    # A file of another shape than a certificate's or a bundle's, or a chain that answers
    # otherwise than the document says.
    "not_hash": N_("%(what)s is not a lower-case 0x-hex 32-byte value: %(value)s"),
    "not_address": N_("%(what)s is not a checksummed address: %(value)s"),
    "not_integer": N_("%(what)s is not an integer: %(value)s"),
    "member_missing": N_("%(what)s has no %(member)s"),
    "not_uuid": N_("%(what)s is not a UUID: %(value)s"),
    "document_members": N_("the document's members are not a certificate's: %(members)s"),
    "context_other": N_("@context is not the Verifiable Credentials 2.0 context"),
    "type_other": N_("type is not a %(type)s"),
    "proof_members": N_("the proof's members are not a Hallmark proof's"),
    "status_type_other": N_("credentialStatus.type is not %(type)s"),
    "proof_member_other": N_("proof.%(member)s is not %(value)s"),
    "verification_method": N_("proof.verificationMethod does not name the signer on its chain"),
    "chain_ids_differ": N_("proof.chainId differs from credentialStatus.chainId"),
    "issuer_id": N_("issuer.id is not urn:uuid:<organisation>: %(value)s"),
    "status_organisation": N_("credentialStatus.organisation is not the issuer's identifier"),
    "signature_form": N_("proof.signatureValue is not a 65-byte lower-case 0x-hex signature"),
    "signature_not_canonical": N_(
        "proof.signatureValue is not a canonical signature (v 27 or 28, s in the lower half)"
    ),
    "number_not_text": N_("credentialSubject.certificateNumber is not text"),
    "issuer_account_other": N_("the issuer's account is %(account)s, the signer is %(signer)s"),
    "deployment_members": N_("proof.deployment is not {ledger, designRegistry, contractsVersion}"),
    "deployment_ledger": N_("proof.deployment.ledger differs from credentialStatus.ledger"),
    "no_ledger": N_("no contract at ledger %(ledger)s on this chain"),
    "ledger_no_version": N_("the contract at %(ledger)s answers no version(): %(error)s"),
    "ledger_version": N_("the ledger's version is %(version)s, the proof says otherwise"),
    "no_registry": N_("no design registry at %(registry)s: %(error)s"),
    "registry_ledger": N_("the design registry %(registry)s belongs to ledger %(ledger)s"),
    "anchor_members": N_("%(what)s's members are not anchoring evidence's"),
    "anchor_kind": N_("%(what)s.kind is %(kind)s, not %(expected)s"),
    "anchor_proof_list": N_("%(what)s.proof is not a list"),
    "anchor_ledger": N_("%(what)s.ledger is not the certificate's ledger"),
    "anchor_version": N_("%(what)s.contractsVersion is not the ledger's version"),
    "earlier_version": N_("%(what)s.contractsVersion %(version)s is not a ledger's"),
    "earlier_no_contract": N_("%(what)s.ledger %(address)s: no contract there"),
    "earlier_not_ledger": N_("%(what)s.ledger %(address)s is not a ledger: %(error)s"),
    "earlier_answers": N_("%(what)s.ledger %(address)s answers version %(version)s"),
    "earlier_version_other": N_("%(what)s.contractsVersion is not its ledger's version"),
    "transaction_other": N_("%(what)s.transaction is not its anchorer's anchoring in its block"),
    "signer_bound_other": N_(
        "the signer %(signer)s is bound to %(organisation)s, not to the issuer"
    ),
    "merkle_malformed": N_("the Merkle proof is malformed: %(error)s"),
    "merkle_root_other": N_("the Merkle proof does not lead to the root"),
    "batch_kind": N_("the batch holds records of kind %(kind)s, not certificates"),
    "batch_organisation": N_("the batch belongs to another organisation"),
    "batch_block": N_("the batch was anchored in block %(block)s"),
    "organisations_not_list": N_("credentialSubject.organisations is not a list"),
    "bundle_type": N_("the bundle is not a %(type)s"),
    "bundle_other": N_("the bundle is another certificate's"),
    "records_not_list": N_("credentialSubject.records is not a list"),
    "bundle_records": N_("the bundle does not hold exactly the records the document lists"),
    "entry_members": N_("%(what)s's members are not a bundled record's"),
    "entry_member_other": N_("%(what)s.%(member)s is not what the document lists"),
    "canonical_not_text": N_("%(what)s.canonical is not text"),
    "text_not_canonical": N_("%(what)s's text is not canonical JSON"),
    "text_not_json": N_("%(what)s's text is not JSON: %(error)s"),
    "text_not_record": N_("%(what)s's text is not a record"),
    "text_other_record": N_("%(what)s's text does not describe that record"),
    "kind_unknown": N_("%(what)s is of unknown kind %(kind)s"),
    "record_merkle_malformed": N_("%(what)s's Merkle proof is malformed: %(error)s"),
    "record_merkle_root": N_("%(what)s's Merkle proof does not lead to its root"),
    "data_not_object": N_("%(what)s's data is not an object"),
    "step_missing": N_("step %(step)s of the chain is missing from the bundle"),
    "step_product": N_("step %(step)s is another product's"),
    "step_link": N_("step %(step)s does not link to the step before it"),
    "chain_head": N_("the step chain does not end at the head the document names"),
    "record_flagged": N_(
        "%(what)s's batch is flagged (%(cause)s, reason %(reason)s, at %(at)s): the record is "
        "withdrawn"
    ),
    "record_not_verified": N_("the ledger does not verify %(what)s (not its batch or kind)"),
    "record_anchorer_unbound": N_("%(what)s's anchorer is not bound to its organisation"),
    "record_block": N_("%(what)s.anchor.block is not its batch's block"),
    "earlier_not_verified": N_("the earlier ledger %(ledger)s does not verify %(what)s"),
    "earlier_root": N_(
        "%(what)s's root was anchored on %(ledger)s by %(anchorer)s as kind %(found)s, not by "
        "its anchorer as %(kind)s"
    ),
    "earlier_revoked": N_(
        "%(what)s's batch was revoked on %(ledger)s (reason %(reason)s, at %(at)s): the record "
        "is withdrawn"
    ),
    "earlier_unbound": N_(
        "%(what)s's anchorer is not bound to its organisation on the certificate's ledger"
    ),
    "transaction_unknown": N_("%(what)s.transaction is unknown to the node"),
    "transaction_not_anchoring": N_("%(what)s.transaction is not an anchoring call: %(error)s"),
    "transaction_anchored_other": N_(
        "%(what)s.transaction anchored %(called)s, not its root and kind"
    ),
    "design_members": N_("the design's members are not a registered design's"),
    "design_registry": N_("design.registry is not the deployment's DesignRegistry"),
    "licence_members": N_("design.licence's members are not a licence's"),
    "document_error": N_("%(error)s"),
    "no_ledger_address": N_("the document names no ledger address"),
}
#: The design check's finding, in parts (`verifier._check_design`).
DESIGN_SAID = {
    "filed": N_("design %(fingerprint)s filed in block %(block)s by %(registrant)s"),
    "assignee": N_(" (assigned since to %(assignee)s)"),
    "licence": N_("; licensed under %(licence)s"),
    "terminated": N_(" (terminated later, at %(terminated)s)"),
}
#: The certificate's design section, member by member (times are seconds since 1970).
DESIGN_FIELDS = {
    "registration": N_("Registration"),
    "fingerprint": N_("Fingerprint"),
    "registry": N_("Design registry"),
    "registrant": N_("Registrant"),
    "ownerRef": N_("Owner reference"),
    "metadataHash": N_("Metadata hash"),
    "filedAt": N_("Filed at"),
    "filedBlock": N_("Filed in block"),
    "finalAt": N_("Final from"),
    "authorization": N_("Authorization level"),
}
LICENCE_FIELDS = {
    "documentHash": N_("Licence document"),
    "licenseeRef": N_("Licensee reference"),
    "validFrom": N_("Valid from"),
    "validUntil": N_("Valid until"),
    "grantedBy": N_("Granted by"),
    "grantedAt": N_("Granted at"),
}
#: The ethics attestations a lot may carry (`records.schemas.Ethics`).
ETHICS = {
    "conflict_free": N_("Conflict-free"),
    "fair_trade": N_("Fair trade"),
    "wage_disclosure": N_("Wages disclosed"),
}
#: Members of the design section that are times.
DESIGN_TIMES = frozenset({"filedAt", "finalAt", "validFrom", "validUntil", "grantedAt"})
#: Revocation reasons (the ledger's reason codes) and causes.
REASONS = {
    "issued_in_error": N_("issued in error"),
    "data_error": N_("a data error"),
    "key_compromised": N_("the key was compromised"),
    "withdrawn": N_("withdrawn"),
    "lost_in_production": N_("lost in production"),
    "fraud": N_("fraud"),
    "other": N_("another reason"),
}
CAUSES = {
    "certificate_revoked": N_("The brand revoked this certificate."),
    "issuance_revoked": N_("The brand revoked the whole order this certificate belongs to."),
    "batch_flagged": N_("The batch this certificate was anchored in was flagged."),
    "anchorer_compromised": N_("The account that anchored it was declared compromised."),
}
MATERIALS = {
    "diamond": N_("diamond"),
    "lab_grown_diamond": N_("lab-grown diamond"),
    "gold": N_("gold"),
    "platinum": N_("platinum"),
    "silver": N_("silver"),
    "gemstone": N_("gemstone"),
    "pearl": N_("pearl"),
    "enamel": N_("enamel"),
    "leather": N_("leather"),
    "wood": N_("wood"),
    "paper": N_("paper"),
    "other": N_("other"),
}
CATEGORIES = {
    "ring": N_("ring"),
    "pendant": N_("pendant"),
    "necklace": N_("necklace"),
    "bracelet": N_("bracelet"),
    "earrings": N_("earrings"),
    "brooch": N_("brooch"),
    "medal": N_("medal"),
    "gift_item": N_("gift item"),
    "other": N_("other"),
}
STEPS = {
    "wax_3d_print": N_("Wax model printed"),
    "casting": N_("Casting"),
    "stone_setting": N_("Stone setting"),
    "laser_engraving": N_("Laser engraving"),
    "polishing": N_("Polishing"),
    "plating": N_("Plating"),
    "qc_inspection": N_("Quality inspection"),
    "packaging": N_("Packaging"),
    "shipping": N_("Shipping"),
    "repair": N_("Repair"),
    "other": N_("Other step"),
}
RESULTS = {"pass": N_("passed"), "fail": N_("failed")}
ORGANISATION_KINDS = {
    "brand": N_("brand"),
    "supplier": N_("supplier"),
    "factory": N_("factory"),
    "legal": N_("legal team"),
}


def _moment(value: Any) -> datetime | None:
    """A time from the certificate's JSON (RFC 3339, or seconds since 1970 as the chain keeps
    them), for the page's date filter."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**40:
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return None


def _percent(value: Any) -> str:
    """A share from 0 to 1 as a percentage ("37.5 %"), or the value as it is."""
    try:
        share = (Decimal(str(value)) * 100).quantize(Decimal("0.1")).normalize()
    except InvalidOperation:
        return str(value)
    return f"{share:f} %"


def _organisation_names(found: Verification | None) -> dict[str, str]:
    """Organisation id → name, from the certificate's who-is-who table."""
    table = found.subject.get("organisations") if found is not None else None
    if not isinstance(table, list):
        return {}
    return {
        str(o.get("id")): str(o.get("name")) for o in table if isinstance(o, dict) and o.get("id")
    }


def _page(
    request: Request,
    status_code: int,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    context.setdefault("found", None)
    context.setdefault("not_found", False)
    context.setdefault("unavailable", False)
    context.setdefault("rate_limited", None)
    return render(
        request,
        "verify.html",
        status_code=status_code,
        headers=headers,
        org_names=_organisation_names(context["found"]),
        percent=_percent,
        verdicts=VERDICTS,
        check_names=CHECK_NAMES,
        said_texts=SAID,
        design_said=DESIGN_SAID,
        design_fields=DESIGN_FIELDS,
        licence_fields=LICENCE_FIELDS,
        design_times=DESIGN_TIMES,
        ethics_names=ETHICS,
        reasons=REASONS,
        causes=CAUSES,
        materials=MATERIALS,
        categories=CATEGORIES,
        step_names=STEPS,
        results=RESULTS,
        organisation_kinds=ORGANISATION_KINDS,
        moment=_moment,
        **context,
    )


def wants_page(request: Request) -> bool:
    """Whether the client asked for a page rather than JSON: its Accept names text/html with a
    higher quality than application/json (a browser's does). A client that names neither, or
    only a wildcard (`*/*`, as API clients send), or prefers JSON, gets JSON."""
    weighted = i18n.weighted_values(request.headers.get("accept", "")[:1000])
    qualities = {value.lower(): quality for value, quality in reversed(weighted)}
    return qualities.get("text/html", 0.0) > qualities.get("application/json", 0.0)


def rate_limited_page(request: Request, ref: str, exc: RateLimitedError) -> Response:
    """The page over the public verification's limit: 429 with Retry-After, in its language."""
    return _page(
        request,
        429,
        headers={"Retry-After": str(exc.retry_after)},
        ref=ref[:MAX_REF_LENGTH],
        verdict="unknown",
        rate_limited=exc.retry_after,
    )


def not_found_page(request: Request, ref: str) -> Response:
    """The page of a certificate number or link that names no certificate: 404, verdict
    unknown, worded for the customer who scanned or typed it."""
    return _page(request, 404, ref=ref[:MAX_REF_LENGTH], verdict="unknown", not_found=True)


@router.get("/v/{ref}")
def verify_page(request: Request, ref: str) -> Response:
    runtime = request.app.state.runtime
    try:
        check_verify_rate(request)
    except RateLimitedError as exc:
        return rate_limited_page(request, ref, exc)
    if len(ref) > MAX_REF_LENGTH:
        return not_found_page(request, ref)
    try:
        found = verify_stored(runtime, request, ref)
    except NotFoundError:
        return not_found_page(request, ref)
    except (ChainError, DatabaseUnavailableError, ServiceUnavailableError):
        return _page(
            request,
            503,
            headers={"Retry-After": "5"},
            ref=ref,
            verdict="unknown",
            unavailable=True,
        )

    # The page of a verification is made once per language and address: it is kept with the
    # verification, for the block that verification was made in (and put together from it for
    # a later block at which nothing it read changed).
    def make(shown: Any) -> tuple[bytes, dict[str, str]]:
        response = _page(request, 200, ref=ref, verdict=shown.verdict, found=shown)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return bytes(response.body), headers

    return page_answer(found.rendered(page_rendition(request), make))


def page_rendition(request: Request) -> tuple[str, str, str, str]:
    """The key of a verify page among its verification's renditions: its language and address."""
    return ("page", i18n.negotiate(request), request.url.path, request.url.query)


def page_answer(kept: tuple[bytes, dict[str, str]]) -> Response:
    """The answer of a kept page (its body and headers; also `KeptVerifications`')."""
    body, headers = kept
    return Response(body, media_type="text/html", headers=headers)
