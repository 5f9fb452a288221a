"""The design registry: registration, conflict check, lookups, search, review queue, reindex.

Registration (`register_design`), by a registrar (an API key or staff account of role `legal`,
in a legal organisation: the organisation kind whose account holds the ledger's REGISTRAR_ROLE):

1. the file is sniffed and fingerprinted (`fingerprints.fingerprint_file`): a decompression
   bomb, a malformed model or a file that is not what it claims is refused, nothing stored;
2. an exact duplicate — the same SHA-256 registered (committed or filed) here, or filed on
   chain — is refused with `DesignConflictError` (409) naming the existing registration;
3. the similarity index is searched: flagged near-duplicates do not refuse the registration,
   they open a review entry (`DesignReview`) with the matches and distances for a person to
   decide (distinct, infringing, derived). Similarity is a prompt for a person, never a verdict.
   The search is made before the write transaction (`RegistryIndex.screen`) and completed in
   it under the registration lock (`lock_registrations`, `RegistryIndex.confirm`) with the
   registrations committed meanwhile, so two near-identical files registered at once are
   compared with each other;
4. in one database transaction: the registration row (`committed`), its metadata document, the
   original (AES-256-GCM, `store.files.EncryptedFileStore`) and a watermarked thumbnail, and the
   commitment as a `design_commitment` record in the anchoring outbox. The anchoring worker
   anchors it in a DesignCommitment batch of the organisation; the filing step
   (`filing.DesignFiler`) then sends `register` with the commitment's proof;
5. after the commit, the registration is added to the similarity index in the background
   (`RegistryIndex.refresh_soon`), not in its request.

The metadata document is the canonical JSON (RFC 8785) of the off-chain facts (see
`metadata_document`); `metadataHash` on chain is `0x` + SHA-256 of its UTF-8 bytes. The owner
is on chain only as `ownerRef` = `0x` + SHA-256(owner salt (32 bytes) ‖ owner reference
(UTF-8)): a salted hash, so a guessed name cannot be confirmed from the chain; the salt is in
the metadata document.

Raises:
    DesignFileError: the file is refused (415, 413, 422), nothing stored.
    InvalidInputError: a field is invalid (e.g. signed_confirmation without a document hash).
    PermissionDeniedError: the caller may not register, download an original or decide reviews.
    DesignConflictError: an exact duplicate (409).
    NotFoundError: an unknown registration, parent or review.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from PIL import Image, ImageDraw
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hallmark.chain.registry import DesignRegistryContract
from hallmark.core.canonical import canonical_bytes
from hallmark.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    first_line,
)
from hallmark.core.hashing import design_commitment
from hallmark.services.access.keys import Actor
from hallmark.services.anchoring.status import record_status
from hallmark.services.designs import images
from hallmark.services.designs.fingerprints import (
    DesignFingerprint,
    Limits,
    Probe,
    fingerprint_file,
    probe_file,
)
from hallmark.services.designs.index import DesignIndex, SearchResult, SearchSettings
from hallmark.services.designs.sniffing import FileKind
from hallmark.store.files import EncryptedFileStore
from hallmark.store.models import (
    DesignRegistration,
    DesignReview,
    Organisation,
)
from hallmark.store.records import NewRecord, add_records

log = structlog.get_logger(__name__)

#: Roles that register designs and decide reviews: an API key of role legal, or a console
#: account of role legal or registrar; always in a legal organisation (it holds REGISTRAR_ROLE).
REGISTRAR_ROLES = frozenset({"legal", "registrar"})
AUTHORIZATION_LEVELS = ("simple", "signed_confirmation")
REVIEW_DECISIONS = ("distinct", "infringing", "derived")
#: Longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 256
METADATA_SCHEMA = "hallmark.design/1"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DesignConflictError(ConflictError):
    """The file is registered already (same SHA-256): the existing registration is named."""

    code = "design_already_registered"


# --- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicenceRef:
    """A licence the design depends on (a licensed museum motif): a reference and the SHA-256
    of its document."""

    ref: str
    document_sha256: str


@dataclass(frozen=True)
class DesignFields:
    """What a registrar states about a design besides its file."""

    title: str
    owner_ref: str
    designers: tuple[str, ...] = ()
    authorization: str = "simple"
    authorization_document: str | None = None
    inspiration: tuple[str, ...] = ()
    notes: str | None = None
    licences: tuple[LicenceRef, ...] = ()
    #: The registration number or fingerprint of the previous draft.
    parent: str | None = None
    #: The Hallmark organisation that owns the design, if the owner is one.
    owner_organisation_id: str | None = None

    def checked(self) -> DesignFields:
        """The fields, validated; raises InvalidInputError naming the first bad one."""
        title = self.title.strip()
        if not title or len(title) > 300:
            raise _invalid("title", "a title of 1 to 300 characters is required")
        owner = self.owner_ref.strip()
        if not owner or len(owner) > 200:
            raise _invalid("owner_ref", "an owner reference of 1 to 200 characters is required")
        if self.authorization not in AUTHORIZATION_LEVELS:
            raise _invalid(
                "authorization",
                f"authorization must be one of {', '.join(AUTHORIZATION_LEVELS)}",
            )
        document = (self.authorization_document or "").strip().lower() or None
        if self.authorization == "signed_confirmation":
            if document is None:
                raise _invalid(
                    "authorization_document",
                    "a signed copyright confirmation needs the SHA-256 of the signed document",
                )
            if not _SHA256.match(document):
                raise _invalid("authorization_document", "not a SHA-256 (64 hex digits)")
        elif document is not None:
            raise _invalid(
                "authorization_document", "only a signed_confirmation carries a document hash"
            )
        for licence in self.licences:
            if not licence.ref.strip():
                raise _invalid("licences", "every licence needs a reference")
            if not _SHA256.match(licence.document_sha256.strip().lower()):
                raise _invalid("licences", f"licence {licence.ref}: not a SHA-256 document hash")
        designers = tuple(d.strip() for d in self.designers if d.strip())
        return DesignFields(
            title=title,
            owner_ref=owner,
            designers=designers,
            authorization=self.authorization,
            authorization_document=document,
            inspiration=tuple(i.strip() for i in self.inspiration if i.strip()),
            notes=(self.notes or "").strip() or None,
            licences=tuple(
                LicenceRef(lic.ref.strip(), lic.document_sha256.strip().lower())
                for lic in self.licences
            ),
            parent=(self.parent or "").strip() or None,
            owner_organisation_id=self.owner_organisation_id,
        )


def _invalid(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(message, details={"field": field})


# --- the index ----------------------------------------------------------------------------------


#: How far behind the newest registration it has seen `RegistryIndex.sync` looks again: a
#: registration stamped before another can commit after it (another process, a slow commit).
SYNC_LOOKBACK = timedelta(minutes=5)
#: The PostgreSQL transaction advisory lock that serialises the near-duplicate check and the
#: insert of registrations (the first 8 bytes of SHA-256("hallmark.designs.register"), signed).
REGISTRATION_LOCK = int.from_bytes(
    hashlib.sha256(b"hallmark.designs.register").digest()[:8], "big", signed=True
)


@dataclass(frozen=True)
class Screening:
    """A near-duplicate search made before the registration's transaction, with the state of
    the index it was made on (`RegistryIndex.generation` and its size)."""

    sha256: str
    generation: int
    #: Registrations in the index when the search was made.
    size: int
    result: SearchResult


class RegistryIndex:
    """The similarity index of the registry, kept in step with the database.

    Registrations are added as they are found in the database (`sync`, before each use: other
    processes register too); a registration's own request does not index it: after its commit,
    `refresh_soon` has the background updater (`start_updates`) add it, and any search before
    that adds it itself (`sync`), so a search always answers for every committed registration.
    `save` persists it under `directory`, `reindex` rebuilds it from the chain. Failed
    registrations stay in the index and are left out of answers."""

    def __init__(self, directory: Path | None, settings: SearchSettings | None = None) -> None:
        self.directory = directory
        self.settings = settings
        self._lock = threading.RLock()
        self._index = DesignIndex.load(directory, settings) if directory else DesignIndex(settings)
        self._known: set[str] = set(self._index._entries.registrations)
        self._seen_until: datetime | None = None
        self._generation = 0
        self._wanted = threading.Event()
        self._stopping = False
        self._updater: threading.Thread | None = None

    @property
    def index(self) -> DesignIndex:
        return self._index

    @property
    def generation(self) -> int:
        """Changes whenever the index is replaced (reindex); between, it only grows."""
        return self._generation

    def __len__(self) -> int:
        return len(self._index)

    def sync(self, session: Session) -> int:
        """Add the registrations stored since the last look; how many were added."""
        with self._lock:
            query = select(DesignRegistration.id, DesignRegistration.created_at).order_by(
                DesignRegistration.created_at, DesignRegistration.id
            )
            if self._seen_until is not None:
                query = query.where(
                    DesignRegistration.created_at >= self._seen_until - SYNC_LOOKBACK
                )
            new: list[str] = []
            for registration_id, created_at in session.execute(query):
                if self._seen_until is None or created_at > self._seen_until:
                    self._seen_until = created_at
                if registration_id not in self._known:
                    new.append(registration_id)
            if not new:
                return 0
            # The fingerprints (keypoints and descriptors: tens of kB each) of new ones only.
            found: dict[str, dict[str, Any]] = {
                registration_id: data
                for registration_id, data in session.execute(
                    select(DesignRegistration.id, DesignRegistration.fingerprint_data).where(
                        DesignRegistration.id.in_(new)
                    )
                )
            }
            for registration_id in new:
                self._index.add(
                    registration_id, DesignFingerprint.from_dict(found[registration_id])
                )
                self._known.add(registration_id)
            return len(new)

    def save(self) -> None:
        if self.directory is not None:
            with self._lock:
                self._index.save(self.directory)

    def search(self, probe: Probe) -> SearchResult:
        with self._lock:
            return self._index.search(probe)

    def screen(self, session: Session, fingerprint: DesignFingerprint) -> Screening:
        """The near-duplicate search of a file about to be registered, on every registration
        committed so far; made outside the registration's transaction (it is the costly part:
        the local features' geometric checks), confirmed inside it (`confirm`)."""
        with self._lock:
            self.sync(session)
            result = self._index.search(Probe(fingerprint))
            return Screening(fingerprint.sha256, self._generation, len(self._index), result)

    def confirm(
        self, session: Session, fingerprint: DesignFingerprint, screening: Screening | None
    ) -> SearchResult:
        """The near-duplicate search as of `session` (the registration's transaction, holding
        the registration lock): `screening`'s answer, with the registrations added since it was
        made searched too (only those: the check under the lock stays short); without a
        screening of this index, the whole search."""
        with self._lock:
            self.sync(session)
            if (
                screening is None
                or screening.generation != self._generation
                or screening.sha256 != fingerprint.sha256
            ):
                return self._index.search(Probe(fingerprint))
            if screening.size == len(self._index):
                return screening.result
            added = self._index.search(Probe(fingerprint), since=screening.size)
            return screening.result.merged(added)

    def replace(self, entries: Iterable[tuple[str, DesignFingerprint]]) -> None:
        """Start again from these registrations (reindex)."""
        with self._lock:
            self._index = DesignIndex(self.settings)
            self._known = set()
            for registration_id, fingerprint in entries:
                self._index.add(registration_id, fingerprint)
                self._known.add(registration_id)
            self._seen_until = None
            self._generation += 1

    # --- the background updater ----------------------------------------------------------------

    def start_updates(self, sessions: Callable[[], AbstractContextManager[Session]]) -> None:
        """Index new registrations in a background thread whenever `refresh_soon` is called."""
        with self._lock:
            if self._updater is not None:
                return
            self._stopping = False
            self._updater = threading.Thread(
                target=self._update, args=(sessions,), name="design-index", daemon=True
            )
            self._updater.start()

    def refresh_soon(self) -> None:
        """A registration was committed: index it in the background (without an updater, the
        next search does)."""
        self._wanted.set()

    def stop_updates(self, timeout: float = 30.0) -> None:
        updater = self._updater
        if updater is None:
            return
        self._stopping = True
        self._wanted.set()
        updater.join(timeout)
        self._updater = None

    def _update(self, sessions: Callable[[], AbstractContextManager[Session]]) -> None:
        while True:
            self._wanted.wait()
            if self._stopping:
                return
            self._wanted.clear()
            try:
                with sessions() as session:
                    added = self.sync(session)
            except Exception as exc:  # the next search or registration syncs anyway
                log.warning("designs.index_update_failed", error=first_line(exc))
            else:
                if added:
                    log.debug("designs.indexed", added=added)


