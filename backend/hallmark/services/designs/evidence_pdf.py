"""The evidence report as a PDF, in Chinese and English, with the same facts as the bundle.

Every text is set in one TrueType font that holds Chinese and Latin glyphs, embedded as a
subset, so the PDF reads the same on any machine (`hallmark.core.fonts`). For a comparison the
two pictures stand side by side. The report ends with the re-verification recipe
(docs/EVIDENCE.md).

Raises:
    PdfFontMissingError: no font that renders Chinese is installed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image as PdfImage,
)
from reportlab.platypus import (
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from hallmark.core.fonts import registered_font
from hallmark.services.designs.evidence import Evidence


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=11.5, wordWrap="CJK")
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontSize=15, leading=20, spaceAfter=4),
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=11, leading=15, spaceBefore=8, spaceAfter=3
        ),
        "note": ParagraphStyle(
            "note", parent=base, textColor=colors.HexColor("#7a3b00"), spaceBefore=2
        ),
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10),
    }


def render_pdf(evidence: Evidence, *, font: Path | None = None) -> bytes:
    """The PDF report of an evidence bundle, set in `font` (a TrueType file; by default the
    first of `hallmark.core.fonts.FONT_CANDIDATES` installed).

    Raises:
        PdfFontMissingError: no font that renders Chinese is installed.
    """
    font_name = registered_font(font)
    styles = _styles(font_name)
    bundle = evidence.bundle
    story: list[Any] = []

    def p(text: str, style: str = "body") -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), styles[style])

    def table(rows: list[tuple[str, Any]]) -> Table:
        data = [[p(label, "small"), p(_text(value), "small")] for label, value in rows]
        made = Table(data, colWidths=[52 * mm, 118 * mm])
        made.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), font_name),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f3f0ea")),
                ]
            )
        )
        return made

    registration = bundle["registration"]
    comparison = bundle.get("comparison")
    chain = bundle["chain"]
    priority = bundle["priority"]
    fingerprint = bundle["fingerprint"]
    owner = bundle["owner"]
    heading = (
        "设计比对证据报告 · Design comparison evidence"
        if comparison
        else ("设计登记证据报告 · Design registration evidence")
    )
    story.append(p(heading, "title"))
    story.append(p(f"登记号 Registration {registration['number']} · {registration['title']}", "h2"))
    story.append(p(f"生成时间 Generated {bundle['generated_at']} · {bundle['schema']}", "small"))
    story.append(p(bundle["note"]["zh"] + "\n" + bundle["note"]["en"], "note"))

    if comparison is not None:
        story.append(p("比对 · Comparison", "h2"))
        pictures = [
            _picture(evidence.registered_thumbnail, "登记设计 Registered", styles["body"]),
            _picture(evidence.suspect_thumbnail, "被比对文件 Suspect", styles["body"]),
        ]
        side = Table(
            [[pictures[0][0], pictures[1][0]], [p(pictures[0][1]), p(pictures[1][1])]],
            colWidths=[85 * mm, 85 * mm],
        )
        side.setStyle(
            TableStyle(
                [("FONTNAME", (0, 0), (-1, -1), font_name), ("ALIGN", (0, 0), (-1, -1), "CENTER")]
            )
        )
        story.append(side)
        suspect = comparison["suspect"]
        distances = comparison["distances"]
        engine = comparison["engine"]
        rows: list[tuple[str, Any]] = [
            ("被比对文件 Suspect file", suspect.get("filename") or "—"),
            ("SHA-256", suspect["sha256"]),
            ("ISCC Instance-Code", suspect["iscc"]["instance"]),
            ("ISCC Data-Code", suspect["iscc"]["data"]),
        ]
        if "image" in suspect["iscc"]:
            rows.append(("ISCC Image-Code", suspect["iscc"]["image"]))
        rows += [
            ("完全相同 Identical file", "是 yes" if distances["identical"] else "否 no"),
            ("Data-Code 距离 distance (bits / 64)", distances["data_code_bits"]),
        ]
        if "image_code_bits" in distances:
            rows.append(
                (
                    "Image-Code 距离 distance (bits / 64)",
                    f"{distances['image_code_bits']} (orientation "
                    f"{distances['image_code_orientation']}; all 8: "
                    f"{distances['image_code_bits_per_orientation']})",
                )
            )
        rows += [
            ("结构码距离 Structure-code distance", engine["structure_code_bits"]),
            ("几何内点 Geometric inliers", engine["inliers"]),
            ("覆盖率 Coverage of the registered design", engine["coverage"]),
            ("形状距离 Shape distance", engine["shape_distance"]),
            ("阈值 Thresholds", engine["thresholds"]),
            (
                "引擎提示 Engine prompt",
                "建议人工审查 flagged for a person's review"
                if engine["flagged"]
                else "未达提示阈值 below the review thresholds",
            ),
        ]
        story.append(table(rows))

    story.append(p("指纹 · Fingerprints", "h2"))
    rows = [
        ("SHA-256", fingerprint["sha256"]),
        ("文件 File", f"{fingerprint['kind']}, {fingerprint['size']} bytes"),
        ("ISCC Instance-Code", fingerprint["iscc"]["instance"]),
        ("ISCC Data-Code", fingerprint["iscc"]["data"]),
    ]
    for number, code in enumerate(fingerprint["iscc"].get("image", [])):
        rows.append((f"ISCC Image-Code ({number})", code))
    rows.append(("链上感知码 perceptualCode", fingerprint["perceptual_code"]))
    story.append(table(rows))

    story.append(p("链上登记 · Registration on chain", "h2"))
    event = chain["event"]
    story.append(
        table(
            [
                ("链 ID Chain id", chain["chain_id"]),
                ("登记合约 DesignRegistry", chain["contract"]),
                ("账本合约 ProvenanceLedger", chain["ledger"]),
                ("登记交易 Transaction", chain["transaction"]),
                ("区块号 Block number", chain["block_number"]),
                ("区块哈希 Block hash", chain["block_hash"]),
                ("区块时间 Block time", f"{chain['block_time']} ({chain['block_timestamp']})"),
                ("登记账户 Registrant", chain["registrant"]),
                ("日志 DesignRegistered log", event),
                ("designOf（当前 now）", chain["design_of"]),
            ]
        )
    )

    story.append(p("权利人与授权 · Owner and authorization", "h2"))
    documents = bundle["documents"]
    story.append(
        table(
            [
                ("权利人参考 Owner reference", owner["reference"]),
                ("盐 Salt", owner["salt"]),
                ("链上 ownerRef (log)", owner["ref_on_chain"]),
                ("当前 ownerRef (designOf)", owner["current_ref_on_chain"]),
                ("重算 Recompute", owner["recompute"]),
                ("授权级别 Authorization level", bundle["authorization"]["level"]),
                ("签署文件 Signed document SHA-256", documents["authorization"] or "—"),
                ("许可 Licences", documents["licences"] or "—"),
                ("设计师 Designers", ", ".join(registration["designers"]) or "—"),
                ("谱系 Lineage (parent first)", ", ".join(registration["lineage"]) or "—"),
            ]
        )
    )

    story.append(p("元数据 · Metadata document", "h2"))
    story.append(table([("SHA-256 (metadataHash)", bundle["metadata"]["sha256"])]))
    story.append(p(bundle["metadata"]["document"], "small"))

    story.append(p("优先权证据 · Priority evidence", "h2"))
    story.append(
        table(
            [
                ("承诺值 Commitment", priority["commitment"]),
                ("承诺盐 Salt", priority["salt"]),
                ("叶子 Leaf", priority["leaf"]),
                ("批次根 Batch root", priority["batch_root"]),
                ("锚定账户 Anchorer", priority["anchorer"]),
                ("默克尔证明 Proof", priority["proof"] or "— (a batch of one)"),
                ("verifyRecord", priority["verify_record"]),
                ("锚定交易 Anchoring transaction", priority["anchor_transaction"]),
                ("锚定区块 Anchoring block", priority["anchor_block"]),
                ("锚定区块哈希 Anchoring block hash", priority["anchor_block_hash"]),
                (
                    "申请时间 Filed at",
                    f"{priority['filed_time']} (block {priority['filed_block']})",
                ),
                ("确定时间 Final at", priority["final_time"]),
            ]
        )
    )

    story.append(p("第三方复核步骤 · Re-verification recipe", "h2"))
    for number, step in enumerate(bundle["recipe"], 1):
        story.append(p(f"{number}. {step['zh']}\n   {step['en']}", "small"))
        story.append(Spacer(1, 2))

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Hallmark evidence {registration['number']}",
        author="Hallmark",
        invariant=1,
        # The canvas's first text state names a font too: ours, so every font is embedded.
        initialFontName=font_name,
    )
    document.build(story)
    return out.getvalue()


def _picture(data: bytes | None, caption: str, style: ParagraphStyle) -> tuple[Any, str]:
    if data is None:
        return Paragraph(escape("（无图像 no picture）"), style), caption
    with Image.open(io.BytesIO(data)) as picture:
        width, height = picture.size
    scale = min(70 * mm / width, 70 * mm / height)
    return PdfImage(io.BytesIO(data), width=width * scale, height=height * scale), caption


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
