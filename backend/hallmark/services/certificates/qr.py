"""QR codes of a certificate, and the GS1 Digital Link resolver behind one of them.

Two link forms, both built from the signed document alone (its number, its product's GTIN and
serial) and the public base URL (setting `public_base_url`):

- **short**: `<base>/v/<certificate number>`, the verify page of exactly this certificate. The
  number (`HM-20261204-0A1B2C3D4E`, 22 characters) is the short id form: a UUID would take 14
  bytes more of the code.
- **gs1**: the GS1 Digital Link `<base>/01/<GTIN-14>/21/<serial>` (the serial percent-encoded),
  the piece itself: `resolve_digital_link` answers it with the piece's newest certificate, so a
  tag printed once still leads to the current certificate after a reissue. Only for a product
  with a GTIN.

A code is made with the `qrcode` library at error correction M, in the smallest version that
holds the URL, and refused unless that version is at most 5 (37 x 37 modules: it scans from a
phone at a small printed size); PNG (pixels) and SVG (one path, scales for print).

Raises:
    NotFoundError: no such certificate; no certificate for a GTIN and serial.
    NoGtinError: the GS1 form of a certificate whose product has no GTIN.
    QrTooLongError: a URL that needs a QR version above 5.
    PublicBaseUrlMissingError: production without `public_base_url`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import qrcode
import qrcode.constants
import qrcode.image.pil
import qrcode.image.svg
from qrcode.exceptions import DataOverflowError
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import ean
from stdnum.exceptions import ValidationError as StdnumValidationError

from hallmark.core.errors import ConflictError, HallmarkError, NotFoundError
from hallmark.store.models import Certificate, Product, Record

#: The largest QR version a certificate's code may have (37 x 37 modules).
MAX_VERSION = 5
#: Error correction M: about 15 % of the code may be damaged and it still reads.
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
ERROR_CORRECTION_LEVEL = "M"
#: The quiet zone around the code, in modules (ISO/IEC 18004 asks for 4).
BORDER = 4
#: The longest product serial (records' `Serial`).
MAX_SERIAL = 64


class QrForm(StrEnum):
    """Which URL a code holds."""

    SHORT = "short"
    GS1 = "gs1"


class QrTooLongError(ConflictError):
    """A URL too long for a QR code of version 5 at error correction M."""

    code = "qr_too_long"

    def __init__(self, url: str, version: int | None) -> None:
        needs = f"version {version}" if version is not None else "more than version 40"
        super().__init__(
            f"{url} ({len(url.encode())} bytes) needs a QR code of {needs}; at most version "
            f"{MAX_VERSION} at error correction {ERROR_CORRECTION_LEVEL} is made: shorten "
            "HALLMARK_PUBLIC_BASE_URL, or use the short form (form=short)",
            details={"url": url, "version": version, "max_version": MAX_VERSION},
        )


class NoGtinError(ConflictError):
    """The GS1 Digital Link form needs a GTIN, and the certificate's product has none."""

    code = "no_gtin"

    def __init__(self, number: str) -> None:
        super().__init__(
            f"certificate {number}'s product has no GTIN: its code has the short form only",
            details={"certificate": number},
        )


class PublicBaseUrlMissingError(HallmarkError):
    """Production without `public_base_url`: a printed link would point nowhere."""

    code = "public_base_url_missing"
    http_status = 503

    def __init__(self) -> None:
        super().__init__(
            "HALLMARK_PUBLIC_BASE_URL is not set: certificate links and QR codes need the "
            "address customers reach Hallmark at (e.g. https://verify.example.com)",
            details={"setting": "HALLMARK_PUBLIC_BASE_URL"},
        )


@dataclass(frozen=True, slots=True)
class QrCode:
    """A made QR code: the URL it holds, its version and its modules (quiet zone included)."""

    url: str
    version: int
    code: qrcode.QRCode[Any]

    def png(self, *, scale: int = 10) -> bytes:
        """The code as a black-on-white PNG, `scale` pixels per module."""
        self.code.box_size = scale
        image = self.code.make_image(image_factory=qrcode.image.pil.PilImage)
        out = io.BytesIO()
        image.save(out)
        return out.getvalue()

    def svg(self) -> bytes:
        """The code as an SVG document: one path on a white square, 1 mm per module."""
        self.code.box_size = 10  # the SVG factories make 10 "pixels" one millimetre
        image = self.code.make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
        return bytes(image.to_string(encoding="utf-8"))

    def modules(self) -> list[list[bool]]:
        """The dark (True) and light modules, row by row, quiet zone included."""
        return [list(row) for row in self.code.get_matrix()]


