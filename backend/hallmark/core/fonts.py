"""The font Hallmark's PDFs are set in: one TrueType font with Chinese and Latin glyphs.

WenQuanYi Micro Hei (Debian's `fonts-wqy-microhei`, Apache 2.0: embedding allowed) by default,
or the font the setting `evidence_font` (HALLMARK_EVIDENCE_FONT) names. reportlab embeds
TrueType outlines only, as a subset, so a PDF reads the same on any machine; the CFF-based Noto
CJK fonts cannot be used. The design evidence report and the printed certificate both use it.

Raises:
    PdfFontMissingError: no font that renders Chinese is installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from hallmark.core.errors import HallmarkError

FONT_NAME = "HallmarkCJK"
#: Where Debian (and Ubuntu) install WenQuanYi Micro Hei and its kin.
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)
_registered = threading.Lock()


class PdfFontMissingError(HallmarkError):
    """No TrueType font that renders Chinese is installed: a PDF cannot be made."""

    code = "pdf_font_missing"
    http_status = 503

    def __init__(self) -> None:
        super().__init__(
            "no TrueType font that renders Chinese is installed for PDFs: install the Debian "
            "package fonts-wqy-microhei (./scripts/install does) or set HALLMARK_EVIDENCE_FONT "
            "to a .ttf/.ttc font with Chinese glyphs",
            details={"package": "fonts-wqy-microhei"},
        )


def font_path(named: Path | None = None) -> Path:
    """The font file a PDF embeds: `named`, else the first installed candidate.

    Raises:
        PdfFontMissingError: `named` is not a file, or no candidate is installed.
    """
    if named is not None:
        if not named.is_file():
            raise PdfFontMissingError()
        return named
    for candidate in FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", "WenQuanYi Micro Hei"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        if found.endswith((".ttf", ".ttc")) and "wqy" in found.lower():
            return Path(found)
    raise PdfFontMissingError()


def registered_font(named: Path | None = None) -> str:
    """The reportlab name of the font at `font_path(named)`, registered once per file.

    Raises:
        PdfFontMissingError: no such font.
    """
    path = font_path(named)
    name = f"{FONT_NAME}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    with _registered:
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
    return name
