"""Printable lists (PDF) and spreadsheet-safe CSV for the site operations: the evacuation
list and the inspector's ledger.

PDF with fpdf2 (pure Python, well kept, no system libraries; reportlab was the heavier
alternative). Its built-in Helvetica covers Latin-1, which holds Swedish; a character outside
it is printed as its closest Latin-1 form (accents dropped) or "?", so a name never breaks the
printout. A PDF is a document for paper: the time it was made stands on every page.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fpdf import FPDF

from entryfy.ops.names import FORMULA_START


def cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula."""
    # A set lookup of the first character: this runs for every cell of a 10,000-row list.
    if isinstance(value, str) and value[:1] in FORMULA_START:
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    return "".join(csv_stream(header, rows))


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]], *,
               batch: int = 500) -> Iterator[str]:
    """The CSV in pieces of ``batch`` rows: a response streamed from a database cursor keeps
    at most one batch in memory, whatever the number of rows."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for i, row in enumerate(rows, 1):
        w.writerow([cell(v) for v in row])
        if i % batch == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def latin1(text: Any) -> str:
    s = "" if text is None else str(text)
    try:
        s.encode("latin-1")
        return s
    except UnicodeEncodeError:
        out = []
        for ch in s:
            try:
                ch.encode("latin-1")
                out.append(ch)
            except UnicodeEncodeError:
                base = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode()
                out.append(base or "?")
        return "".join(out)


def local(t: dt.datetime | None, zone: str) -> str:
    if t is None:
        return ""
    return t.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


class _Doc(FPDF):
    def __init__(self, title: str, stamp: str) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self._title, self._stamp = title, stamp
        self.set_auto_page_break(auto=True, margin=12)
        self.set_creator("Entryfy")
        self.set_title(latin1(title))

    def header(self) -> None:
        self.set_font("Helvetica", "B", 13)
        self.cell(0, 7, latin1(self._title), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)
        self.cell(0, 5, latin1(self._stamp), new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, f"{self.page_no()}/{{nb}}", align="R")


def pdf_table(title: str, stamp: str, lines: Sequence[str],
              sections: Sequence[tuple[str, Sequence[str], Sequence[float],
                                       Iterable[Sequence[Any]]]]) -> bytes:
    """A landscape A4 document: ``title`` and ``stamp`` on every page, ``lines`` of text,
    then each section: (heading, column names, column widths in mm, rows)."""
    doc = _Doc(title, stamp)
    doc.alias_nb_pages()
    doc.add_page()
    doc.set_font("Helvetica", "", 10)
    for line in lines:
        doc.cell(0, 5, latin1(line), new_x="LMARGIN", new_y="NEXT")
    for heading, columns, widths, rows in sections:
        doc.ln(3)
        doc.set_font("Helvetica", "B", 11)
        doc.cell(0, 6, latin1(heading), new_x="LMARGIN", new_y="NEXT")
        doc.set_font("Helvetica", "B", 8)
        for name, w in zip(columns, widths, strict=True):
            doc.cell(w, 5, latin1(name), border=1)
        doc.ln()
        doc.set_font("Helvetica", "", 8)
        for row in rows:
            for value, w in zip(row, widths, strict=True):
                text = latin1(value)
                # Clip to the column: a long name must not run into the next one.
                while text and doc.get_string_width(text) > w - 1.5:
                    text = text[:-1]
                doc.cell(w, 5, text, border=1)
            doc.ln()
    return bytes(doc.output())
