"""QR codes and the printable certificate: every code read back by a real decoder (zxing-cpp),
its version and error correction checked, PNG and SVG (rasterised by resvg), both link forms;
the GS1 Digital Link resolved to the verify page; the PDF's text read with poppler (Chinese
present), its page size, its pages rendered and the QR on them decoded; refusals; the CLI."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import zxingcpp
from PIL import Image
from resvg_py import svg_to_bytes
from typer.testing import CliRunner

from hallmark.cli import app
from hallmark.config import Environment, Settings
from hallmark.core.fonts import PdfFontMissingError
from hallmark.services.certificates import pdf, qr
from tests.certificates.builders import anchor_all, issue
from tests.certificates.test_certificates_cli import api_url
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    FACTORY,
    add_step,
    create_product,
    held_lot,
    unique,
)

__all__ = ["api_url"]  # the fixture, used by name

BASE = "https://verify.maison-lune.example"
GTIN = "09506000134352"


def decode(image: Image.Image) -> Any:
    """The one QR code zxing-cpp finds in `image`."""
    found = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, found
    return found[0]


def version_of(barcode: Any) -> int:
    """The QR version the decoder read (its symbology data)."""
    return int(barcode.extra["Version"])


def rasterise(svg: bytes) -> Image.Image:
    """An SVG drawn by resvg, on white."""
    png = bytes(svg_to_bytes(svg_string=svg.decode(), dpi=96, width=400))  # sized in mm
    drawn = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", drawn.size, "white")
    return Image.alpha_composite(white, drawn)


def assert_png_code(data: bytes, url: str, *, scale: int = 10) -> int:
    image = Image.open(io.BytesIO(data))
    barcode = decode(image)
    assert barcode.text == url
    assert barcode.ec_level == "M"
    version = version_of(barcode)
    assert 1 <= version <= qr.MAX_VERSION
    # The picture agrees: 17 + 4 x version modules and the quiet zone, `scale` pixels each.
    assert image.size[0] == (17 + 4 * version + 2 * qr.BORDER) * scale
    return version


# --- the codes, without a server ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        qr.verify_url(BASE, "HM-20261204-0A1B2C3D4E"),
        qr.digital_link(BASE, GTIN, "SN-0001:A.7"),
        # the longest base URL the short form takes (65 bytes, docs/VERIFY.md), a long serial
        qr.verify_url("https://" + "v" * 45 + ".example.com", "HM-20261204-0A1B2C3D4E"),
        qr.digital_link("https://v.example", GTIN, "s" * 40),
    ],
)
def test_codes_decode_to_their_url_png_and_svg(url: str) -> None:
    code = qr.encode(url)
    assert code.version <= qr.MAX_VERSION
    assert assert_png_code(code.png(scale=6), url, scale=6) == code.version
    svg = code.svg()
    assert f'width="{17 + 4 * code.version + 2 * qr.BORDER}mm"'.encode() in svg  # 1 mm a module
    barcode = decode(rasterise(svg))
    assert barcode.text == url
    assert barcode.ec_level == "M"
    assert version_of(barcode) == code.version


def test_digital_link_percent_encodes_the_serial() -> None:
    url = qr.digital_link(BASE, GTIN, "SN:7/8")
    assert url == f"{BASE}/01/{GTIN}/21/SN%3A7%2F8"


def test_a_url_beyond_version_5_is_refused_with_its_reason() -> None:
    # One byte more than the longest base URL the short form takes.
    url = qr.verify_url("https://" + "v" * 46 + ".example.com", "HM-20261204-0A1B2C3D4E")
    with pytest.raises(qr.QrTooLongError) as refused:
        qr.encode(url)
    assert refused.value.details["version"] == qr.MAX_VERSION + 1
    assert "HALLMARK_PUBLIC_BASE_URL" in refused.value.message
    with pytest.raises(qr.QrTooLongError) as overflow:
        qr.encode("https://x.example/" + "y" * 3000)
    assert overflow.value.details["version"] is None


def test_the_public_base_url_setting() -> None:
    assert Settings(public_base_url="https://v.example.com/").public_base_url == (
        "https://v.example.com"
    )
    assert Settings(host="127.0.0.1", port=8123).effective_public_base_url == (
        "http://127.0.0.1:8123"
    )
    production = Settings().model_copy(update={"environment": Environment.PRODUCTION})
    assert production.effective_public_base_url is None
    with pytest.raises(qr.PublicBaseUrlMissingError):
        qr.verify_url(production.effective_public_base_url, "HM-1")
    for bad in ("ftp://v.example.com", "verify.example.com", "https://v.example.com/?a=1"):
        with pytest.raises(ValueError, match="URL"):
            Settings(public_base_url=bad)


# --- through the API ------------------------------------------------------------------------


def finished_product(world: World, **product: Any) -> str:
    """A brand's finished product (drawn, cast, polished, inspected, packed): its serial."""
    lot = held_lot(world)
    serial: str = create_product(world, **product)["serial"]
    world.http.post(
        f"/api/v1/products/{serial}/materials",
        json={"materials": [{"lot": lot["id"], "quantity": "5.000", "unit": "g"}]},
        headers=world.headers(FACTORY),
    ).raise_for_status()
    for kind in ("casting", "polishing", "qc_inspection", "packaging"):
        add_step(world, serial, kind)
    return serial


