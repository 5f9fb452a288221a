"""What a certificate's holder scans and prints: its QR code (PNG or SVG; the short link to the
verify page, or its GS1 Digital Link), the printable certificate (PDF, A5 or A4, Chinese or
English), and the GS1 Digital Link resolver `/01/{gtin}/21/{serial}`, which sends a scanner to
the verify page of the piece's newest certificate. Public, as the signed document is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from hallmark.api.deps import ReadSessionsDep, RuntimeDep
from hallmark.api.pages import i18n
from hallmark.api.pages import verify as verify_page
from hallmark.api.ratelimit import check_verify_rate
from hallmark.api.routes.certificates import CertificateRef
from hallmark.core.errors import NotFoundError, RateLimitedError
from hallmark.services.certificates import evidence, pdf, qr

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])
links = APIRouter(tags=["certificates"])


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description + ' (body: {"error": {"code", "message", "details"}})',
        "content": {"application/json": {}},
    }


Form = Annotated[
    qr.QrForm,
    Query(
        description="short: <base>/v/<number>, the certificate's verify page; gs1: the GS1 "
        "Digital Link <base>/01/<GTIN>/21/<serial> of the piece (needs a GTIN)"
    ),
]
_QR_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _error("No such certificate"),
    409: _error(
        "The URL needs a QR version above 5 (code qr_too_long), or the GS1 form of a product "
        "without a GTIN (code no_gtin)"
    ),
    503: _error("HALLMARK_PUBLIC_BASE_URL is not set (production)"),
}
_FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def _qr(runtime: Any, sessions: Any, ref: str, form: qr.QrForm) -> qr.QrCode:
    with sessions() as session:
        return qr.certificate_qr(
            session=session,
            certificate=evidence.find(session, ref),
            base=runtime.settings.effective_public_base_url,
            form=form,
        )


@router.get(
    "/{ref}/qr.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **_QR_ERRORS},
)
def qr_png(
    *,
    ref: CertificateRef,
    sessions: ReadSessionsDep,
    runtime: RuntimeDep,
    form: Form = qr.QrForm.SHORT,
    scale: Annotated[int, Query(ge=1, le=40, description="Pixels per module")] = 10,
) -> Response:
    """The certificate's QR code as PNG (version at most 5, error correction M)."""
    code = _qr(runtime, sessions, ref, form)
    headers = {**_FILE_HEADERS, "X-QR-Version": str(code.version), "X-QR-URL": code.url}
    return Response(code.png(scale=scale), media_type="image/png", headers=headers)


@router.get(
    "/{ref}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **_QR_ERRORS},
)
def qr_svg(
    ref: CertificateRef,
    sessions: ReadSessionsDep,
    runtime: RuntimeDep,
    form: Form = qr.QrForm.SHORT,
) -> Response:
    """The certificate's QR code as SVG, 1 mm per module (version at most 5, correction M)."""
    code = _qr(runtime, sessions, ref, form)
    headers = {**_FILE_HEADERS, "X-QR-Version": str(code.version), "X-QR-URL": code.url}
    return Response(code.svg(), media_type="image/svg+xml", headers=headers)


@router.get(
    "/{ref}/pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        404: _error("No such certificate"),
        409: _error("The short link needs a QR version above 5 (code qr_too_long)"),
        503: _error(
            "No font that renders Chinese is installed, or HALLMARK_PUBLIC_BASE_URL is not set "
            "(production)"
        ),
    },
)
def certificate_pdf(
    *,
    ref: CertificateRef,
    request: Request,
    sessions: ReadSessionsDep,
    runtime: RuntimeDep,
    size: Annotated[pdf.Size, Query(description="Paper size")] = "A5",
    lang: Annotated[
        pdf.Language | None,
        Query(description="zh or en; default: the best match of Accept-Language, else en"),
    ] = None,
) -> Response:
    """The printable certificate: a PDF (A5 or A4, Chinese or English) of the signed document,
    with its QR code, made on demand."""
    language: pdf.Language = lang or ("zh" if i18n.negotiate(request) == "zh" else "en")
    settings = runtime.settings
    options = pdf.PrintOptions(
        size=size,
        language=language,
        base_url=settings.effective_public_base_url,
        font=settings.evidence_font,
        timezone=settings.display_timezone,
    )
    deployment = runtime.certificate_issuer().deployment
    with sessions() as session:
        certificate = evidence.find(session, ref)
        data = pdf.certificate_pdf(
            session=session, certificate=certificate, deployment=deployment, options=options
        )
        number = certificate.number
    return Response(
        data,
        media_type="application/pdf",
        headers={
            **_FILE_HEADERS,
            "Content-Disposition": f'inline; filename="{number}-{size}-{language}.pdf"',
            "Content-Language": i18n.HTML_LANG[language],
        },
    )


@links.get("/01/{gtin}/21/{serial}", include_in_schema=False)
def resolve_digital_link(
    request: Request,
    gtin: str,
    serial: str,
    sessions: ReadSessionsDep,
    runtime: RuntimeDep,
) -> Response:
    """A GS1 Digital Link (GTIN and serial): to the verify page of the piece's newest
    certificate (303), or 404; 429 over the public verification's limit. A browser (a phone
    that scanned the code) is answered those refusals as the verify page, in its language; a
    JSON client as the error."""
    page = verify_page.wants_page(request)
    link = f"/01/{gtin}/21/{serial}"
    try:
        check_verify_rate(request)
    except RateLimitedError as exc:
        if page:
            return verify_page.rate_limited_page(request, link, exc)
        raise
    try:
        with sessions() as session:
            certificate = qr.resolve_digital_link(session=session, gtin=gtin, serial=serial)
            number = certificate.number
    except NotFoundError:
        if page:
            return verify_page.not_found_page(request, link)
        raise
    base = runtime.settings.effective_public_base_url or ""
    return RedirectResponse(qr.verify_url(base, number), status_code=303)