# --- registration -------------------------------------------------------------------------------


def require_registrar(actor: Actor) -> None:
    """Only a registrar (role legal) registers designs and decides reviews."""
    if actor.role not in REGISTRAR_ROLES:
        raise PermissionDeniedError(
            f"the {actor.role} role may not register designs (allowed: legal, registrar)",
            details={"role": actor.role, "action": "design.register"},
        )


def owner_ref_hash(owner_ref: str, salt: str) -> str:
    """The on-chain `ownerRef`: 0x + SHA-256(salt bytes ‖ UTF-8 owner reference)."""
    return (
        "0x"
        + hashlib.sha256(bytes.fromhex(salt.removeprefix("0x")) + owner_ref.encode()).hexdigest()
    )


def metadata_document(
    *,
    fingerprint: DesignFingerprint,
    fields: DesignFields,
    owner_salt: str,
    parent_fingerprint: str | None,
    registrant: str,
    organisation_id: str,
    number: str,
) -> dict[str, Any]:
    """The metadata document of a registration (its canonical JSON hashes to metadataHash)."""
    iscc: dict[str, Any] = {"instance": fingerprint.instance_code, "data": fingerprint.data_code}
    if fingerprint.image_codes:
        iscc["image"] = list(fingerprint.image_codes)
    document: dict[str, Any] = {
        "schema": METADATA_SCHEMA,
        "registration": number,
        "fingerprint": fingerprint.sha256,
        "file": {"kind": fingerprint.kind.value, "size": fingerprint.size},
        "iscc": iscc,
        "title": fields.title,
        "designers": list(fields.designers),
        "owner": {"ref": fields.owner_ref, "salt": owner_salt},
        "authorization": {
            "level": fields.authorization,
            "documentSha256": fields.authorization_document,
        },
        "creativeSource": {"inspiration": list(fields.inspiration), "notes": fields.notes},
        "licences": [
            {"ref": lic.ref, "documentSha256": lic.document_sha256} for lic in fields.licences
        ],
        "parent": parent_fingerprint,
        "registrant": registrant,
        "organisation": organisation_id,
    }
    if fingerprint.shape is not None:
        document["shape"] = hashlib.sha256(fingerprint.shape.astype("<f4").tobytes()).hexdigest()
    return document


