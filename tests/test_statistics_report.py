"""The statistics report read as a person would: the PDF's tables read back with pypdf, and their colours taken
from the page's drawing operators (pdftoppm is not installed here): each text drawn in a table contrasts with the
background filled under it (WCAG AA, ratio >= 4.5); a bad filter in the address is answered on the page."""
from __future__ import annotations

import io
import re

from pypdf import PdfReader
from pypdf.generic import ContentStream

from statistics_data import build
from test_web_support import ACSS, login


def _luminance(rgb) -> float:
    def channel(c):
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    """The WCAG contrast ratio of two colours (components 0..1)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def drawn_texts(page) -> list[dict]:
    """Every text shown on a page with its colour, position and the colour of the last filled rectangle under
    it (white when none): a walk over the content stream's operators (q/Q, rg/g, re + f, BT/Td/Tm, Tj/TJ)."""
    stream = ContentStream(page.get_contents(), page.pdf)
    fill, stack, rects, texts, pending, x, y = (0.0, 0.0, 0.0), [], [], [], [], 0.0, 0.0
    for operands, op in stream.operations:
        op = op.decode() if isinstance(op, bytes) else op
        if op == "q":
            stack.append(fill)
        elif op == "Q" and stack:
            fill = stack.pop()
        elif op == "rg":
            fill = tuple(float(v) for v in operands)
        elif op == "g":
            fill = (float(operands[0]),) * 3
        elif op == "re":
            pending.append(tuple(float(v) for v in operands))
        elif op in ("f", "f*", "B", "B*", "F"):
            rects += [(rect, fill) for rect in pending]
            pending = []
        elif op in ("S", "n"):
            pending = []
        elif op == "BT":
            x = y = 0.0
        elif op == "Td":
            x, y = x + float(operands[0]), y + float(operands[1])
        elif op == "Tm":
            x, y = float(operands[4]), float(operands[5])
        elif op in ("Tj", "TJ"):
            raw = operands[0]
            text = "".join(str(p) for p in raw if isinstance(p, (str, bytes))) if op == "TJ" else str(raw)
            under = [colour for (rx, ry, rw, rh), colour in rects
                     if min(rx, rx + rw) <= x + 0.5 <= max(rx, rx + rw) and min(ry, ry + rh) <= y + 1 <= max(ry, ry + rh)]
            texts.append({"text": text, "colour": fill, "background": under[-1] if under else (1.0, 1.0, 1.0),
                          "x": x, "y": y})
    return texts


def test_every_table_of_the_pdf_reads_dark_on_light(app, client):
    build()
    login(client, ACSS)
    response = client.get("/statistiques/rapport.pdf?annee=2025")
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.data))
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    drawn = [t for page in reader.pages for t in drawn_texts(page) if t["text"].strip()]
    assert len(drawn) > 50
    poor = [(t["text"], t["colour"], t["background"], round(contrast(t["colour"], t["background"]), 2))
            for t in drawn if contrast(t["colour"], t["background"]) < 4.5]
    assert not poor, poor[:10]
    # Every table is there (read back), and its cells sit on light backgrounds: none on the bars' navy.
    page = client.get("/statistiques?annee=2025").get_data(as_text=True).replace("&#39;", "'")
    titles = re.findall(r'<h2 id="titre-[^"]+">(.*?)</h2>', page)
    assert titles and all(re.sub(r"\s+", "", title) in re.sub(r"\s+", "", text) for title in titles), titles
    backgrounds = {t["background"] for t in drawn}
    assert all(_luminance(b) > 0.5 for b in backgrounds), backgrounds
    # The chart's labels are written whole (no label cut at 45 characters).
    longest = max((label for ind in _indicators(client) for label in ind), key=len)
    assert re.sub(r"\s+", "", longest) in re.sub(r"\s+", "", text)


def _indicators(client) -> list[list[str]]:
    """The row labels of each indicator, as the page lists them."""
    page = client.get("/statistiques?annee=2025").get_data(as_text=True)
    tables = re.findall(r'<table class="stat-table">(.*?)</table>', page, re.S)
    return [[re.sub(r"&#39;", "'", label) for label in re.findall(r'<th scope="row">(.*?)</th>', table)]
            for table in tables]


def test_a_bad_filter_is_answered_on_the_page_in_french(app, client):
    login(client, ACSS)
    for query, words in (("annee=abc", "L'année doit être"), ("du=2025-13-01", "n'est pas valide"),
                         ("du=2025-02-01&au=2025-01-01", "précède"), ("region=Mars", "Cette région")):
        page = client.get(f"/statistiques?{query}")
        html = page.get_data(as_text=True).replace("&#39;", "'")
        assert page.status_code == 400, query
        assert 'id="erreur-filtres"' in html and words in html, query
        assert '<form method="get"' in html and "Filtres des statistiques" in html  # the filters to correct
        assert "Erreur 400" not in html and 'class="stat-table"' not in html
    kept = client.get("/statistiques?annee=1999&type_structure=laboratoire").get_data(as_text=True)
    assert 'value="1999"' in kept  # what was typed, shown again to be corrected
