"""Every string a page shows is translated into English and Chinese: the catalogues hold every
marked string, translated, with the same placeholders; templates show no text outside gettext;
languages are negotiated as Babel and RFC 9110 say."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

from hallmark.api.pages import i18n
from hallmark.api.pages.rendering import ENVIRONMENT, TEMPLATES_DIR
from hallmark.config import PROJECT_ROOT

MAPPING = [
    ("backend/hallmark/api/pages/**.py", "python"),
    ("backend/hallmark/api/templates/**.html", "jinja2"),
]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
#: Words a template may show untranslated: the product's name, and each language's own name.
UNTRANSLATED = {"Hallmark"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _marked() -> dict[str | tuple[str, ...], list[str]]:
    """Every marked message of the pages and templates, with where it is."""
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT),
        method_map=MAPPING,
        options_map={"**.html": {"trimmed": "true"}},
        keywords=KEYWORDS,
    ):
        key = message if isinstance(message, str) else tuple(message)
        found.setdefault(key, []).append(filename)
    return found


MARKED = _marked()


def test_the_pages_mark_their_strings() -> None:
    assert "Sign in to the console" in MARKED
    assert "The username or the password is wrong." in MARKED  # from the pages' Python
    assert len(MARKED) > 50


@pytest.mark.parametrize("language", sorted(i18n.LANGUAGES))
def test_every_marked_string_is_translated(language: str) -> None:
    with i18n.catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    entries = {message.id: message for message in catalog if message.id}
    missing = sorted(str(key) for key in MARKED if key not in entries)
    assert not missing, f"{language}: not in the catalogue (run scripts/translations): {missing}"
    unused = sorted(str(key) for key in entries if key not in MARKED)
    assert not unused, f"{language}: in the catalogue, used nowhere: {unused}"
    for key, message in entries.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"{language}: {key!r} is not translated"
        assert not message.fuzzy, f"{language}: {key!r} is fuzzy"
        ids = key if isinstance(key, tuple) else (key,)
        wanted = {p for text in ids for p in PLACEHOLDER.findall(text)}
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, f"{language}: {key!r} placeholders"
    checked = list(catalog.check())
    assert not checked, f"{language}: {checked}"


def test_chinese_differs_from_english_where_it_is_words() -> None:
    chinese = i18n.translations("zh")
    same = [
        key
        for key in MARKED
        if isinstance(key, str) and re.search("[A-Za-z]{3}", key) and chinese.gettext(key) == key
    ]
    assert not same


class _Shown(HTMLParser):
    """The text and the read attributes of HTML in which every Jinja construct is a NUL."""

    READ = frozenset({"title", "placeholder", "alt", "aria-label", "data-label"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shown.extend(value for name, value in attrs if name in self.READ and value)

    def handle_data(self, data: str) -> None:
        self.shown.extend(data.split())


def _visible_text(source: str, environment: Environment) -> list[str]:
    """Text a template shows outside gettext: its HTML's text and the attributes a user reads
    (title, placeholder, alt, aria-label, data-label), Jinja's own constructs left out."""
    html: list[str] = []
    for _line, token, value in environment.lex(source):
        if token == "data":
            html.append(value)
        elif token in {"variable_begin", "block_begin"}:
            html.append("\0")
    parser = _Shown()
    parser.feed("".join(html))
    parser.close()
    words = [word.replace("\0", " ") for word in parser.shown]
    return [w for text in words for w in text.split() if re.search(r"[A-Za-z\u4e00-\u9fff]", w)]


@pytest.mark.parametrize(
    "template", sorted(path.name for path in Path(TEMPLATES_DIR).glob("*.html"))
)
def test_templates_show_no_untranslated_text(template: str) -> None:
    source = (Path(TEMPLATES_DIR) / template).read_text()
    leftovers = [w for w in _visible_text(source, ENVIRONMENT) if w not in UNTRANSLATED]
    assert not leftovers, f"{template} shows text outside gettext: {leftovers}"


def test_the_visible_text_check_finds_untranslated_text() -> None:
    source = '<p>{{ _("Fine") }}</p><p>Not translated</p><input placeholder="Type here">'
    assert _visible_text(source, ENVIRONMENT) == ["Not", "translated", "Type", "here"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", []),
        ("zh-CN,zh;q=0.9,en;q=0.8", ["zh-CN", "zh", "en"]),
        ("en;q=0.2, zh-Hans;q=0.7, *;q=0.1", ["zh-Hans", "en"]),
        ("fr, zh;q=0", ["fr"]),
        ("de;q=oops, en", ["en"]),
    ],
)
def test_accept_language_is_read_by_quality(header: str, expected: list[str]) -> None:
    assert i18n.accepted_languages(header) == expected


@pytest.mark.parametrize(
    ("preferred", "chosen"),
    [(["zh-TW"], "zh"), (["zh-Hans-CN"], "zh"), (["fr", "en-GB"], "en"), (["fr"], None)],
)
def test_babel_negotiates_the_page_language(preferred: list[str], chosen: str | None) -> None:
    from babel.core import negotiate_locale

    assert negotiate_locale(preferred, list(i18n.LANGUAGES), sep="-") == chosen