def metadata_hash(canonical: str) -> str:
    """metadataHash: 0x + SHA-256 of the canonical JSON's UTF-8 bytes."""
    return "0x" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Registered:
    """A new registration and the near-duplicates it was flagged for (empty: none)."""

    registration: DesignRegistration
    review: DesignReview | None


def fingerprint_upload(
    data: bytes, *, filename: str | None, media_type: str | None, limits: Limits | None = None
) -> DesignFingerprint:
    """Sniff and fingerprint an uploaded design file (refuses bad files, stores nothing)."""
    return fingerprint_file(data, filename=filename, media_type=media_type, limits=limits)


def check_not_on_chain(registry: DesignRegistryContract | None, sha256: str) -> None:
    """Refuse a file whose fingerprint is filed on chain already (by anyone). A chain read:
    call it outside any database transaction."""
    if registry is None:
        return
    found = registry.retrieve_design(sha256)
    if found.registered:
        raise DesignConflictError(
            f"design {sha256} is registered on chain already (registrant {found.registrant}, "
            f"block {found.filed_block})",
            details={
                "fingerprint": sha256,
                "registrant": found.registrant,
                "owner_ref_hash": found.owner_ref,
                "filed_at": datetime.fromtimestamp(found.filed_at, UTC).isoformat(),
                "block_number": found.filed_block,
            },
        )