def _base(base: str | None) -> str:
    if base is None:
        raise PublicBaseUrlMissingError()
    return base.rstrip("/")


def verify_url(base: str | None, number: str) -> str:
    """The short link to a certificate's verify page."""
    return f"{_base(base)}/v/{quote(number, safe='')}"


def file_urls(base: str | None, number: str) -> dict[str, str]:
    """Where anyone downloads a certificate's signed document and provenance bundle."""
    prefix = f"{_base(base)}/api/v1/certificates/{quote(number, safe='')}"
    return {"document": f"{prefix}/document", "bundle": f"{prefix}/bundle"}


def digital_link(base: str | None, gtin: str, serial: str) -> str:
    """The GS1 Digital Link of a piece: application identifiers 01 (GTIN) and 21 (serial)."""
    return f"{_base(base)}/01/{gtin}/21/{quote(serial, safe='')}"


def link(document: Mapping[str, Any], *, base: str | None, form: QrForm) -> str:
    """The URL of a signed (or unsigned) certificate document in the given form.

    Raises:
        NoGtinError: the GS1 form for a product without a GTIN.
        PublicBaseUrlMissingError: no base URL.
    """
    subject = document["credentialSubject"]
    number = str(subject["certificateNumber"])
    if form is QrForm.SHORT:
        return verify_url(base, number)
    product = subject["product"]
    if not product.get("gtin"):
        raise NoGtinError(number)
    return digital_link(base, str(product["gtin"]), str(product["serial"]))


def encode(url: str) -> QrCode:
    """The QR code of `url`: error correction M, the smallest version that holds it.

    Raises:
        QrTooLongError: it needs a version above 5.
    """
    code: qrcode.QRCode[Any] = qrcode.QRCode(
        version=None, error_correction=ERROR_CORRECTION, border=BORDER
    )
    code.add_data(url)
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError) as exc:  # beyond version 40: "Invalid version"
        raise QrTooLongError(url, None) from exc
    if code.version > MAX_VERSION:
        raise QrTooLongError(url, code.version)
    return QrCode(url=url, version=code.version, code=code)


def _document(session: Session, certificate: Certificate) -> dict[str, Any]:
    record = session.get(Record, certificate.id)
    assert record is not None
    document: dict[str, Any] = json.loads(record.canonical)
    return document


def certificate_qr(
    *, session: Session, certificate: Certificate, base: str | None, form: QrForm
) -> QrCode:
    """The QR code of a certificate, from its signed document.

    Raises:
        NoGtinError, QrTooLongError, PublicBaseUrlMissingError: see the module.
    """
    return encode(link(_document(session, certificate), base=base, form=form))


def resolve_digital_link(*, session: Session, gtin: str, serial: str) -> Certificate:
    """The newest certificate of the piece a GS1 Digital Link names: the product with that
    serial whose certificate states that GTIN (a GTIN of 8, 12, 13 or 14 digits).

    Raises:
        NotFoundError: a malformed GTIN, no such product, no certificate, another GTIN.
    """
    missing = NotFoundError("certificate of GS1 Digital Link", f"/01/{gtin}/21/{serial}")
    if len(serial) > MAX_SERIAL:
        raise missing
    try:
        wanted = ean.validate(gtin).zfill(14)  # python-stdnum: the check digit too
    except StdnumValidationError:
        raise missing from None
    certificate = session.scalar(
        select(Certificate)
        .join(Product, Product.id == Certificate.product_id)
        .where(Product.serial == serial)
        .order_by(Certificate.created_at.desc(), Certificate.id.desc())
        .limit(1)
    )
    if certificate is None:
        raise missing
    stated = _document(session, certificate)["credentialSubject"]["product"].get("gtin")
    if stated != wanted:
        raise missing
    return certificate
