"""The observatory as files: one long-format CSV for spreadsheets and a printable PDF report (fpdf2)."""
from __future__ import annotations

import csv
import io
from datetime import datetime

from fpdf import FPDF
from fpdf.fonts import FontFace

from knowledge.statistics import PARIS, Report, french_number
from referentiel import spreadsheet_cell

CSV_HEADER = ["indicateur", "code", "libellé", "mesure", "valeur"]
def _csv_value(value) -> str:
    if value is None:
        return ""
    return str(value).replace(".", ",") if isinstance(value, float) else str(value)


def to_csv(report: Report) -> str:
    """Long format (indicator; code; label; measure; value), `;`-separated, UTF-8 with a BOM for French Excel."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerow(["total", "", "Déclarations de la sélection", "Nombre de dossiers", report.total])  # fixed text
    for indicator in report.indicators:
        for code, label, *values in indicator.rows:
            for column, value in zip(indicator.columns, values):
                writer.writerow([*(spreadsheet_cell(text) for text in (indicator.title, code, label, column)), _csv_value(value)])
    return "\ufeff" + out.getvalue()


def _latin1(text: str) -> str:
    # The PDF's standard fonts are Latin-1: French letters and « » are in it, typographic extras are mapped.
    text = text.replace("\u2019", "'").replace("\u202f", "\u00a0").replace("\u2013", "-").replace("\u2014", "-")
    return text.encode("latin-1", "replace").decode("latin-1")


class _Report(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report_title = title
        self.set_title(title)
        self.set_lang("fr-FR")
        self.set_creator("Signalement SSI santé")
        self.set_auto_page_break(True, margin=15)

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, _latin1(f"{self.report_title} - page {self.page_no()}/{{nb}}"), align="C")


def _para(pdf: FPDF, height: float, text: str) -> None:
    pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


# Colours (RGB) of the report: dark text on light backgrounds everywhere (WCAG AA: contrast >= 4.5).
TEXT = (22, 22, 22)
WHITE = (255, 255, 255)
HEADING_FILL = (227, 227, 253)
ROW_FILL = (246, 246, 246)
BAR = (0, 0, 145)


def _bars(pdf: FPDF, rows: list, width: float = 100.0) -> None:
    """Horizontal bars of the first value of each row, scaled on the largest (a simple chart); each label is
    written whole, over as many lines as it needs."""
    largest = max((r[2] or 0 for r in rows), default=0)
    if not largest:
        return
    pdf.set_font("Helvetica", size=7)
    pdf.set_text_color(*TEXT)
    for _code, label, value, *_rest in rows:
        lines = pdf.multi_cell(68, 3.5, _latin1(label), dry_run=True, output="LINES")
        height = max(4.5, 3.5 * len(lines) + 1)
        if pdf.will_page_break(height):
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y)
        pdf.multi_cell(68, 3.5, _latin1(label), new_x="RIGHT", new_y="TOP")
        pdf.set_fill_color(*BAR)
        if value:
            pdf.rect(pdf.l_margin + 70, y + 0.5, width * value / largest, 3, style="F")
        pdf.set_fill_color(*WHITE)  # nothing after the chart inherits the bars' navy
        pdf.set_xy(pdf.l_margin + 72 + width * (value or 0) / largest, y)
        pdf.cell(15, 4, _latin1(french_number(value)))
        pdf.set_xy(pdf.l_margin, y + height)
    pdf.ln(2)


def to_pdf(report: Report, reader: str, generated_at: datetime) -> bytes:
    """The printable report: the filters, the total, then each indicator's table and a bar chart."""
    title = "Observatoire des incidents de sécurité des SI de santé"
    pdf = _Report(title)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=15)
    _para(pdf, 8, _latin1(title))
    pdf.set_font("Helvetica", size=9)
    local = generated_at.astimezone(PARIS)
    for line in (f"Sélection : {report.filters.label()}.", f"Édité le {local:%d/%m/%Y à %H:%M} pour {reader}.",
                 "Dossiers pris en compte : ceux que votre rôle permet de consulter."):
        _para(pdf, 5, _latin1(line))
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.ln(2)
    _para(pdf, 7, _latin1(f"Déclarations de la sélection : {french_number(report.total)}"))
    heading = FontFace(emphasis="BOLD", color=TEXT, fill_color=HEADING_FILL)
    for indicator in report.indicators:
        if pdf.will_page_break(40):
            pdf.add_page()
        pdf.ln(3)
        pdf.set_font("Helvetica", style="B", size=11)
        _para(pdf, 6, _latin1(indicator.title))
        pdf.set_font("Helvetica", size=8)
        pdf.set_text_color(*TEXT)
        pdf.set_fill_color(*WHITE)
        widths = (70,) + (110 / len(indicator.columns),) * len(indicator.columns)
        with pdf.table(col_widths=widths, headings_style=heading, text_align="LEFT", line_height=4.5,
                       cell_fill_color=ROW_FILL, cell_fill_mode="ROWS") as table:
            table.row([_latin1(c) for c in ["", *indicator.columns]])
            for _code, label, *values in indicator.rows:
                table.row([_latin1(label), *(_latin1(french_number(v)) for v in values)])
        if indicator.note:
            pdf.set_font("Helvetica", style="I", size=7)
            _para(pdf, 4, _latin1(indicator.note))
        if indicator.chart != "none" and indicator.columns and indicator.rows and len(indicator.columns) <= 2:
            pdf.ln(1)
            _bars(pdf, indicator.rows)
    return bytes(pdf.output())