def register_design(
    *,
    session: Session,
    actor: Actor,
    store: EncryptedFileStore,
    index: RegistryIndex,
    data: bytes,
    fingerprint: DesignFingerprint,
    fields: DesignFields,
    filename: str | None = None,
    media_type: str | None = None,
    screening: Screening | None = None,
) -> Registered:
    """Register a design file (see the module docstring); the caller commits, then calls
    `index.refresh_soon()`. `screening`: the near-duplicate search made before the transaction
    (`RegistryIndex.screen`), used when no registration was added since; without it the search
    runs here.

    Raises:
        PermissionDeniedError, InvalidInputError, DesignConflictError, NotFoundError.
    """
    require_registrar(actor)
    fields = fields.checked()
    organisation = session.get(Organisation, actor.organisation_id)
    if organisation is None or organisation.kind != "legal" or organisation.status != "active":
        raise PermissionDeniedError(
            "only an active legal organisation registers designs",
            details={"organisation": actor.organisation_id},
        )
    lock_registrations(session)
    existing = session.scalar(
        select(DesignRegistration).where(
            DesignRegistration.active_fingerprint == fingerprint.sha256
        )
    )
    if existing is not None:
        raise _duplicate(existing)
    parent = _parent(session, fields.parent) if fields.parent else None
    if fields.owner_organisation_id is not None and (
        session.get(Organisation, fields.owner_organisation_id) is None
    ):
        raise _invalid("owner_organisation", "no such organisation")
    # Under the registration lock: every registration committed before this one is compared.
    result = index.confirm(session, fingerprint, screening)
    matches = _review_matches(session, result)

    registration_id = _new_id()
    number = "D-" + datetime.now(UTC).strftime("%Y") + "-" + registration_id[-12:].upper()
    registrant = organisation.account_address
    salt = "0x" + secrets.token_bytes(32).hex()
    owner_salt = secrets.token_bytes(32).hex()
    document = metadata_document(
        fingerprint=fingerprint,
        fields=fields,
        owner_salt=owner_salt,
        parent_fingerprint=parent.fingerprint if parent is not None else None,
        registrant=registrant,
        organisation_id=organisation.id,
        number=number,
    )
    canonical = canonical_bytes(document).decode()
    commitment = design_commitment(fingerprint.sha256, registrant, salt)
    [record] = add_records(
        session,
        [
            NewRecord(
                kind="design_commitment",
                organisation_id=organisation.id,
                principal_id=actor.principal_id,
                data={
                    "fingerprint": "0x" + fingerprint.sha256,
                    "registrant": registrant,
                    "salt": salt,
                },
            )
        ],
    )
    if record.record_hash != commitment:  # the record's hash is the commitment itself
        raise AssertionError("a design commitment record must hash to its commitment")
    store.put(data)
    thumbnail = make_thumbnail(data, fingerprint.kind, number)
    thumbnail_sha = store.put(thumbnail) if thumbnail is not None else None
    registration = DesignRegistration(
        id=registration_id,
        number=number,
        fingerprint=fingerprint.sha256,
        active_fingerprint=fingerprint.sha256,
        file_kind=fingerprint.kind.value,
        file_size=fingerprint.size,
        media_type=media_type or "application/octet-stream",
        filename=filename,
        instance_code=fingerprint.instance_code,
        data_code=fingerprint.data_code,
        image_code=fingerprint.image_codes[0] if fingerprint.image_codes else None,
        perceptual_code=f"{perceptual_code(fingerprint):016x}",
        fingerprint_data=fingerprint.to_dict(),
        title=fields.title,
        designers=list(fields.designers),
        owner_ref=fields.owner_ref,
        owner_ref_hash=owner_ref_hash(fields.owner_ref, owner_salt),
        owner_organisation_id=fields.owner_organisation_id,
        authorization=fields.authorization,
        authorization_document=fields.authorization_document,
        creative_source={"inspiration": list(fields.inspiration), "notes": fields.notes},
        licences=[
            {"ref": lic.ref, "document_sha256": lic.document_sha256} for lic in fields.licences
        ],
        parent_id=parent.id if parent is not None else None,
        metadata_canonical=canonical,
        metadata_hash=metadata_hash(canonical),
        organisation_id=organisation.id,
        principal_id=actor.principal_id,
        registrant=registrant,
        status="committed",
        flagged=bool(matches),
        salt=salt,
        commitment=commitment,
        commitment_record_id=record.id,
        thumbnail_sha256=thumbnail_sha,
        attempts=0,
    )
    session.add(registration)
    review = None
    if matches:
        review = DesignReview(registration_id=registration_id, matches=matches, state="open")
        session.add(review)
    session.flush()
    log.info(
        "designs.registered",
        registration=number,
        fingerprint=fingerprint.sha256,
        flagged=len(matches),
    )
    return Registered(registration, review)


