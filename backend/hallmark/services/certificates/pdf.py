"""The printable certificate: a PDF of the signed document, A5 or A4, in Chinese or in English.

One language per PDF: the customer reads one language, and a piece's card or folder (A5) has no
room for every statement twice; the brand prints the language the customer asked for (the API
picks the browser's language when none is named). Both editions state the same facts, from the
same signed document, made on demand (nothing is stored), the same document giving the same
bytes:

- the brand, the certificate number and date, and the QR code of the short link to the verify
  page (`qr`), with the link written out;
- the product (name, serial, category, GTIN, edition n/N, engraving summary);
- the materials and their origins (material, grade, quantity drawn, origin, supplier, recycled
  or lab-grown, external certificates), with the carbon footprint and the recycled share;
- the production summary (factory, steps, period, final QC, head of the step chain);
- the design registration (or that none is named);
- how to verify: the link, and `hallmark verify` with only the files and any node of the chain,
  with the certificate hash, signer, chain and ledger the check starts from.

A certificate revoked or superseded when printed says so at the top. Every text is set in the
one font with Chinese glyphs (`hallmark.core.fonts`), embedded.

Raises:
    PdfFontMissingError: no font that renders Chinese is installed.
    QrTooLongError, PublicBaseUrlMissingError: the link cannot be made (`qr`).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import pycountry
from babel.dates import format_datetime
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, A5
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.orm import Session

from hallmark.core.fonts import registered_font
from hallmark.services.certificates import document as doc
from hallmark.services.certificates import evidence, qr
from hallmark.store.models import Certificate

Size = Literal["A5", "A4"]
Language = Literal["zh", "en"]
PAGE_SIZES: dict[str, tuple[float, float]] = {"A5": A5, "A4": A4}

#: Labels of the certificate, in each language.
LABELS: dict[str, dict[str, str]] = {
    "title": {"zh": "真品与溯源证书", "en": "Certificate of Authenticity and Provenance"},
    "number": {"zh": "证书编号", "en": "Certificate number"},
    "issued": {"zh": "签发时间", "en": "Issued"},
    "issuer": {"zh": "签发品牌", "en": "Issued by"},
    "scan": {"zh": "扫码验证", "en": "Scan to verify"},
    "product": {"zh": "产品", "en": "Product"},
    "name": {"zh": "名称", "en": "Name"},
    "serial": {"zh": "序列号", "en": "Serial"},
    "category": {"zh": "类别", "en": "Category"},
    "gtin": {"zh": "GTIN 商品条码", "en": "GTIN"},
    "edition": {"zh": "限量编号", "en": "Edition"},
    "engraving": {"zh": "刻字", "en": "Engraving"},
    "materials": {"zh": "材料与产地", "en": "Materials and origins"},
    "material": {"zh": "材料", "en": "Material"},
    "grade": {"zh": "成色/等级", "en": "Grade"},
    "quantity": {"zh": "用量", "en": "Quantity"},
    "origin": {"zh": "产地", "en": "Origin"},
    "supplier": {"zh": "供应商", "en": "Supplier"},
    "notes": {"zh": "说明", "en": "Notes"},
    "recycled": {"zh": "再生材料", "en": "recycled"},
    "lab_grown": {"zh": "实验室培育", "en": "lab-grown"},
    "carbon": {"zh": "碳足迹", "en": "Carbon footprint"},
    "recycled_share": {"zh": "再生材料占比（按质量）", "en": "Recycled share (by mass)"},
    "production": {"zh": "生产摘要", "en": "Production summary"},
    "factory": {"zh": "工厂", "en": "Factory"},
    "steps": {"zh": "工序", "en": "Steps"},
    "period": {"zh": "生产期间", "en": "Made"},
    "final_qc": {"zh": "终检", "en": "Final inspection"},
    "step_chain": {"zh": "工序链头哈希", "en": "Step chain head"},
    "design": {"zh": "设计登记", "en": "Design registration"},
    "no_design": {
        "zh": "本产品未关联已登记的设计。",
        "en": "No registered design is named for this piece.",
    },
    "verify": {"zh": "如何验证", "en": "How to verify"},
    "verify_scan": {
        "zh": "用手机扫描二维码，或打开：",
        "en": "Scan the QR code with a phone, or open:",
    },
    "verify_offline": {
        "zh": "无需信任 Hallmark 服务器：下载签名证书文件与溯源包，用该链的任一 JSON-RPC 节点核验"
        "（算法见 docs/VERIFY.md）：",
        "en": "Without trusting Hallmark's server: download the signed certificate and its "
        "provenance bundle and check them against any JSON-RPC node of the chain (the algorithm "
        "is in docs/VERIFY.md):",
    },
    "facts": {"zh": "核验依据", "en": "What the check starts from"},
    "hash": {"zh": "证书哈希", "en": "Certificate hash"},
    "signer": {"zh": "签名账户", "en": "Signed by account"},
    "chain": {"zh": "链 ID / 账本合约", "en": "Chain id / ledger contract"},
    "anchored": {"zh": "上链", "en": "Anchored"},
    "not_anchored": {
        "zh": "打印时尚未上链（稍后可核验）",
        "en": "not yet on chain when printed (verifiable once anchored)",
    },
    "block": {"zh": "区块", "en": "block"},
    "revoked": {"zh": "本证书已撤销", "en": "This certificate has been revoked"},
    "superseded": {"zh": "本证书已被取代", "en": "This certificate has been superseded"},
    "successor": {"zh": "新证书", "en": "by certificate"},
    "reason": {"zh": "原因", "en": "reason"},
    "printed": {
        "zh": "本页由签名证书文件生成；证书是否有效以链上状态为准。",
        "en": "Printed from the signed certificate document; the chain holds its current status.",
    },
    "yes": {"zh": "是", "en": "yes"},
    "pass": {"zh": "合格", "en": "Passed"},
    "fail": {"zh": "不合格", "en": "Failed"},
}

#: Record vocabulary that English writes otherwise than "Capitalised with spaces".
VOCABULARY_EN: dict[str, str] = {
    "gia_report": "GIA report",
    "sge_bar_serial": "SGE bar serial",
    "kimberley_process": "Kimberley Process certificate",
    "fsc": "FSC",
    "sgs": "SGS",
    "qc_inspection": "QC inspection",
    "wax_3d_print": "Wax / 3D print",
    "g": "g",
    "ct": "ct",
}
#: The records' vocabularies in Chinese.
VOCABULARY_ZH: dict[str, str] = {
    # categories
    "ring": "戒指",
    "pendant": "吊坠",
    "necklace": "项链",
    "bracelet": "手链",
    "earrings": "耳饰",
    "brooch": "胸针",
    "medal": "奖章",
    "gift_item": "礼品",
    "other": "其他",
    # materials
    "diamond": "钻石",
    "lab_grown_diamond": "培育钻石",
    "gold": "黄金",
    "platinum": "铂金",
    "silver": "白银",
    "gemstone": "宝石",
    "pearl": "珍珠",
    "enamel": "珐琅",
    "leather": "皮革",
    "wood": "木材",
    "paper": "纸",
    # units
    "g": "克",
    "ct": "克拉",
    "pieces": "件",
    # step kinds
    "wax_3d_print": "蜡模/3D 打印",
    "casting": "铸造",
    "stone_setting": "镶嵌",
    "laser_engraving": "激光刻字",
    "polishing": "抛光",
    "plating": "电镀",
    "qc_inspection": "质检",
    "packaging": "包装",
    "shipping": "发货",
    "repair": "维修",
    # external certificates
    "gia_report": "GIA 报告",
    "sge_bar_serial": "上海黄金交易所金条编号",
    "kimberley_process": "金伯利进程证书",
    "fsc": "FSC",
    "sgs": "SGS",
    "assay_report": "检测报告",
    # revocation reasons
    "issued_in_error": "误签发",
    "data_error": "数据错误",
    "key_compromised": "密钥泄露",
    "withdrawn": "撤回",
    "lost_in_production": "生产中遗失",
    "fraud": "欺诈",
}


@dataclass(frozen=True, slots=True)
class Standing:
    """Where the certificate stood when printed (Hallmark's cache of the chain)."""

    status: str = "valid"
    reason: str | None = None
    successor: str | None = None


@dataclass(frozen=True, slots=True)
class PrintOptions:
    size: Size = "A5"
    language: Language = "zh"
    #: The public base URL of the link in the QR code (`qr.verify_url`).
    base_url: str | None = None
    font: Path | None = None
    timezone: str = "UTC"
    standing: Standing = Standing()


def certificate_pdf(
    *,
    session: Session,
    certificate: Certificate,
    deployment: Mapping[str, Any],
    options: PrintOptions,
) -> bytes:
    """The printable certificate of a stored certificate, from its signed document."""
    signed = evidence.signed_document(session, certificate, deployment)
    successor = None
    if certificate.superseded_by_id is not None:
        found = session.get(Certificate, certificate.superseded_by_id)
        successor = found.number if found is not None else certificate.superseded_by_id
    reasons = {number: name for name, number in doc.REVOCATION_REASONS.items()}
    standing = Standing(
        status=certificate.status,
        reason=reasons.get(certificate.revoke_reason or 0),
        successor=successor,
    )
    return render(signed, replace(options, standing=standing))


@cache
def _countries(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])