@pytest.fixture(scope="module")
def certificates(world: World) -> dict[str, dict[str, Any]]:
    """One certificate of a product with a GTIN and an edition, one of a product without."""
    with_gtin = finished_product(
        world,
        gtin=GTIN,
        name="月光戒指 Moonlight ring",
        edition={"series": "Lune", "number": 3, "size": 50},
    )
    plain = finished_product(world)
    return {
        "gtin": {**issue(world, with_gtin, engraving_summary="initials"), "serial": with_gtin},
        "plain": {**issue(world, plain), "serial": plain},
    }


def base_of(world: World) -> str:
    base = world.runtime.settings.effective_public_base_url
    assert base is not None
    return base


def test_qr_png_short_form_decodes_to_the_verify_page(
    world: World, certificates: dict[str, dict[str, Any]]
) -> None:
    number = certificates["gtin"]["number"]
    answer = world.http.get(f"/api/v1/certificates/{number}/qr.png")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    url = f"{base_of(world)}/v/{number}"
    version = assert_png_code(answer.content, url)
    assert answer.headers["x-qr-version"] == str(version)
    by_id = world.http.get(f"/api/v1/certificates/{certificates['gtin']['id']}/qr.png?scale=4")
    assert assert_png_code(by_id.content, url, scale=4) == version


def test_qr_svg_gs1_form_decodes_and_resolves_to_the_verify_page(
    world: World, certificates: dict[str, dict[str, Any]]
) -> None:
    certificate = certificates["gtin"]
    answer = world.http.get(f"/api/v1/certificates/{certificate['number']}/qr.svg?form=gs1")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/svg+xml")
    barcode = decode(rasterise(answer.content))
    url = f"{base_of(world)}/01/{GTIN}/21/{certificate['serial']}"
    assert barcode.text == url
    assert barcode.ec_level == "M" and version_of(barcode) <= qr.MAX_VERSION
    resolved = world.http.get(urlsplit(url).path, follow_redirects=False)
    assert resolved.status_code == 303
    assert resolved.headers["location"] == f"{base_of(world)}/v/{certificate['number']}"
    png = world.http.get(f"/api/v1/certificates/{certificate['number']}/qr.png?form=gs1")
    assert_png_code(png.content, url)


def test_digital_link_resolver_refuses_what_it_does_not_know(
    world: World, certificates: dict[str, dict[str, Any]]
) -> None:
    serial = certificates["gtin"]["serial"]
    for path in (
        f"/01/04006381333931/21/{serial}",  # a valid GTIN, not this piece's
        f"/01/09506000134353/21/{serial}",  # a wrong check digit
        f"/01/{GTIN}/21/SN-NO-SUCH-PIECE",
        f"/01/{GTIN}/21/{'S' * 65}",
        f"/01/{GTIN}/21/{certificates['plain']['serial']}",  # a piece without a GTIN
    ):
        answer = world.http.get(path, follow_redirects=False)
        assert answer.status_code == 404, path
        assert set(answer.json()["error"]) == {"code", "message", "details"}
        assert answer.json()["error"]["code"] == "not_found"
    # A GTIN of 13 digits names the same item as its 14-digit form.
    short = world.http.get(f"/01/{GTIN[1:]}/21/{serial}", follow_redirects=False)
    assert short.status_code == 303