def lock_registrations(session: Session) -> None:
    """Hold the registration lock until the transaction ends, so that the near-duplicate check
    and the insert of one registration happen with no other registration between them: two
    near-identical files registered at once are compared with each other (the later is
    flagged). PostgreSQL: a transaction advisory lock (every process); SQLite's write
    transactions are serialised already (`store.sqlite`)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(REGISTRATION_LOCK)))


def perceptual_code(fingerprint: DesignFingerprint) -> int:
    """The 64-bit body of the file's Image-Code as filed (0 for files that are no image)."""
    if not fingerprint.image_codes:
        return 0
    return images.code_value(fingerprint.image_codes[0])


def _new_id() -> str:
    from hallmark.store.records import new_record_id

    return new_record_id()


def _duplicate(existing: DesignRegistration) -> DesignConflictError:
    return DesignConflictError(
        f"this file is registered already as {existing.number} "
        f"(owner {existing.owner_ref}, registered {existing.created_at.isoformat()}"
        + (f", block {existing.filed_block}" if existing.filed_block is not None else "")
        + ")",
        details={
            "registration": existing.number,
            "fingerprint": existing.fingerprint,
            "owner_ref": existing.owner_ref,
            "registered_at": existing.created_at.isoformat(),
            "filed_at": existing.filed_at.isoformat() if existing.filed_at else None,
            "block_number": existing.filed_block,
            "status": existing.status,
        },
    )


