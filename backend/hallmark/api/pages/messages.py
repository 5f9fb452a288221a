"""What the pages say about roles, kinds, refusals and finished actions: one table each, in
English, marked for the catalogues and translated where shown (`_(text, **params)`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hallmark.api.pages.i18n import N_, format_datetime
from hallmark.core.errors import HallmarkError, TooManyAttemptsError
from hallmark.core.times import utcnow

ROLE_NAMES = {
    "admin": N_("Organisation administrator"),
    "legal": N_("Legal"),
    "registrar": N_("Design registrar"),
    "designer": N_("Designer"),
    "issuer": N_("Certificate issuer"),
    "viewer": N_("Viewer"),
}
KIND_NAMES = {
    "brand": N_("Brand"),
    "supplier": N_("Supplier"),
    "factory": N_("Factory"),
    "legal": N_("Legal team"),
}
STATUS_NAMES = {"active": N_("Active"), "disabled": N_("Disabled")}

#: Sign-in refusals by reason (`SignInRefusedError.reason`).
REFUSALS = {
    "credentials": N_("The username or the password is wrong."),
    "code": N_("The code is wrong, expired or already used. Wait for the next code and try again."),
    "disabled": N_(
        "This account or its organisation is disabled. Ask your organisation's administrator."
    ),
    "expired": N_("Your sign-in expired. Please sign in again."),
}
#: Refused new passwords, by reason (`details["reason"]`).
INVALID = {
    "too_short": N_("A password needs at least %(minimum)s characters."),
    "too_long": N_("A password can have at most %(maximum)s characters."),
    "is_username": N_("The password must not be your username."),
    "mismatch": N_("The two new passwords differ."),
    "unchanged": N_("The new password must differ from the current one."),
}
THROTTLED = N_("Too many failed attempts. Try again after %(time)s.")
FORBIDDEN = N_("Your role does not give access to this page.")
CSRF_REJECTED = N_(
    "This form expired or was not sent from this site. Go back, reload the page and try again."
)
NOT_FOUND = N_("There is no such page.")
UNEXPECTED = N_("This request could not be completed.")
BUSY = N_("The service is busy. Nothing was changed: please try again in a moment.")

#: Notices after a finished action (`?done=` on the page it returns to).
NOTICES = {
    "signed_out": N_("You have signed out."),
    "ended": N_("Your session ended. Please sign in again."),
    "password": N_("Your password has been changed. Your other sessions were signed out."),
    "authenticator": N_("Your authenticator app is set up. Your other sessions were signed out."),
    "authenticator_removed": N_("Two-step sign-in is turned off."),
    "disabled": N_("The account is disabled and its sessions have ended."),
    "enabled": N_("The account is enabled."),
}


@dataclass(frozen=True, slots=True)
class PageMessage:
    """A message for a page: its English text (the catalogue key), what fills it, and the
    form field it is about, if any."""

    text: str
    params: dict[str, Any] = field(default_factory=dict)
    field: str | None = None


def notice(done: str | None) -> PageMessage | None:
    return PageMessage(NOTICES[done]) if done in NOTICES else None


def refusal(exc: HallmarkError, *, language: str, timezone: str) -> PageMessage:
    """What the page says about a refused step."""
    field_name = exc.details.get("field")
    if isinstance(exc, TooManyAttemptsError):
        at = utcnow() + timedelta(seconds=exc.retry_after)
        time = format_datetime(at, language=language, timezone=timezone)
        return PageMessage(THROTTLED, {"time": time})
    reason = str(exc.details.get("reason", ""))
    if reason in REFUSALS:
        return PageMessage(REFUSALS[reason], field=field_name)
    if reason in INVALID:
        params: dict[str, Any] = {
            k: exc.details[k] for k in ("minimum", "maximum") if k in exc.details
        }
        return PageMessage(INVALID[reason], params, field=field_name)
    if exc.http_status == 403:
        return PageMessage(FORBIDDEN)
    return PageMessage(UNEXPECTED)