#: What a phone's browser sends as Accept with a page's address.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_unknown_digital_link_or_number_answers_a_browser_with_the_verify_page(
    world: World, certificates: dict[str, dict[str, Any]]
) -> None:
    """A phone that scans a link or number no certificate has gets the verify page (404, verdict
    unknown, worded for a customer) in its language, with the language switch; a JSON client
    still gets the error."""
    link = f"/01/{GTIN}/21/SN-NO-SUCH-PIECE"
    for path in (link, "/v/HM-00000000-NOSUCH"):
        for language, verdict, said in (
            ("en", "Unknown", "No certificate has this number or link."),
            ("zh-CN,zh;q=0.9", "无法确认", "没有证书使用这个编号或链接。"),
        ):
            page = world.http.get(
                path,
                headers={"Accept": BROWSER_ACCEPT, "Accept-Language": language},
                follow_redirects=False,
            )
            assert page.status_code == 404, (path, page.text)
            assert page.headers["content-type"].startswith("text/html")
            assert f"<h1>{verdict}</h1>" in page.text and said in page.text
            assert path.rsplit("/", 1)[-1] in page.text  # what was asked about
            assert '"error"' not in page.text
    # The language switch comes back to the same link, now in Chinese.
    english = world.http.get(link, headers={"Accept": BROWSER_ACCEPT, "Accept-Language": "en"})
    assert f'href="/language/zh?next={link}"' in english.text
    switched = world.http.get(f"/language/zh?next={link}", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == link
    chinese = world.http.get(link, headers={"Accept": BROWSER_ACCEPT, "Accept-Language": "en"})
    assert chinese.status_code == 404 and "<h1>无法确认</h1>" in chinese.text
    world.http.cookies.delete("hallmark_lang")  # the module's other tests read English
    # A JSON client, or one that names no type, keeps the error's shape.
    for accept in (
        "application/json",
        "*/*",
        "application/json, text/html",
        "text/html;q=0.5, application/json",
        "TEXT/HTML;q=0, */*",
    ):
        answer = world.http.get(link, headers={"Accept": accept}, follow_redirects=False)
        assert answer.status_code == 404, accept
        assert answer.headers["content-type"].startswith("application/json")
        error = answer.json()["error"]
        assert set(error) == {"code", "message", "details"} and error["code"] == "not_found"
    # A client that prefers HTML by its quality values is a browser.
    for accept in ("application/json;q=0.5, text/html", "Text/HTML;q=0.9, application/json;q=0.8"):
        page = world.http.get(link, headers={"Accept": accept}, follow_redirects=False)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    # A known link still takes the browser to the certificate's page.
    known = f"/01/{GTIN}/21/{certificates['gtin']['serial']}"
    found = world.http.get(known, headers={"Accept": BROWSER_ACCEPT}, follow_redirects=False)
    assert found.status_code == 303


def test_digital_link_follows_a_reissue_to_the_newest_certificate(world: World) -> None:
    serial = unique("SN") + ":A.7"  # a serial with a character the link percent-encodes
    finished_product(world, gtin=GTIN, serial=serial)
    first = issue(world, serial)
    gs1 = world.http.get(f"/api/v1/certificates/{first['number']}/qr.png?form=gs1")
    link = decode(Image.open(io.BytesIO(gs1.content))).text
    assert link == f"{base_of(world)}/01/{GTIN}/21/{serial.replace(':', '%3A')}"
    # The piece is repaired after certification: its certificate is reissued.
    add_step(world, serial, "repair")
    add_step(world, serial, "qc_inspection", result="pass")
    reissued = world.http.post(
        f"/api/v1/certificates/{first['id']}/reissue", json={}, headers=world.headers(BRAND)
    )
    assert reissued.status_code == 201, reissued.text
    resolved = world.http.get(urlsplit(link).path, follow_redirects=False)
    assert resolved.status_code == 303
    assert resolved.headers["location"] == f"{base_of(world)}/v/{reissued.json()['number']}"
    # The old certificate's own code still names the old certificate.
    old = world.http.get(f"/api/v1/certificates/{first['number']}/qr.png")
    assert_png_code(old.content, f"{base_of(world)}/v/{first['number']}")


def test_qr_refusals(world: World, certificates: dict[str, dict[str, Any]]) -> None:
    plain = certificates["plain"]["number"]
    answer = world.http.get(f"/api/v1/certificates/{plain}/qr.png?form=gs1")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "no_gtin"
    assert world.http.get("/api/v1/certificates/HM-NO-SUCH/qr.svg").status_code == 404
    assert world.http.get(f"/api/v1/certificates/{plain}/qr.png?form=long").status_code == 422
    assert world.http.get(f"/api/v1/certificates/{plain}/qr.png?scale=0").status_code == 422


def poppler(tool: str, *args: str) -> str:
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout


#: Page sizes in PostScript points (ISO 216: A5 148 x 210 mm, A4 210 x 297 mm).
POINTS = {"A5": (419.53, 595.28), "A4": (595.28, 841.89)}


def page_size(path: Path) -> tuple[float, float]:
    found = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", poppler("pdfinfo", str(path)))
    assert found is not None
    return float(found.group(1)), float(found.group(2))


@pytest.mark.parametrize(("size", "lang"), [("A5", "zh"), ("A4", "en")])
def test_pdf_text_size_fonts_and_its_qr(
    world: World,
    certificates: dict[str, dict[str, Any]],
    tmp_path: Path,
    size: str,
    lang: str,
) -> None:
    number = certificates["gtin"]["number"]
    answer = world.http.get(
        f"/api/v1/certificates/{number}/pdf", params={"size": size, "lang": lang}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    path = tmp_path / f"{number}-{size}-{lang}.pdf"
    path.write_bytes(answer.content)
    assert page_size(path) == pytest.approx(POINTS[size], abs=0.1)
    text = "".join(poppler("pdftotext", "-enc", "UTF-8", str(path), "-").split())
    url = f"{base_of(world)}/v/{number}"
    for fact in (number, certificates["gtin"]["serial"], GTIN, "月光戒指", "Lune·3/50", url):
        assert fact in text, fact
    if lang == "zh":
        for chinese in ("真品与溯源证书", "材料与产地", "黄金", "南非", "生产摘要", "如何验证"):
            assert chinese in text, chinese
    else:
        for english in ("Materials and origins", "South Africa", "Production summary"):
            assert english.replace(" ", "") in text, english
        assert "真品" not in text
    assert "hallmarkverifycert.json--bundlebundle.json" in text
    for name in ("document", "bundle"):  # where a customer gets the files, without a key
        assert f"{base_of(world)}/api/v1/certificates/{number}/{name}" in text
    fonts = poppler("pdffonts", str(path)).splitlines()[2:]
    assert fonts, "the PDF names no font"
    for line in fonts:
        # name type encoding emb sub uni object ID: every font embedded (a subset).
        assert line.split()[-5] == "yes", line
    poppler("pdftoppm", "-r", "150", "-png", str(path), str(tmp_path / "page"))
    first = sorted(tmp_path.glob("page*.png"))[0]
    barcode = decode(Image.open(first))
    assert barcode.text == url
    assert barcode.ec_level == "M" and version_of(barcode) <= qr.MAX_VERSION


def test_pdf_language_follows_the_browser_and_refuses_bad_options(
    world: World, certificates: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    number = certificates["plain"]["number"]
    answer = world.http.get(
        f"/api/v1/certificates/{number}/pdf", headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-language"] == "zh-CN"
    path = tmp_path / "zh.pdf"
    path.write_bytes(answer.content)
    text = "".join(poppler("pdftotext", "-enc", "UTF-8", str(path), "-").split())
    assert "真品与溯源证书" in text and "本产品未关联已登记的设计" in text
    english = world.http.get(f"/api/v1/certificates/{number}/pdf")
    assert english.headers["content-language"] == "en"
    for params in ({"size": "A3"}, {"lang": "fr"}):
        refused = world.http.get(f"/api/v1/certificates/{number}/pdf", params=params)
        assert refused.status_code == 422
        assert set(refused.json()["error"]) == {"code", "message", "details"}
    assert world.http.get("/api/v1/certificates/HM-NO-SUCH/pdf").status_code == 404


def test_an_anchored_then_revoked_certificate_prints_its_block_then_its_revocation(
    world: World, tmp_path: Path
) -> None:
    certificate = issue(world, finished_product(world))
    anchor_all(world, [certificate["id"]])
    signed = world.http.get(f"/api/v1/certificates/{certificate['id']}/document").json()
    block = signed["proof"]["anchor"]["block"]

    def printed() -> str:
        answer = world.http.get(
            f"/api/v1/certificates/{certificate['number']}/pdf", params={"lang": "en"}
        )
        assert answer.status_code == 200, answer.text
        path = tmp_path / "printed.pdf"
        path.write_bytes(answer.content)
        return " ".join(poppler("pdftotext", "-enc", "UTF-8", str(path), "-").split())

    text = printed()
    assert f"block {block} · {signed['proof']['anchor']['transaction']}" in text
    assert "revoked" not in text
    revoked = world.http.post(
        f"/api/v1/certificates/{certificate['id']}/revocation",
        json={"reason": "lost_in_production"},
        headers=world.headers(BRAND),
    )
    assert revoked.status_code == 200, revoked.text
    assert "This certificate has been revoked (reason: Lost in production)" in printed()


def test_a_revoked_certificate_says_so_when_printed(
    world: World, certificates: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    number = certificates["plain"]["number"]
    signed = world.http.get(f"/api/v1/certificates/{number}/document").json()
    options = pdf.PrintOptions(
        size="A5",
        language="en",
        base_url=BASE,
        standing=pdf.Standing(status="revoked", reason="fraud"),
    )
    path = tmp_path / "revoked.pdf"
    path.write_bytes(pdf.render(signed, options))
    text = " ".join(poppler("pdftotext", "-enc", "UTF-8", str(path), "-").split())
    assert "This certificate has been revoked (reason: Fraud)" in text
    assert f"{BASE}/v/{number}" in text
    # The same document and options give the same bytes (nothing of the moment is printed).
    assert pdf.render(signed, options) == path.read_bytes()
    with pytest.raises(PdfFontMissingError):
        pdf.render(signed, pdf.PrintOptions(font=tmp_path / "no-such-font.ttf", base_url=BASE))


def test_cli_saves_the_qr_and_the_pdf(
    world: World, api_url: str, certificates: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    number = certificates["gtin"]["number"]
    key = world.keys[f"{BRAND}/brand"]

    def run(*args: str) -> Any:
        return CliRunner().invoke(
            app, ["certificates", *args, "--api-url", api_url, "--api-key", key]
        )

    png = tmp_path / "code.png"
    result = run("qr", number, "-o", str(png))
    assert result.exit_code == 0, result.output
    assert f"QR version {qr.encode(f'{base_of(world)}/v/{number}').version} of" in result.output
    assert_png_code(png.read_bytes(), f"{base_of(world)}/v/{number}")
    svg = tmp_path / "code.svg"
    result = run("qr", number, "-o", str(svg), "--form", "gs1")
    assert result.exit_code == 0, result.output
    assert decode(rasterise(svg.read_bytes())).text.endswith(
        f"/01/{GTIN}/21/{certificates['gtin']['serial']}"
    )
    target = tmp_path / "cert.pdf"
    result = run("pdf", number, "-o", str(target), "--size", "A4", "--lang", "zh")
    assert result.exit_code == 0, result.output
    assert page_size(target) == pytest.approx(POINTS["A4"], abs=0.1)
    refused = run("qr", certificates["plain"]["number"], "-o", str(svg), "--form", "gs1")
    assert refused.exit_code == 1
    assert "no GTIN" in refused.stderr.strip().splitlines()[-1]
    assert run("qr", number, "-o", str(tmp_path / "code.gif")).exit_code == 1
    assert run("pdf", number, "-o", str(target), "--size", "B5").exit_code == 1
