"""Attachments: photos, videos, engraving paths, certificates, in the encrypted file store.

Upload: the bytes go to the content-addressed, AES-256-GCM encrypted store (store/files.py) and
a row records that the caller's organisation uploaded them (so it may name them in records).
Download: the uploader's organisation, and every organisation that may see a product or lot
whose record names the file (a product's brand and assigned factory; a lot's owner and
custodian). Anyone else gets 404.

Raises:
    PermissionDeniedError: a role that may not upload (reader, legal).
    PayloadTooLargeError: more bytes than the attachment size limit.
    InvalidInputError: an empty upload or a malformed media type.
    NotFoundError: unknown attachment, or one the caller may not see.
    FileCorruptError: the stored ciphertext does not authenticate.
"""

from __future__ import annotations

import re

import filetype
from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.core.errors import NotFoundError, PayloadTooLargeError, invalid_field
from hallmark.services.access import audit, authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.records import visibility
from hallmark.services.records.schemas import AttachmentPublic
from hallmark.store.files import EncryptedFileStore, check_address, sha256_hex
from hallmark.store.models import Attachment, AttachmentLink, MaterialLot, Product

_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def upload(
    *,
    session: Session,
    store: EncryptedFileStore,
    actor: Actor,
    data: bytes,
    media_type: str,
    max_bytes: int,
) -> AttachmentPublic:
    """Store a file (encrypted) for the caller's organisation; idempotent per content."""
    authorisation.require_role(actor, "attachment.upload")
    if len(data) > max_bytes:
        raise PayloadTooLargeError(
            f"attachment of {len(data)} bytes; at most {max_bytes}",
            details={"size": len(data), "max_bytes": max_bytes},
        )
    if not data:
        raise invalid_field("body", "the attachment is empty")
    media = media_type.split(";", 1)[0].strip().lower() or "application/octet-stream"
    if not _MEDIA_TYPE.match(media) or len(media) > 200:
        raise invalid_field("media_type", f"{media_type!r} is not a media type")
    sha = sha256_hex(data)
    existing = session.get(Attachment, (sha, actor.organisation_id))
    store.put(data)
    if existing is None:
        session.add(
            Attachment(
                sha256=sha, organisation_id=actor.organisation_id, size=len(data), media_type=media
            )
        )
        session.flush()
    audit.append(
        session,
        actor=actor.audit,
        action="attachment.upload",
        object_kind="attachment",
        object_id=sha,
        details={"size": len(data), "media_type": media},
    )
    return AttachmentPublic(sha256=sha, size=len(data), media_type=media)


def _may_see(session: Session, actor: Actor, sha: str) -> Attachment | None:
    rows = session.scalars(select(Attachment).where(Attachment.sha256 == sha)).all()
    if not rows:
        return None
    own = [r for r in rows if r.organisation_id == actor.organisation_id]
    if own:
        return own[0]
    org = actor.organisation_id
    via_product = session.scalar(
        select(AttachmentLink.id)
        .join(Product, Product.id == AttachmentLink.product_id)
        .where(AttachmentLink.sha256 == sha, visibility.product_visible(org))
        .limit(1)
    )
    via_lot = via_product or session.scalar(
        select(AttachmentLink.id)
        .join(MaterialLot, MaterialLot.id == AttachmentLink.lot_id)
        .where(AttachmentLink.sha256 == sha, visibility.lot_visible(org))
        .limit(1)
    )
    return rows[0] if via_lot else None


def download(
    *, session: Session, store: EncryptedFileStore, actor: Actor, sha256: str
) -> tuple[AttachmentPublic, bytes]:
    """The decrypted file, for an organisation that may see it."""
    sha = check_address(sha256)
    row = _may_see(session, actor, sha)
    if row is None:
        raise NotFoundError("attachment", sha)
    data = store.get(sha)
    return AttachmentPublic(sha256=sha, size=row.size, media_type=row.media_type), data


#: Types served as what they are (anything else is served as application/octet-stream): formats
#: recognised from their bytes that browsers never run as script.
SERVED_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/heic",
        "image/avif",
        "application/zip",
    }
)


def served_type(data: bytes) -> str:
    """The media type a download is served with, determined from its bytes (a signature
    `filetype` knows and `SERVED_TYPES` allows), else application/octet-stream: HTML, SVG or a
    program uploaded under any declared type is never served as such."""
    guessed = filetype.guess_mime(data[:8192])
    return guessed if guessed in SERVED_TYPES else "application/octet-stream"
