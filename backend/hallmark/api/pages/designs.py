"""The legal console's design registry pages: upload-and-search, registration, a registration's
detail with its lineage and chain facts, the review queue, and lookups (registration number,
fingerprint, designer, owner, date range).

For the registrars of a legal organisation (staff of role `legal`, who always sign in with a
TOTP code, or `registrar`): the pages refuse a session without an enrolled authenticator, so
whoever uses them signs in with a second factor. Everything goes through the
registry's public functions (`services.designs.registry`). Similarity is a prompt for a person,
never a verdict: every page that shows matches says so.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import Response

from hallmark.api.deps import RuntimeDep
from hallmark.api.pages import messages
from hallmark.api.pages.auth import (
    ActiveStaff,
    Console,
    ConsoleDep,
    CsrfField,
    check_csrf,
    forbidden,
    redirect,
)
from hallmark.api.pages.i18n import N_
from hallmark.api.pages.rendering import ENVIRONMENT, render
from hallmark.api.responses import download
from hallmark.api.writes import read_bounded
from hallmark.chain.registry import DesignRights
from hallmark.core.errors import (
    HallmarkError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from hallmark.runtime import Runtime
from hallmark.services.access import audit
from hallmark.services.access.keys import Actor
from hallmark.services.access.logins import Staff
from hallmark.services.designs import evidence as evidence_service
from hallmark.services.designs import registry, rights
from hallmark.services.designs.evidence_pdf import render_pdf
from hallmark.services.designs.rights_schemas import action_public
from hallmark.services.designs.schemas import design_public
from hallmark.store import db
from hallmark.store.files import EncryptedFileStore
from hallmark.store.models import DesignRegistration, Organisation

router = APIRouter(include_in_schema=False)
_DISTANCES = ("code_distance", "coverage", "inliers", "shape_distance")
StateQuery = Annotated[str, Query(pattern="^(open|distinct|infringing|derived|all)$")]
DecisionField = Annotated[str, Form(max_length=20)]
NoteField = Annotated[str, Form(max_length=2000)]
BASE = "/console/designs"
LOOKUP_LIMIT = 100
SEARCH_LIMIT = 20
#: How long a search's own thumbnail stays viewable (held in memory, never stored).
PREVIEW_SECONDS = 15 * 60
PREVIEW_COUNT = 64

SIMILARITY_NOTE = N_(
    "Similarity is a prompt for a person, never a verdict: a match asks you to compare the "
    "designs; it decides nothing about copying."
)
TOTP_REQUIRED = N_(
    "The legal pages need two-step sign-in. Set up an authenticator app on your account page."
)
DECISION_NAMES = {
    "distinct": N_("Distinct"),
    "infringing": N_("Infringing"),
    "derived": N_("Derived"),
}
REVIEW_STATES = {"open": N_("Open"), **DECISION_NAMES}
DESIGN_STATUSES = {
    "committed": N_("Committed, waiting to be filed on chain"),
    "filing": N_("Being filed on chain"),
    "registered": N_("Registered on chain"),
    "failed": N_("Filing failed"),
}
AUTHORIZATION_NAMES = {
    "simple": N_("Simple authorization (basic customisation: a logo, text)"),
    "signed_confirmation": N_("Signed copyright confirmation (deep customisation)"),
}
ACTION_NAMES = {
    "propose": N_("Assignment proposed"),
    "accept": N_("Assignment accepted"),
    "cancel": N_("Assignment cancelled"),
    "grant": N_("Licence granted"),
    "terminate": N_("Licence ended"),
}
ACTION_STATUSES = {
    "requested": N_("Requested"),
    "sending": N_("Being sent to the chain"),
    "done": N_("Done on chain"),
    "failed": N_("Failed"),
}
REASON_NAMES = {
    "breach": N_("Breach of the licence"),
    "non_payment": N_("Non-payment"),
    "mutual_agreement": N_("Mutual agreement"),
    "rights_dispute": N_("Rights dispute"),
    "licensee_ceased": N_("The licensee ceased"),
    "other": N_("Other"),
}
FILE_KINDS = {
    "png": "PNG",
    "jpeg": "JPEG",
    "webp": "WebP",
    "svg": "SVG",
    "stl": "STL",
    "obj": "OBJ",
    "3mf": "3MF",
    "ply": "PLY",
}
NOTICES = {
    "registered": N_(
        "The design is registered. It is filed on chain once its commitment is anchored."
    ),
    "flagged": N_(
        "The design is registered and was flagged: it resembles registered designs, and waits "
        "in the review queue for a person to compare."
    ),
    "decided": N_("The decision is recorded."),
    "rights": N_(
        "The action is recorded and is being sent to the chain; its state is shown below."
    ),
}

#: What a refused step says, by the error's code.
REFUSALS = {
    "file_mislabelled": N_(
        "The file is not what its name or type claims: its content is %(detected)s."
    ),
    "file_malformed": N_(
        "The file cannot be read safely: it is damaged, or holds what is not accepted (%(kind)s)."
    ),
    "decompression_bomb": N_(
        "The file would decode to more than is allowed (at most %(limit)s %(what)s)."
    ),
    "design_file_invalid": N_("This file cannot be used."),
    "payload_too_large": N_("The file is larger than allowed (at most %(max_bytes)s bytes)."),
}
DUPLICATE = N_(
    "This file is registered already as %(registration)s (owner %(owner)s, registered "
    "%(time)s). Nothing was stored."
)
DUPLICATE_ON_CHAIN = N_(
    "This file is registered on chain already (registrant %(registrant)s, block %(block)s). "
    "Nothing was stored."
)
DECIDED_ALREADY = N_("This entry was decided already.")
NOT_FINAL = N_(
    "Not yet: a filing is assigned or licensed only once final, one day after its "
    "commitment (from %(time)s)."
)
RIGHTS_REFUSED = N_("The registry refuses this action in the design's present state (%(reason)s).")
NO_REGISTRATION = N_("There is no registration %(ref)s.")
NOT_ON_CHAIN = N_(
    "There is no evidence yet: the registration is not filed on chain, or a stored fact "
    "disagrees with the chain."
)
FIELD_REFUSALS = {
    "title": N_("A title of 1 to 300 characters is required."),
    "owner_ref": N_("An owner reference of 1 to 200 characters is required."),
    "authorization": N_("Choose an authorization level."),
    "authorization_document": N_(
        "A signed copyright confirmation needs the SHA-256 of the signed document (64 hex "
        "digits); a simple authorization carries none."
    ),
    "licences": N_(
        "Write each licence on its own line: its reference, then the SHA-256 of its document "
        "(64 hex digits)."
    ),
    "parent": N_("The previous draft must be a registration whose filing did not fail."),
    "owner_organisation": N_("There is no such organisation."),
    "file": N_("Choose a file to upload."),
    "decision": N_("Choose distinct, infringing or derived."),
    "dates": N_("Write dates as YYYY-MM-DD."),
    "document_sha256": N_("Give the SHA-256 of the signed document (64 hex digits)."),
    "new_owner_ref": N_("An owner reference of 1 to 200 characters is required."),
    "licensee_ref": N_("A licensee reference of 1 to 200 characters is required."),
    "valid_from": N_("Give the licence's period: a start date, and an end after it, if any."),
    "valid_until": N_("Give the licence's period: a start date, and an end after it, if any."),
    "reason": N_("Choose a reason for ending the licence."),
    "new_registrant": N_("Choose the legal organisation the design is assigned to."),
}

ENVIRONMENT.globals.update(
    similarity_text=SIMILARITY_NOTE,
    design_statuses=DESIGN_STATUSES,
    review_states=REVIEW_STATES,
    authorization_names=AUTHORIZATION_NAMES,
    registry_roles=registry.REGISTRAR_ROLES,
    action_names=ACTION_NAMES,
    action_statuses=ACTION_STATUSES,
    reason_names=REASON_NAMES,
)


def refusal(exc: HallmarkError, *, conflict: str = DECIDED_ALREADY) -> messages.PageMessage:
    """What the registry pages say about a refused step (in the page's language)."""
    details = exc.details
    field_name = details.get("field")
    if exc.code == "design_already_registered":
        if details.get("registration"):
            return messages.PageMessage(
                DUPLICATE,
                {
                    "registration": details["registration"],
                    "owner": details.get("owner_ref", ""),
                    "time": details.get("registered_at", ""),
                },
            )
        return messages.PageMessage(
            DUPLICATE_ON_CHAIN,
            {"registrant": details.get("registrant", ""), "block": details.get("block_number")},
        )
    if exc.code in REFUSALS:
        return messages.PageMessage(REFUSALS[exc.code], dict(details))
    if isinstance(exc, InvalidInputError) and field_name in FIELD_REFUSALS:
        return messages.PageMessage(FIELD_REFUSALS[field_name], field=field_name)
    if isinstance(exc, NotFoundError):
        return messages.PageMessage(NO_REGISTRATION, {"ref": details.get("id", "")})
    if exc.code == "design_not_final":
        return messages.PageMessage(NOT_FINAL, {"time": details.get("final_at", "")})
    if exc.code == "design_rights_conflict":
        return messages.PageMessage(
            RIGHTS_REFUSED, {"reason": details.get("contract_error") or exc.message}
        )
    if exc.http_status == 409:
        return messages.PageMessage(conflict)
    if exc.http_status == 403:
        return messages.PageMessage(messages.FORBIDDEN)
    return messages.PageMessage(messages.UNEXPECTED)


def _status(exc: HallmarkError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 400


def _refused(
    request: Request, staff: Staff, exc: HallmarkError, *, conflict: str = DECIDED_ALREADY
) -> Response:
    """The error page of a refused download or upload: what was refused, with its status."""
    return render(
        request,
        "error.html",
        status_code=_status(exc),
        staff=staff,
        title=messages.UNEXPECTED,
        message=refusal(exc, conflict=conflict),
    )


# --- who may use the pages ------------------------------------------------------------------


def staff_actor(staff: Staff) -> Actor:
    """The registry's services take an Actor: a console user acts as its own principal (no
    API key is involved; the audit log names the principal)."""
    return Actor(staff.organisation_id, staff.organisation_kind, staff.principal_id, "", staff.role)


def _legal(request: Request, staff: Staff, console: ConsoleDep) -> Response | None:
    """The 403 page (audited) for anyone but a legal organisation's registrars (roles legal
    and registrar) signed in with two-step sign-in."""
    if staff.role not in registry.REGISTRAR_ROLES or staff.organisation_kind != "legal":
        return forbidden(request, staff, console, messages.FORBIDDEN)
    if not staff.totp_enrolled:
        return forbidden(request, staff, console, TOTP_REQUIRED)
    return None


# --- uploads ---------------------------------------------------------------------------------


@dataclass
class FormUpload:
    """A multipart form with one file: its fields, the file, or why it was refused."""

    fields: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    filename: str | None = None
    media_type: str | None = None
    error: HallmarkError | None = None

    @property
    def csrf_token(self) -> str:
        return self.fields.get("csrf_token", "")


async def form_upload(request: Request, runtime: RuntimeDep) -> FormUpload:
    """The form's fields and its file, read up to the attachment limit (over it: refused)."""
    limit = runtime.settings.attachment_max_bytes
    try:
        await read_bounded(request, limit)
    except PayloadTooLargeError as exc:
        return FormUpload(error=exc)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        return FormUpload(error=InvalidInputError("not a file upload", details={"field": "file"}))
    upload = FormUpload()
    async with request.form(max_files=1, max_fields=20, max_part_size=limit) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name == "file" and value.filename:
                    upload.data = await value.read()
                    upload.filename = value.filename
                    upload.media_type = value.content_type
            else:
                upload.fields[name] = value[:20_000]
    if not upload.data:
        upload.error = InvalidInputError("no file", details={"field": "file"})
    return upload


FormUploadDep = Annotated[FormUpload, Depends(form_upload)]


class _Previews:
    """The searched file's thumbnail, shown beside its matches: kept in this process's memory
    for a quarter of an hour for the session that searched, never written anywhere (a search
    stores nothing). Hand-written: a small bounded dict with an expiry is all it needs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[str, float, bytes]] = OrderedDict()

    def put(self, owner: str, image: bytes) -> str:
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._items[key] = (owner, time.monotonic() + PREVIEW_SECONDS, image)
            while len(self._items) > PREVIEW_COUNT:
                self._items.popitem(last=False)
        return key

    def get(self, owner: str, key: str) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
        if found is None or found[0] != owner or found[1] < time.monotonic():
            return None
        return found[2]


PREVIEWS = _Previews()


def _store(runtime: Any) -> EncryptedFileStore:
    settings = runtime.settings
    return EncryptedFileStore(settings.effective_files_dir, settings.file_key_bytes)


def _png(data: bytes) -> Response:
    return Response(
        data,
        media_type="image/png",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


# --- search and lookups ----------------------------------------------------------------------


def _day(text: str | None, zone: str, *, end: bool) -> datetime | None:
    """A date field (YYYY-MM-DD, in the display time zone) as the start of that day, or of
    the next day for the end of a range (so the range includes it)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInputError("not a date", details={"field": "dates"}) from exc
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, clock(), tzinfo=ZoneInfo(zone))


@router.get(BASE)
def designs_page(
    request: Request,
    *,
    staff: ActiveStaff,
    console: ConsoleDep,
    runtime: RuntimeDep,
    ref: Annotated[str, Query(max_length=100)] = "",
    designer: Annotated[str, Query(max_length=200)] = "",
    owner: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Search by file, look up by number or fingerprint, list by designer, owner and dates."""
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    lookup = {"ref": ref, "designer": designer, "owner": owner, "since": since, "until": until}
    page: dict[str, Any] = {"lookup": lookup, "results": None, "count": 0}
    if ref.strip():
        with console.reads() as session:
            try:
                found = registry.find_registration(session, ref)
            except NotFoundError as exc:
                return render(
                    request,
                    "designs.html",
                    status_code=404,
                    staff=staff,
                    error=refusal(exc),
                    **page,
                )
        return redirect(f"{BASE}/{found.number}")
    if designer.strip() or owner.strip() or since.strip() or until.strip():
        zone = runtime.settings.display_timezone
        try:
            start = _day(since, zone, end=False)
            end = _day(until, zone, end=True)
        except InvalidInputError as exc:
            return render(
                request, "designs.html", status_code=422, staff=staff, error=refusal(exc), **page
            )
        with console.reads() as session:
            rows, count = registry.lookup(
                session,
                designer=designer.strip() or None,
                owner_ref=owner.strip() or None,
                since=start,
                until=end,
                limit=LOOKUP_LIMIT,
            )
            page["results"] = [_summary(row) for row in rows]
            page["count"] = count
    return render(request, "designs.html", staff=staff, **page)


def _summary(row: DesignRegistration) -> dict[str, Any]:
    return {
        "number": row.number,
        "title": row.title,
        "owner_ref": row.owner_ref,
        "designers": list(row.designers),
        "status": row.status,
        "registered_at": row.created_at,
        "block_number": row.block_number,
        "flagged": row.flagged,
        "thumbnail": row.thumbnail_sha256 is not None,
        "file_kind": FILE_KINDS.get(row.file_kind, row.file_kind.upper()),
    }


@router.post(BASE + "/search")
def search(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    runtime: RuntimeDep,
    upload: FormUploadDep,
) -> Response:
    """Any file: its exact registration, if any, and similar ones ranked, side by side."""
    check_csrf(request, staff, upload.csrf_token)
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    empty: dict[str, Any] = {"lookup": {}, "results": None, "count": 0}
    if upload.error is not None:
        return render(
            request,
            "designs.html",
            status_code=_status(upload.error),
            staff=staff,
            error=refusal(upload.error),
            **empty,
        )
    index = runtime.design_index
    try:
        with console.reads() as session:
            fingerprint, answer = registry.search_designs(
                session=session,
                index=index,
                data=upload.data,
                filename=upload.filename,
                media_type=upload.media_type,
                limit=SEARCH_LIMIT,
            )
            exact = [_summary(row) | _chain(row) for row in answer.exact]
            similar = [
                _summary(row)
                | {
                    "flagged": found.flagged,
                    "code_distance": found.code_distance,
                    "coverage": found.coverage,
                    "inliers": found.inliers,
                    "shape_distance": found.shape_distance,
                }
                for row, found in answer.similar
            ]
    except HallmarkError as exc:
        return render(
            request,
            "designs.html",
            status_code=_status(exc),
            staff=staff,
            error=refusal(exc),
            **empty,
        )
    preview = None
    if fingerprint.kind.is_image:
        image = registry.make_thumbnail(upload.data, fingerprint.kind, "search")
        if image is not None:
            preview = PREVIEWS.put(staff.token_hash, image)
    return render(
        request,
        "designs_search.html",
        staff=staff,
        searched={
            "filename": upload.filename or "",
            "fingerprint": fingerprint.sha256,
            "kind": FILE_KINDS.get(fingerprint.kind.value, fingerprint.kind.value.upper()),
            "size": fingerprint.size,
            "preview": preview,
        },
        exact=exact,
        similar=similar,
    )


def _chain(row: DesignRegistration) -> dict[str, Any]:
    return {
        "registrant": row.registrant,
        "filed_at": row.filed_at,
        "filed_block": row.filed_block,
        "tx_hash": row.tx_hash if row.status == "registered" else None,
    }


@router.get(BASE + "/search/{key}.png")
def search_preview(request: Request, staff: ActiveStaff, console: ConsoleDep, key: str) -> Response:
    """The searched file's thumbnail, for the session that searched."""
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    image = PREVIEWS.get(staff.token_hash, key)
    if image is None:
        return Response(status_code=404)
    return _png(image)


# --- registration -----------------------------------------------------------------------------


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _licences(text: str) -> tuple[registry.LicenceRef, ...]:
    """One licence a line: its reference, then its document's SHA-256 (the last word)."""
    licences = []
    for line in _lines(text):
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            raise InvalidInputError(
                "a licence needs a document hash", details={"field": "licences"}
            )
        licences.append(registry.LicenceRef(parts[0].rstrip(" ,;:|"), parts[1]))
    return tuple(licences)


def _fields(form: dict[str, str]) -> registry.DesignFields:
    """The form's fields as the registry takes them (checked there)."""
    return registry.DesignFields(
        title=form.get("title", ""),
        owner_ref=form.get("owner_ref", ""),
        designers=_lines(form.get("designers", "")),
        authorization=form.get("authorization", ""),
        authorization_document=form.get("authorization_document") or None,
        inspiration=_lines(form.get("inspiration", "")),
        notes=form.get("notes") or None,
        licences=_licences(form.get("licences", "")),
        parent=form.get("parent") or None,
        owner_organisation_id=form.get("owner_organisation") or None,
    ).checked()


def _organisations(session: Session) -> list[tuple[str, str]]:
    """Active organisations an owner may be (id, name), by name."""
    query = (
        select(Organisation.id, Organisation.name)
        .where(Organisation.status == "active")
        .order_by(Organisation.name)
    )
    return [(row.id, row.name) for row in session.execute(query)]


def _register_form(
    request: Request,
    staff: Staff,
    console: ConsoleDep,
    *,
    form: dict[str, str],
    error: messages.PageMessage | None = None,
    status_code: int = 200,
) -> Response:
    with console.reads() as session:
        organisations = _organisations(session)
    return render(
        request,
        "designs_register.html",
        status_code=status_code,
        staff=staff,
        form=form,
        organisations=organisations,
        error=error,
    )


@router.get(BASE + "/register")
def register_page(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    parent: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    return _register_form(
        request, staff, console, form={"authorization": "simple", "parent": parent}
    )


@router.post(BASE + "/register")
def register(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    runtime: RuntimeDep,
    upload: FormUploadDep,
) -> Response:
    """Register a design: refused files and duplicates store nothing; near-duplicates are
    registered, flagged and queued for review."""
    check_csrf(request, staff, upload.csrf_token)
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    form = {k: v for k, v in upload.fields.items() if k != "csrf_token"}
    try:
        fields = _fields(form)
        if upload.error is not None:
            raise upload.error
        # Decoding and the chain's read happen before any write, outside the database.
        fingerprint = registry.fingerprint_upload(
            upload.data, filename=upload.filename, media_type=upload.media_type
        )
        chain_registry = runtime.registry if runtime.chain is not None else None
        registry.check_not_on_chain(chain_registry, fingerprint.sha256)
        with db.transaction(console.sessions, wait=console.policy.write_wait) as session:
            done = registry.register_design(
                session=session,
                actor=staff_actor(staff),
                store=_store(runtime),
                index=runtime.design_index,
                data=upload.data,
                fingerprint=fingerprint,
                fields=fields,
                filename=upload.filename,
                media_type=upload.media_type,
            )
            number = done.registration.number
            flagged = done.review is not None
            audit.append(
                session,
                actor=staff.audit,
                action="design.register",
                object_kind="design",
                object_id=number,
                details={
                    "fingerprint": fingerprint.sha256,
                    "flagged": len(done.review.matches) if done.review is not None else 0,
                    "via": "console",
                },
            )
    except HallmarkError as exc:
        if exc.http_status >= 500:
            raise
        return _register_form(
            request, staff, console, form=form, error=refusal(exc), status_code=_status(exc)
        )
    runtime.design_index.refresh_soon()  # indexed in the background, after the commit
    return redirect(f"{BASE}/{number}?done={'flagged' if flagged else 'registered'}")


# --- the review queue -------------------------------------------------------------------------


def _queue(
    request: Request,
    staff: Staff,
    console: ConsoleDep,
    state: str,
    *,
    done: str | None = None,
    error: messages.PageMessage | None = None,
    failed: int | None = None,
    status_code: int = 200,
) -> Response:
    with console.reads() as session:
        found = registry.reviews(session, state=None if state == "all" else state)
        entries = []
        for review, row in found:
            matches = []
            for match in review.matches:
                try:
                    other = registry.find_registration(session, match["registration"])
                except NotFoundError:
                    continue
                matches.append(_summary(other) | {k: match.get(k) for k in _DISTANCES})
            entries.append(
                {
                    "id": review.id,
                    "state": review.state,
                    "note": review.note,
                    "created_at": review.created_at,
                    "decided_at": review.decided_at,
                    "design": _summary(row),
                    "matches": matches,
                }
            )
    if not any(e["id"] == failed and e["state"] == "open" for e in entries):
        failed = None  # the refusal is said at the top, not beside an entry
    return render(
        request,
        "designs_reviews.html",
        status_code=status_code,
        staff=staff,
        entries=entries,
        state=state,
        states=["open", *DECISION_NAMES, "all"],
        notice=messages.PageMessage(NOTICES[done]) if done in NOTICES else None,
        error=error,
        failed=failed,
    )


@router.get(BASE + "/reviews")
def reviews_page(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    state: StateQuery = "open",
    done: str | None = None,
) -> Response:
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    return _queue(request, staff, console, state, done=done)


@router.post(BASE + "/reviews/{review_id}")
def decide(
    request: Request,
    *,
    staff: ActiveStaff,
    console: ConsoleDep,
    review_id: int,
    csrf_token: CsrfField = "",
    decision: DecisionField = "",
    note: NoteField = "",
) -> Response:
    """A person's decision on a flagged registration: distinct, infringing or derived."""
    check_csrf(request, staff, csrf_token)
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    try:
        with db.transaction(console.sessions, wait=console.policy.write_wait) as session:
            review, row = registry.decide_review(
                session=session,
                actor=staff_actor(staff),
                review_id=review_id,
                decision=decision,
                note=note,
            )
            audit.append(
                session,
                actor=staff.audit,
                action="design.review",
                object_kind="design",
                object_id=row.number,
                details={"review": review.id, "decision": review.state, "via": "console"},
            )
    except HallmarkError as exc:
        if exc.http_status >= 500:
            raise
        return _queue(
            request,
            staff,
            console,
            "open",
            error=refusal(exc),
            failed=review_id,
            status_code=_status(exc),
        )
    return redirect(f"{BASE}/reviews?done=decided")


# --- a registration ---------------------------------------------------------------------------


def _detail(
    request: Request,
    staff: Staff,
    console: ConsoleDep,
    ref: str,
    *,
    done: str | None = None,
    rights_error: messages.PageMessage | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with console.reads() as session:
        try:
            row = registry.find_registration(session, ref)
        except NotFoundError as exc:
            return render(
                request,
                "error.html",
                status_code=404,
                staff=staff,
                title=messages.NOT_FOUND,
                message=refusal(exc),
            )
        design = design_public(session, row)
        ancestors = [_summary(r) for r in registry.lineage(session, row)]
        review_state = None
        if design.review is not None:
            open_ids = {r.id: r.state for r, _ in registry.reviews(session, state=None)}
            review_state = open_ids.get(design.review)
        original = registry.may_download_original(staff_actor(staff), row)
        holder_id, _ = rights.holder(session, row)
        actions = [
            action_public(a, row.number).model_dump() for a in rights.actions_of(session, row)
        ]
        steps = [a for a in actions if a["action"] in {"propose", "accept", "cancel"}]
        pending = steps[-1] if steps and steps[-1]["action"] == "propose" else None
        ended = {a["document_sha256"] for a in actions if a["action"] == "terminate"}
        licences = [
            a
            for a in actions
            if a["action"] == "grant"
            and a["status"] == "done"
            and a["document_sha256"] not in ended
        ]
        organisations = _organisations(session)
    names = dict(organisations)
    legal_ids = _legal_ids(console)
    return render(
        request,
        "designs_detail.html",
        status_code=status_code,
        staff=staff,
        design=design,
        summary=_summary(row),
        ancestors=ancestors,
        review_state=review_state,
        may_download=original,
        notice=messages.PageMessage(NOTICES[done]) if done in NOTICES else None,
        holder=names.get(holder_id, holder_id),
        holds=holder_id == staff.organisation_id,
        actions=actions,
        organisations=organisations,
        legal_organisations=[
            (i, n) for i, n in organisations if i != staff.organisation_id and i in legal_ids
        ],
        reasons=list(rights.TERMINATION_REASONS),
        pending=pending,
        licences=licences,
        rights_error=rights_error,
        form=form or {},
    )


def _legal_ids(console: ConsoleDep) -> set[str]:
    with console.reads() as session:
        return set(
            session.scalars(
                select(Organisation.id).where(
                    Organisation.kind == "legal", Organisation.status == "active"
                )
            )
        )


@router.get(BASE + "/{ref}")
def detail(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    ref: str,
    done: str | None = None,
) -> Response:
    """A registration: its facts, lineage (parent chain), chain facts, priority evidence,
    evidence downloads, and its assignments and licences."""
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    return _detail(request, staff, console, ref, done=done)


@router.get(BASE + "/{ref}/thumbnail.png")
def thumbnail(
    request: Request, staff: ActiveStaff, console: ConsoleDep, runtime: RuntimeDep, ref: str
) -> Response:
    """The watermarked thumbnail of an image design."""
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    try:
        with console.reads() as session:
            _row, data = registry.thumbnail(session=session, store=_store(runtime), ref=ref)
    except NotFoundError:
        return Response(status_code=404)
    return _png(data)


@router.get(BASE + "/{ref}/original")
def original(
    request: Request, staff: ActiveStaff, console: ConsoleDep, runtime: RuntimeDep, ref: str
) -> Response:
    """The original file (legal, and the owner's organisation)."""
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    try:
        with console.reads() as session:
            row, data = registry.original(
                session=session, store=_store(runtime), actor=staff_actor(staff), ref=ref
            )
            sha = row.fingerprint
    except HallmarkError as exc:
        if exc.http_status >= 500:
            raise
        return _refused(request, staff, exc)
    return download(data, sha, headers={"Cache-Control": "no-store"})


# --- evidence ---------------------------------------------------------------------------------

FormatQuery = Annotated[str, Query(alias="format", pattern="^(json|pdf)$")]


def _evidence(
    request: Request,
    *,
    staff: Staff,
    console: ConsoleDep,
    runtime: Any,
    ref: str,
    fmt: str,
    suspect: evidence_service.Suspect | None = None,
) -> Response:
    """The evidence (read from the chain) as a download, or the page saying why not."""

    def contracts(deployment_id: int | None) -> tuple[Any, Any]:
        if runtime.chain is None:
            raise ServiceUnavailableError("this Hallmark is not connected to a chain")
        return runtime.registry_for(deployment_id), runtime.ledger_for(deployment_id)

    try:
        found = evidence_service.evidence_for(
            sessions=console.reads,
            store=_store(runtime),
            contracts=contracts,
            ref=ref,
            actor=staff_actor(staff),
            suspect=suspect,
        )
    except HallmarkError as exc:
        if exc.http_status >= 500:
            raise
        return _refused(request, staff, exc, conflict=NOT_ON_CHAIN)
    number = found.bundle["registration"]["number"]
    name = f"{number}-{'comparison-' if suspect is not None else ''}evidence.{fmt}"
    if fmt == "pdf":
        data = render_pdf(found, font=runtime.settings.evidence_font)
        media_type = "application/pdf"
    else:
        data = found.json_bytes()
        media_type = "application/json"
    return download(data, name, media_type=media_type, headers={"Cache-Control": "no-store"})


@router.get(BASE + "/{ref}/evidence")
def evidence(
    request: Request,
    *,
    staff: ActiveStaff,
    console: ConsoleDep,
    runtime: RuntimeDep,
    ref: str,
    fmt: FormatQuery = "pdf",
) -> Response:
    """A registration's evidence report: the bilingual PDF or the JSON bundle."""
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    return _evidence(request, staff=staff, console=console, runtime=runtime, ref=ref, fmt=fmt)


@router.post(BASE + "/{ref}/evidence/compare")
def comparison_evidence(
    request: Request,
    *,
    staff: ActiveStaff,
    console: ConsoleDep,
    runtime: RuntimeDep,
    ref: str,
    upload: FormUploadDep,
) -> Response:
    """The evidence of a comparison of a suspect file with the registration (a prompt for a
    person, never a verdict)."""
    check_csrf(request, staff, upload.csrf_token)
    refusal_page = _legal(request, staff, console)
    if refusal_page is not None:
        return refusal_page
    fmt = "json" if upload.fields.get("format") == "json" else "pdf"
    if upload.error is not None:
        return _refused(request, staff, upload.error)
    suspect = evidence_service.Suspect(upload.data, upload.filename, upload.media_type)
    return _evidence(
        request, staff=staff, console=console, runtime=runtime, ref=ref, fmt=fmt, suspect=suspect
    )


# --- assignments and licences -----------------------------------------------------------------

RightsField = Annotated[str, Form(max_length=300)]


@dataclass(frozen=True, slots=True)
class RightsPage:
    """What an assignment or licence form's handler needs besides its fields: the request, the
    signed-in registrar, the console, the runtime (the chain) and the registration."""

    request: Request
    staff: Staff
    console: Console
    runtime: Runtime
    ref: str

    def act(
        self, form: dict[str, str], plan: Callable[[Session, Actor], rights.Planned]
    ) -> Response:
        """Plan (database), check on chain (outside any transaction), record (one transaction,
        audited by the rights service); the worker sends it. A refusal answers the page again."""
        request, staff, console, ref = self.request, self.staff, self.console, self.ref
        check_csrf(request, staff, form.pop("csrf_token", ""))
        refusal_page = _legal(request, staff, console)
        if refusal_page is not None:
            return refusal_page
        actor = staff_actor(staff)
        try:
            with console.reads() as session:
                planned = plan(session, actor)
            runtime = self.runtime
            chain_rights = DesignRights(runtime.registry) if runtime.chain is not None else None
            rights.check_on_chain(chain_rights, planned)
            with db.transaction(console.sessions, wait=console.policy.write_wait) as session:
                rights.record_action(session=session, actor=actor, planned=planned)
        except HallmarkError as exc:
            if exc.http_status >= 500:
                raise
            return _detail(
                request,
                staff,
                console,
                ref,
                rights_error=refusal(exc),
                form=form,
                status_code=_status(exc),
            )
        return redirect(f"{BASE}/{ref}?done=rights#rights")


def _rights_page(
    request: Request, staff: ActiveStaff, console: ConsoleDep, runtime: RuntimeDep, ref: str
) -> RightsPage:
    return RightsPage(request, staff, console, runtime, ref)


RightsPageDep = Annotated[RightsPage, Depends(_rights_page)]


def _when(text: str, zone: str, name: str) -> datetime | None:
    try:
        return _day(text, zone, end=False)
    except InvalidInputError as exc:
        raise InvalidInputError("not a date", details={"field": name}) from exc


@router.post(BASE + "/{ref}/assignments")
def propose_assignment(
    page: RightsPageDep,
    *,
    csrf_token: CsrfField = "",
    new_registrant: RightsField = "",
    new_owner_ref: RightsField = "",
    document_sha256: RightsField = "",
    new_owner_organisation: RightsField = "",
) -> Response:
    """Propose assigning the design to another legal organisation (step one of two)."""
    form = {
        "csrf_token": csrf_token,
        "new_registrant": new_registrant,
        "new_owner_ref": new_owner_ref,
        "document_sha256": document_sha256,
        "new_owner_organisation": new_owner_organisation,
    }
    return page.act(
        form,
        lambda session, actor: rights.plan_propose(
            session=session,
            actor=actor,
            ref=page.ref,
            new_registrant=new_registrant,
            new_owner_ref=new_owner_ref,
            document_sha256=document_sha256,
            new_owner_organisation=new_owner_organisation or None,
        ),
    )


@router.post(BASE + "/{ref}/assignments/accept")
def accept_assignment(
    page: RightsPageDep, *, csrf_token: CsrfField = "", document_sha256: RightsField = ""
) -> Response:
    """Accept an assignment proposed to this organisation (step two), with the same document."""
    return page.act(
        {"csrf_token": csrf_token, "accept_document_sha256": document_sha256},
        lambda session, actor: rights.plan_accept(
            session=session, actor=actor, ref=page.ref, document_sha256=document_sha256
        ),
    )


@router.post(BASE + "/{ref}/assignments/cancel")
def cancel_assignment(page: RightsPageDep, *, csrf_token: CsrfField = "") -> Response:
    """Cancel a pending assignment (the proposer), or decline it (the named new registrant)."""
    return page.act(
        {"csrf_token": csrf_token},
        lambda session, actor: rights.plan_cancel(session=session, actor=actor, ref=page.ref),
    )


@router.post(BASE + "/{ref}/licences")
def grant_licence(
    page: RightsPageDep,
    *,
    csrf_token: CsrfField = "",
    licensee_ref: RightsField = "",
    document_sha256: RightsField = "",
    valid_from: RightsField = "",
    valid_until: RightsField = "",
) -> Response:
    """Grant a licence: licensee reference, signed licence's SHA-256, validity (dates)."""
    form = {
        "csrf_token": csrf_token,
        "licensee_ref": licensee_ref,
        "licence_document_sha256": document_sha256,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }
    zone = page.runtime.settings.display_timezone

    def plan(session: Session, actor: Actor) -> rights.Planned:
        start = _when(valid_from, zone, "valid_from")
        if start is None:
            raise InvalidInputError("a start date is required", details={"field": "valid_from"})
        return rights.plan_grant(
            session=session,
            actor=actor,
            ref=page.ref,
            licensee_ref=licensee_ref,
            document_sha256=document_sha256,
            valid_from=start,
            valid_until=_when(valid_until, zone, "valid_until"),
        )

    return page.act(form, plan)


@router.post(BASE + "/{ref}/licences/{document_sha256}/terminate")
def terminate_licence(
    page: RightsPageDep,
    *,
    document_sha256: str,
    csrf_token: CsrfField = "",
    reason: RightsField = "",
) -> Response:
    """End a licence, finally, with a reason."""
    return page.act(
        {"csrf_token": csrf_token},
        lambda session, actor: rights.plan_terminate(
            session=session,
            actor=actor,
            ref=page.ref,
            document_sha256=document_sha256,
            reason=reason,
        ),
    )