def _parent(session: Session, ref: str) -> DesignRegistration:
    found = find_registration(session, ref)
    if found.status == "failed":
        raise _invalid("parent", f"the parent registration {found.number} failed")
    return found


def _review_matches(session: Session, result: SearchResult) -> list[dict[str, Any]]:
    flagged = result.flagged
    ids = [r.registration for r in flagged] + list(result.exact)
    rows = _rows_by_id(session, ids)
    matches: list[dict[str, Any]] = []
    for similar in flagged:
        row = rows.get(similar.registration)
        if row is None or row.status == "failed":
            continue
        matches.append(
            {
                "registration": row.number,
                "fingerprint": row.fingerprint,
                "code_distance": similar.code_distance,
                "inliers": similar.inliers,
                "coverage": round(similar.coverage, 4),
                "shape_distance": None
                if similar.shape_distance is None
                else round(similar.shape_distance, 5),
            }
        )
    return matches


def _rows_by_id(session: Session, ids: Sequence[str]) -> dict[str, DesignRegistration]:
    if not ids:
        return {}
    return {
        row.id: row
        for row in session.scalars(
            select(DesignRegistration).where(DesignRegistration.id.in_(list(ids)))
        )
    }


# --- thumbnails ---------------------------------------------------------------------------------


def make_thumbnail(data: bytes, kind: FileKind, number: str) -> bytes | None:
    """A small PNG of an image design with a visible watermark (None for files without a
    picture: models and other files)."""
    if not kind.is_image:
        return None
    picture = images.decode(data, kind, images.ImageLimits()).convert("RGBA")
    picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    overlay = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    text = f"HALLMARK {number}"
    height = picture.size[1]
    for y in range(0, height, 28):
        draw.text((4 + (y // 28 % 2) * 20, y), text, fill=(128, 128, 128, 110))
    marked = Image.alpha_composite(picture, overlay).convert("RGB")
    out = io.BytesIO()
    marked.save(out, format="PNG")
    return out.getvalue()


# --- reads --------------------------------------------------------------------------------------


def find_registration(session: Session, ref: str) -> DesignRegistration:
    """A registration by number (D-…), id, or fingerprint (SHA-256 hex, the live one)."""
    ref = ref.strip()
    query = select(DesignRegistration)
    if ref.upper().startswith("D-"):
        query = query.where(DesignRegistration.number == ref.upper())
    elif _SHA256.match(ref.lower().removeprefix("0x")):
        sha = ref.lower().removeprefix("0x")
        row = session.scalar(query.where(DesignRegistration.active_fingerprint == sha))
        if row is None:
            row = session.scalar(
                query.where(DesignRegistration.fingerprint == sha).order_by(
                    DesignRegistration.created_at.desc()
                )
            )
        if row is None:
            raise NotFoundError("design", ref)
        return row
    else:
        query = query.where(DesignRegistration.id == ref)
    row = session.scalar(query)
    if row is None:
        raise NotFoundError("design", ref)
    return row


def lineage(session: Session, registration: DesignRegistration) -> list[DesignRegistration]:
    """The registration's ancestors, parent first (drafts form a chain)."""
    chain: list[DesignRegistration] = []
    seen = {registration.id}
    current = registration
    while current.parent_id is not None and current.parent_id not in seen:
        parent = session.get(DesignRegistration, current.parent_id)
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent.id)
        current = parent
    return chain


def lookup(
    session: Session,
    *,
    designer: str | None = None,
    owner_ref: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[DesignRegistration], int]:
    """Registrations by designer (exact name), owner reference, registration time range."""
    query = select(DesignRegistration)
    if owner_ref:
        query = query.where(DesignRegistration.owner_ref == owner_ref)
    if since is not None:
        query = query.where(DesignRegistration.created_at >= since)
    if until is not None:
        query = query.where(DesignRegistration.created_at < until)
    if status is not None:
        query = query.where(DesignRegistration.status == status)
    rows = list(session.scalars(query.order_by(DesignRegistration.created_at)))
    if designer:
        # Designers are a JSON list; matched here so SQLite and PostgreSQL agree.
        wanted = designer.strip().casefold()
        rows = [r for r in rows if any(str(d).casefold() == wanted for d in r.designers)]
    return rows[offset : offset + limit], len(rows)


def priority_evidence(session: Session, registration: DesignRegistration) -> dict[str, Any]:
    """The commitment behind the filing: its record, batch, root, proof and anchoring."""
    status = record_status(session=session, record_id=registration.commitment_record_id)
    return {
        "commitment": registration.commitment,
        "commitment_record": registration.commitment_record_id,
        "commitment_status": status.status,
        "batch_root": status.root,
        "anchorer": status.anchorer,
        "anchor_tx": status.tx_hash,
        "anchor_block": status.block_number,
        "proof": status.proof,
        "salt": registration.salt if registration.status == "registered" else None,
        "filed_at": registration.filed_at.isoformat() if registration.filed_at else None,
        "filed_block": registration.filed_block,
        "final_at": registration.final_at.isoformat() if registration.final_at else None,
    }


@dataclass(frozen=True)
class SearchAnswer:
    exact: list[DesignRegistration]
    similar: list[tuple[DesignRegistration, Any]]


def search_designs(
    *,
    session: Session,
    index: RegistryIndex,
    data: bytes,
    filename: str | None = None,
    media_type: str | None = None,
    limit: int = 20,
) -> tuple[DesignFingerprint, SearchAnswer]:
    """Any file → its exact registrations and ranked similar ones (failed ones left out)."""
    probe = probe_file(data, filename=filename, media_type=media_type)
    index.sync(session)
    result = index.search(probe)
    rows = _rows_by_id(
        session, list(result.exact) + [s.registration for s in result.similar[:limit]]
    )
    exact = [rows[r] for r in result.exact if r in rows and rows[r].status != "failed"]
    if not exact:
        exact = list(
            session.scalars(
                select(DesignRegistration).where(
                    DesignRegistration.active_fingerprint == probe.fingerprint.sha256
                )
            )
        )
    similar = [
        (rows[s.registration], s)
        for s in result.similar[:limit]
        if s.registration in rows and rows[s.registration].status != "failed"
    ]
    return probe.fingerprint, SearchAnswer(exact, similar)


# --- access to files ----------------------------------------------------------------------------


def may_download_original(actor: Actor, registration: DesignRegistration) -> bool:
    """Legal, and the owner's organisation, download originals; everyone else thumbnails."""
    return actor.organisation_kind == "legal" or (
        registration.owner_organisation_id is not None
        and actor.organisation_id == registration.owner_organisation_id
    )


def original(
    *, session: Session, store: EncryptedFileStore, actor: Actor, ref: str
) -> tuple[DesignRegistration, bytes]:
    """The original file, for legal and the owner's organisation.

    Raises:
        PermissionDeniedError: anyone else (they see the thumbnail).
    """
    registration = find_registration(session, ref)
    if not may_download_original(actor, registration):
        raise PermissionDeniedError(
            "only legal and the owner's organisation download an original; "
            "the watermarked thumbnail is open to every signed-in caller",
            details={"registration": registration.number},
        )
    return registration, store.get(registration.fingerprint)


def thumbnail(
    *, session: Session, store: EncryptedFileStore, ref: str
) -> tuple[DesignRegistration, bytes]:
    """The watermarked thumbnail (NotFoundError for files without a picture)."""
    registration = find_registration(session, ref)
    if registration.thumbnail_sha256 is None:
        raise NotFoundError("thumbnail", registration.number)
    return registration, store.get(registration.thumbnail_sha256)


# --- the review queue ---------------------------------------------------------------------------


def reviews(
    session: Session, *, state: str | None = "open", limit: int = 100
) -> list[tuple[DesignReview, DesignRegistration]]:
    """Review entries (open ones by default), oldest first, with their registrations."""
    query = select(DesignReview, DesignRegistration).join(
        DesignRegistration, DesignRegistration.id == DesignReview.registration_id
    )
    if state is not None:
        query = query.where(DesignReview.state == state)
    return [(r, d) for r, d in session.execute(query.order_by(DesignReview.id).limit(limit))]


def decide_review(
    *, session: Session, actor: Actor, review_id: int, decision: str, note: str | None = None
) -> tuple[DesignReview, DesignRegistration]:
    """Record a person's decision on a review entry (distinct, infringing or derived).

    Raises:
        PermissionDeniedError: not a registrar. InvalidInputError: an unknown decision.
        NotFoundError: no such entry. ConflictError: decided already.
    """
    require_registrar(actor)
    if decision not in REVIEW_DECISIONS:
        raise _invalid("decision", f"decision must be one of {', '.join(REVIEW_DECISIONS)}")
    review = session.get(DesignReview, review_id)
    if review is None:
        raise NotFoundError("review", str(review_id))
    if review.state != "open":
        raise ConflictError(
            f"review {review_id} was decided already ({review.state})",
            details={"review": review_id, "state": review.state},
        )
    review.state = decision
    review.note = (note or "").strip() or None
    review.reviewer_id = actor.principal_id
    review.decided_at = datetime.now(UTC)
    registration = session.get(DesignRegistration, review.registration_id)
    assert registration is not None
    session.flush()
    return review, registration


# --- reindex ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReindexReport:
    on_chain: int
    pending: int
    unknown: list[str]


def reindex(
    *, session: Session, registry: DesignRegistryContract, index: RegistryIndex
) -> ReindexReport:
    """Rebuild the index from the chain's DesignRegistered logs (each fingerprint's stored
    fingerprint data, checked against the log's metadataHash) plus the registrations not filed
    yet; saves it. Logs of fingerprints this database does not hold are reported."""
    entries: list[tuple[str, DesignFingerprint]] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for found in registry.retrieve_registered_logs():
        row = session.scalar(
            select(DesignRegistration).where(
                DesignRegistration.fingerprint == found.fingerprint,
                DesignRegistration.metadata_hash == found.metadata_hash,
            )
        )
        if row is None:
            unknown.append(found.fingerprint)
            continue
        if row.id in seen:
            continue
        seen.add(row.id)
        entries.append((row.id, DesignFingerprint.from_dict(row.fingerprint_data)))
    on_chain = len(entries)
    for row in session.scalars(
        select(DesignRegistration)
        .where(DesignRegistration.status.in_(("committed", "filing")))
        .order_by(DesignRegistration.created_at)
    ):
        if row.id not in seen:
            entries.append((row.id, DesignFingerprint.from_dict(row.fingerprint_data)))
    index.replace(entries)
    index.save()
    return ReindexReport(on_chain=on_chain, pending=len(entries) - on_chain, unknown=unknown)
