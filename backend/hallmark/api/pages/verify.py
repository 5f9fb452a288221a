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
from hallmark.api.routes.verification import MAX_REF_LENGTH, verify_stored
from hallmark.core.errors import (
    ChainError,
    DatabaseUnavailableError,
    NotFoundError,
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
    """A time from the certificate's JSON (RFC 3339), for the page's date filter."""
    if isinstance(value, datetime):
        return value
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
    return render(
        request,
        "verify.html",
        status_code=status_code,
        headers=headers,
        org_names=_organisation_names(context["found"]),
        percent=_percent,
        verdicts=VERDICTS,
        check_names=CHECK_NAMES,
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


@router.get("/v/{ref}")
def verify_page(request: Request, ref: str) -> Response:
    runtime = request.app.state.runtime
    if len(ref) > MAX_REF_LENGTH:
        return _page(request, 404, ref=ref[:MAX_REF_LENGTH], verdict="unknown", not_found=True)
    try:
        found = verify_stored(runtime, request, ref)
    except NotFoundError:
        return _page(request, 404, ref=ref, verdict="unknown", not_found=True)
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
    # verification, for the block that verification was made in.
    key = page_rendition(request)
    kept = found.renditions.get(key)
    if kept is not None:
        return page_answer(kept)
    response = _page(request, 200, ref=ref, verdict=found.verdict, found=found)
    found.renditions[key] = (
        bytes(response.body),
        {k: v for k, v in response.headers.items() if k.lower() != "content-length"},
    )
    return response


def page_rendition(request: Request) -> tuple[str, str, str, str]:
    """The key of a verify page among its verification's renditions: its language and address."""
    return ("page", i18n.negotiate(request), request.url.path, request.url.query)


def page_answer(kept: tuple[bytes, dict[str, str]]) -> Response:
    """The answer of a kept page (its body and headers; also `KeptVerifications`')."""
    body, headers = kept
    return Response(body, media_type="text/html", headers=headers)
