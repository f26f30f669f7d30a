"""Printable door signs: the door's Entry and Exit codes as QR images, in SVG, PNG or PDF.

A phone scans the sign and posts the code to ``POST /api/v1/doors/scan``; the codes are not
secrets (anyone passing the door sees them), the decision is made by the access rules. The QR
codes are drawn by segno (pure Python, no native dependency), the PNG is put together with
Pillow and the PDF with fpdf2 (which brings Pillow): well-kept libraries rather than our own
image code. reportlab was ruled out as the larger dependency for one page of two images.
"""

from __future__ import annotations

import dataclasses
import html
import io
import re
import unicodedata

import segno

from models import Door, Site

FORMATS = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}


@dataclasses.dataclass(frozen=True)
class Sign:
    body: bytes
    mimetype: str
    filename: str


def _labels(lang: str) -> tuple[str, str, str]:
    if lang == "sv":
        return "IN", "UT", "Skanna med Entryfy-appen"
    return "ENTRY", "EXIT", "Scan with the Entryfy app"


def _slug(name: str) -> str:
    # ASCII only: the file name travels in a header (Grind Ö1 -> grind-o1).
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    out = "".join(c if c.isalnum() else "-" for c in ascii_name.lower()).strip("-")
    return "-".join(p for p in out.split("-") if p)[:60] or "door"


def _qr(code: str) -> segno.QRCode:
    # Level M survives a scuffed print; the code itself is short.
    return segno.make(code, error="m", micro=False)


def _svg(door: Door, site: Site, lang: str) -> bytes:
    entry, exit_, hint = _labels(lang)
    width, height = 595, 842  # A4 in points
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(door.name)}">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2}" y="70" font-family="sans-serif" font-size="30" '
        f'text-anchor="middle" font-weight="bold">{html.escape(door.name)}</text>',
        f'<text x="{width / 2}" y="100" font-family="sans-serif" font-size="16" '
        f'text-anchor="middle">{html.escape(site.name)}</text>',
    ]
    size = 300
    for i, (label, code) in enumerate(((entry, door.entry_code), (exit_, door.exit_code))):
        y = 140 + i * 340
        symbol = _qr(code)
        qr = symbol.svg_inline(scale=1, border=4, dark="#000", light="#fff")
        # segno's inline SVG sizes itself by the module count; a viewBox lets it scale.
        n = symbol.symbol_size(scale=1, border=4)[0]
        qr = qr.replace("<svg ", f'<svg x="{(width - size) / 2}" y="{y}" viewBox="0 0 {n} {n}" ',
                        1)
        qr = _resize(qr, size)
        parts.append(qr)
        parts.append(f'<text x="{width / 2}" y="{y + size + 26}" font-family="sans-serif" '
                     f'font-size="22" text-anchor="middle" font-weight="bold">{label}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 30}" font-family="sans-serif" '
                 f'font-size="14" text-anchor="middle">{html.escape(hint)}</text>')
    parts.append("</svg>")
    return "\n".join(parts).encode()


def _resize(svg: str, size: int) -> str:
    head, _, rest = svg.partition(">")
    head = re.sub(r'\swidth="[^"]*"', "", head)
    head = re.sub(r'\sheight="[^"]*"', "", head)
    return f'{head} width="{size}" height="{size}">{rest}'


def _qr_png(code: str, scale: int) -> bytes:
    buf = io.BytesIO()
    _qr(code).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def qr_png(code: str, scale: int = 8) -> bytes:
    """One code as a PNG (e.g. a guest's QR in their e-mail)."""
    return _qr_png(code, scale)


def _png(door: Door, site: Site, lang: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    entry, exit_, hint = _labels(lang)
    width, height = 1240, 1754  # A4 at 150 dpi
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    big, mid, small = (ImageFont.load_default(size=s) for s in (64, 36, 30))
    draw.text((width / 2, 120), door.name, fill="black", font=big, anchor="mm")
    draw.text((width / 2, 190), site.name, fill="black", font=small, anchor="mm")
    for i, (label, code) in enumerate(((entry, door.entry_code), (exit_, door.exit_code))):
        qr = Image.open(io.BytesIO(_qr_png(code, 1))).convert("RGB")
        qr = qr.resize((620, 620), Image.Resampling.NEAREST)
        y = 260 + i * 720
        img.paste(qr, ((width - 620) // 2, y))
        draw.text((width / 2, y + 660), label, fill="black", font=mid, anchor="mm")
    draw.text((width / 2, height - 60), hint, fill="black", font=small, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _latin1(text: str) -> str:
    # The PDF's core font covers Latin-1 (Swedish included); anything else becomes "?".
    return text.encode("latin-1", "replace").decode("latin-1")


def _pdf(door: Door, site: Site, lang: str) -> bytes:
    from fpdf import FPDF

    entry, exit_, hint = _labels(lang)
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(door.name))
    pdf.set_creator("Entryfy")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 24)
    pdf.cell(0, 14, _latin1(door.name), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 13)
    pdf.cell(0, 8, _latin1(site.name), align="C", new_x="LMARGIN", new_y="NEXT")
    size = 95
    for i, (label, code) in enumerate(((entry, door.entry_code), (exit_, door.exit_code))):
        y = 45 + i * 118
        pdf.image(io.BytesIO(_qr_png(code, 10)), x=(210 - size) / 2, y=y, w=size, h=size)
        pdf.set_xy(10, y + size + 2)
        pdf.set_font("Helvetica", "B", 18)
        pdf.cell(190, 10, label, align="C")
    pdf.set_xy(10, 280)
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(190, 8, _latin1(hint), align="C")
    return bytes(pdf.output())


def door_sign(door: Door, site: Site, fmt: str = "svg", lang: str = "en") -> Sign:
    """The door's sign in ``fmt`` (svg, png or pdf), labelled in ``lang`` (sv or en)."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    body = {"svg": _svg, "png": _png, "pdf": _pdf}[fmt](door, site, lang)
    return Sign(body, FORMATS[fmt], f"door-sign-{_slug(door.name)}.{fmt}")
