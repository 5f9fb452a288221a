"""Languages of the pages: English and Simplified Chinese.

A page's language is the `hallmark_lang` cookie's (set by the language switch), else the best
match of the browser's Accept-Language (Babel's negotiation, so zh-CN, zh-Hans and zh-TW all
choose Chinese), else English. Messages come from gettext catalogues (`api/translations/<lang>/
LC_MESSAGES/messages.po`), compiled in memory at start (no generated .mo files to keep in step);
Babel formats dates and numbers in the page's language.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.core import negotiate_locale
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from starlette.requests import Request

#: The page languages: code → its own name (what the switch shows).
LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"
#: The HTML `lang` of each (a Chinese page asks the browser for Simplified Chinese glyphs).
HTML_LANG = {"en": "en", "zh": "zh-CN"}
COOKIE = "hallmark_lang"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "translate later"
    """Mark a message for the catalogues; it is translated where it is shown."""
    return message


def catalogue_path(language: str) -> Path:
    return TRANSLATIONS_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> Translations:
    """The language's catalogue, compiled from its .po file (fuzzy entries left out)."""
    with catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def weighted_values(header: str) -> list[tuple[str, float]]:
    """The values of a comma-separated header with RFC 9110 quality values (Accept,
    Accept-Language), best first, those with q=0 ("not this") left out. Starlette
    has no parser for them and Babel parses only language tags."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        value, *parameters = part.split(";")
        value = value.strip()
        quality = 1.0
        for parameter in parameters:
            name, _, given = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(given), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        if value and quality > 0:
            weighted.append((-quality, position, value))
    return [(value, -negative) for negative, _, value in sorted(weighted)]


def accepted_languages(header: str) -> list[str]:
    """The language tags of an Accept-Language header, best first."""
    return [tag for tag, _ in weighted_values(header) if tag != "*"]


def negotiate(request: Request) -> str:
    """The page's language: the cookie's, else the browser's best match, else English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    preferred = accepted_languages(request.headers.get("accept-language", "")[:1000])
    return negotiate_locale(preferred, list(LANGUAGES), sep="-") or DEFAULT_LANGUAGE


def format_datetime(moment: datetime, *, language: str, timezone: str) -> str:
    """A moment in the page's language and the display time zone, the zone named."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    return f"{babel_format_datetime(local, 'medium', tzinfo=zone, locale=language)} {local:%Z}"


def format_number(number: float, *, language: str) -> str:
    return format_decimal(number, locale=language)