class _Words:
    """Labels, vocabulary, countries and times in one language."""

    def __init__(self, language: Language, timezone: str) -> None:
        self.language = language
        self.zone = ZoneInfo(timezone)

    def __call__(self, label: str) -> str:
        return LABELS[label][self.language]

    def said(self, label: str, value: str) -> str:
        """The label, the language's own colon, the value."""
        return f"{self(label)}：{value}" if self.language == "zh" else f"{self(label)}: {value}"

    def aside(self, text: str) -> str:
        """The text in the language's own parentheses."""
        return f"（{text}）" if self.language == "zh" else f" ({text})"

    def term(self, value: Any) -> str:
        if value is None or value == "":
            return "—"
        text = str(value)
        if self.language == "zh":
            return VOCABULARY_ZH.get(text, text)
        if text in VOCABULARY_EN:
            return VOCABULARY_EN[text]
        spaced = text.replace("_", " ")
        return spaced[:1].upper() + spaced[1:]

    def country(self, code: str | None) -> str:
        if not code:
            return ""
        found = pycountry.countries.get(alpha_2=code)
        if found is None:
            return code
        return _countries(self.language).gettext(found.name)

    def moment(self, value: str | None) -> str:
        if not value:
            return "—"
        local = datetime.fromisoformat(value).astimezone(self.zone)
        formatted = format_datetime(local, "medium", tzinfo=self.zone, locale=self.language)
        return f"{formatted} {local:%Z}"

    def day(self, value: str | None) -> str:
        if not value:
            return "—"
        local = datetime.fromisoformat(value).astimezone(self.zone)
        return local.strftime("%Y-%m-%d")


class QrFlowable(Flowable):  # type: ignore[misc]
    """A QR code drawn as vector rectangles from the qrcode library's module matrix: the printed
    symbol is the very one `qr.encode` made (and /qr.svg serves), sharp at any print size;
    reportlab's own QR widget would encode the URL again by its own rules."""

    def __init__(self, modules: list[list[bool]], size: float) -> None:
        super().__init__()
        self.modules = modules
        self.width = self.height = size

    def draw(self) -> None:
        canvas = self.canv
        count = len(self.modules)
        unit = self.width / count
        canvas.setFillColor(colors.white)
        canvas.rect(0, 0, self.width, self.height, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        for row, line in enumerate(self.modules):
            column = 0
            while column < count:  # one rectangle per run of dark modules
                if not line[column]:
                    column += 1
                    continue
                start = column
                while column < count and line[column]:
                    column += 1
                top = self.height - (row + 1) * unit
                canvas.rect(start * unit, top, (column - start) * unit, unit, stroke=0, fill=1)


def render(signed: Mapping[str, Any], options: PrintOptions) -> bytes:
    """The PDF of a signed certificate document.

    Raises:
        PdfFontMissingError, QrTooLongError, PublicBaseUrlMissingError: see the module.
    """
    font = registered_font(options.font)
    words = _Words(options.language, options.timezone)
    small_page = options.size == "A5"
    page_width, page_height = PAGE_SIZES[options.size]
    margin = (10 if small_page else 18) * mm
    width = page_width - 2 * margin
    base_size = 7.2 if small_page else 9.0
    body = ParagraphStyle(
        "body", fontName=font, fontSize=base_size, leading=base_size * 1.3, wordWrap="CJK"
    )
    styles = {
        "body": body,
        "title": ParagraphStyle(
            "title", parent=body, fontSize=base_size * 1.9, leading=base_size * 2.4
        ),
        "brand": ParagraphStyle(
            "brand", parent=body, fontSize=base_size * 1.3, leading=base_size * 1.8
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontSize=base_size * 1.25,
            leading=base_size * 1.7,
            spaceBefore=base_size * 0.7,
            spaceAfter=base_size * 0.2,
            textColor=colors.HexColor("#5a4318"),
        ),
        "small": ParagraphStyle(
            "small", parent=body, fontSize=base_size * 0.85, leading=base_size * 1.15
        ),
        "code": ParagraphStyle(
            "code",
            parent=body,
            fontSize=base_size * 0.85,
            leading=base_size * 1.15,
            leftIndent=base_size,
            textColor=colors.HexColor("#222222"),
        ),
        "banner": ParagraphStyle(
            "banner",
            parent=body,
            fontSize=base_size * 1.3,
            leading=base_size * 1.8,
            textColor=colors.white,
            backColor=colors.HexColor("#a32020"),
            borderPadding=base_size * 0.4,
            spaceAfter=base_size,
        ),
    }

    def p(text: str, style: str = "body") -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), styles[style])

    grid = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c9bfa8")),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]

    def pairs(rows: list[tuple[str, str]], *, value_style: str = "body") -> Table:
        table = Table(
            [[p(label, "small"), p(value, value_style)] for label, value in rows],
            colWidths=[width * 0.27, width * 0.73],
        )
        table.setStyle(
            TableStyle([*grid, ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f4efe4"))])
        )
        return table

    subject = signed["credentialSubject"]
    product = subject["product"]
    proof = signed["proof"]
    names = {org["id"]: org["name"] for org in subject.get("organisations", [])}
    url = qr.verify_url(options.base_url, subject["certificateNumber"])
    code = qr.encode(url)
    story: list[Any] = []

    standing = options.standing
    if standing.status == "revoked":
        reason = words.aside(words.said("reason", words.term(standing.reason)))
        reason = reason if standing.reason else ""
        story.append(p(words("revoked") + reason, "banner"))
    elif standing.status == "superseded":
        successor = f" {words('successor')} {standing.successor}" if standing.successor else ""
        story.append(p(words("superseded") + successor, "banner"))

    qr_size = (28 if small_page else 42) * mm
    heading = [
        p(subject["brand"]["name"], "brand"),
        p(words("title"), "title"),
        Spacer(1, base_size * 0.5),
        p(words.said("number", subject["certificateNumber"])),
        p(words.said("issued", words.moment(signed.get("validFrom")))),
        p(words.said("issuer", signed["issuer"]["name"])),
    ]
    scan = [QrFlowable(code.modules(), qr_size), p(words("scan"), "small")]
    header = Table([[heading, scan]], colWidths=[width - qr_size - 4 * mm, qr_size + 4 * mm])
    header.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (1, 0), (1, 0), "CENTER"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor("#b08d3c")),
                ("BOTTOMPADDING", (0, 0), (-1, -1), base_size * 0.6),
            ]
        )
    )
    story.append(header)

    story.append(p(words("product"), "h2"))
    edition = product.get("edition")
    rows = [
        (words("name"), str(product.get("name") or "—")),
        (words("serial"), str(product["serial"])),
        (words("category"), words.term(product.get("category"))),
    ]
    if product.get("gtin"):
        rows.append((words("gtin"), str(product["gtin"])))
    if edition:
        rows.append(
            (words("edition"), f"{edition['series']} · {edition['number']}/{edition['size']}")
        )
    if product.get("engraving"):
        rows.append((words("engraving"), str(product["engraving"])))
    story.append(pairs(rows))

    story.append(p(words("materials"), "h2"))
    header_row = [
        p(words(label), "small")
        for label in ("material", "grade", "quantity", "origin", "supplier", "notes")
    ]
    material_rows: list[list[Any]] = [header_row]
    for material in subject.get("materials", []):
        origin = material.get("origin") or {}
        where = ", ".join(
            part for part in (origin.get("name"), words.country(origin.get("country"))) if part
        )
        notes = []
        if material.get("recycled"):
            notes.append(words("recycled"))
        if material.get("labGrown"):
            notes.append(words("lab_grown"))
        for certificate in material.get("certificates") or []:
            notes.append(f"{words.term(certificate.get('kind'))} {certificate.get('number', '')}")
        drawn = material.get("drawn") or {}
        supplier = str(material.get("supplier") or "")
        material_rows.append(
            [
                p(words.term(material.get("material")), "small"),
                p(str(material.get("grade") or "—"), "small"),
                p(f"{drawn.get('quantity', '—')} {words.term(drawn.get('unit'))}", "small"),
                p(where or "—", "small"),
                p(names.get(supplier, supplier or "—"), "small"),
                p("; ".join(notes) or "—", "small"),
            ]
        )
    shares = [0.15, 0.13, 0.13, 0.22, 0.17, 0.20]
    materials = Table(material_rows, colWidths=[width * share for share in shares], repeatRows=1)
    materials.setStyle(
        TableStyle([*grid, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f4efe4"))])
    )
    story.append(materials)
    footprint = subject.get("carbonFootprint") or {}
    extras = []
    if footprint.get("kgCO2e") is not None:
        extras.append(words.said("carbon", f"{footprint['kgCO2e']} kg CO₂e"))
    if subject.get("recycledShare") is not None:
        share = float(subject["recycledShare"]) * 100
        extras.append(words.said("recycled_share", f"{share:.1f} %"))
    if extras:
        story.append(Spacer(1, base_size * 0.3))
        story.append(p(" · ".join(extras), "small"))

    story.append(p(words("production"), "h2"))
    production = subject["production"]
    kinds = " → ".join(words.term(kind) for kind in production.get("kinds", []))
    final_qc = production.get("finalQc") or {}
    result = final_qc.get("result")
    verdict = words(result) if result in ("pass", "fail") else "—"
    story.append(
        pairs(
            [
                (words("factory"), names.get(production["factory"], production["factory"])),
                (words("steps"), f"{production.get('steps')} · {kinds}"),
                (
                    words("period"),
                    f"{words.day(production.get('firstStepAt'))} – "
                    f"{words.day(production.get('lastStepAt'))}",
                ),
                (words("final_qc"), f"{verdict} · {words.moment(final_qc.get('at'))}"),
                (words("step_chain"), str(production.get("stepChainHead") or "—")),
            ]
        )
    )

    story.append(p(words("design"), "h2"))
    design = subject.get("design")
    if not design:
        story.append(p(words("no_design")))
    else:
        story.append(pairs([(str(key), _text(value)) for key, value in design.items()]))

    story.append(p(words("verify"), "h2"))
    number = subject["certificateNumber"]
    story.append(p(f"1. {words('verify_scan')}"))
    story.append(p(url, "code"))
    story.append(p(f"2. {words('verify_offline')}"))
    # The files are public (no API key): a customer downloads them from these addresses.
    files = qr.file_urls(options.base_url, number)
    story.append(
        p(
            f"cert.json ← {files['document']}\nbundle.json ← {files['bundle']}\n"
            "hallmark verify cert.json --bundle bundle.json --rpc <RPC URL>",
            "code",
        )
    )
    anchor = proof.get("anchor")
    anchored = (
        f"{words('block')} {anchor['block']} · {anchor['transaction']}"
        if anchor
        else words("not_anchored")
    )
    story.append(Spacer(1, base_size * 0.4))
    story.append(
        pairs(
            [
                (words("hash"), str(proof["certificateHash"])),
                (words("signer"), str(proof["signer"])),
                (words("chain"), f"{proof['chainId']} / {proof['deployment']['ledger']}"),
                (words("anchored"), anchored),
            ],
            value_style="small",
        )
    )

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=(page_width, page_height),
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=f"{words('title')} {number}",
        author=str(subject["brand"]["name"]),
        subject=url,
        invariant=1,
        # The canvas's first text state names a font too: ours, so every font is embedded.
        initialFontName=font,
    )

    def footer(canvas: Any, _document: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, base_size * 0.8)
        canvas.setFillColor(colors.HexColor("#666666"))
        y = margin * 0.5
        canvas.drawString(margin, y, words("printed"))
        canvas.drawRightString(page_width - margin, y, f"{number} · {canvas.getPageNumber()}")
        canvas.restoreState()

    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {_text(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    return str(value)
