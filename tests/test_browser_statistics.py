"""The statistics page in Chromium: Chart.js draws every chart from the figures of its table, French labels,
no script error, axe-core finds no serious violation; without the chart library the tables remain."""
from __future__ import annotations

import pytest

from browser_support import login, shot
from models import db
from statistics_data import build
from test_accessibility import axe  # noqa: F401  (the axe-core fixture)
from test_web_support import ACSS, ARS_BRETAGNE

pytestmark = pytest.mark.browser


def test_statistics_page_draws_its_charts_and_passes_axe(page, axe):  # noqa: F811
    build()
    db.session.remove()  # the server thread has its own session
    console = []
    # The browser's own request for /favicon.ico (there is none) is not the page's error.
    page.on("console", lambda message: console.append(message.text) if message.type == "error"
            and "favicon" not in message.location.get("url", "") else None)
    login(page, ACSS)
    page.click("nav >> text=Statistiques")
    page.goto(page.base + "/statistiques?annee=2025")
    figures = page.locator("figure.stat-graphique")
    assert figures.count() == 10
    page.wait_for_function("document.querySelectorAll('figure.stat-graphique canvas').length === 10")
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('figure.stat-graphique canvas'))
        .map(c => { const chart = Chart.getChart(c); return [chart.config.type, chart.data.labels[0],
                    chart.data.datasets[0].data.reduce((a, b) => a + (b || 0), 0), c.width > 0]; })""")
    assert drawn[0] == ["line", "janvier 2025", 6, True]  # declarations per month, labelled in French
    assert drawn[1][:3] == ["bar", "Rançongiciel", 7]     # incident types (several per dossier)
    assert all(width for *_, width in drawn)
    assert page.locator("#stat-mois table caption").inner_text().startswith("Déclarations par mois")
    assert page.locator("#stat-mois tbody tr").first.inner_text().split("\t") == ["janvier 2025", "2"]
    assert page.js_errors == [] and console == []
    shot(page, "statistiques-acss")
    assert axe("statistiques") == []

    # Without the chart library (npm assets missing), the figures stay in their tables.
    page.route("**/vendor/chart.js/**", lambda route: route.fulfill(status=404, body=""))
    login(page, ARS_BRETAGNE)
    page.goto(page.base + "/statistiques?annee=2025")
    assert page.locator("figure.stat-graphique canvas").count() == 0
    assert page.locator("#stat-region tbody tr").all_inner_texts() == ["Bretagne\t3"]
    assert "Grand Est" not in page.inner_text("main")
    assert page.js_errors == []
    shot(page, "statistiques-ars-sans-graphiques")


def test_statistics_page_on_a_phone_has_no_sideways_scroll_and_whole_labels(page):
    """At 390 px wide (a phone), the page does not scroll sideways and the charts' category labels are whole."""
    build()
    db.session.remove()
    login(page, ACSS)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(page.base + "/statistiques?annee=2025")
    page.wait_for_function("document.querySelectorAll('figure.stat-graphique canvas').length === 10")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    shot(page, "statistiques-telephone")
    assert widths[0] <= widths[1], widths
    # Each horizontal chart's labels are drawn in lines that hold the whole label (no cut on the left).
    checked = page.evaluate("""() => Array.from(document.querySelectorAll('figure.stat-graphique canvas'))
        .map(c => Chart.getChart(c)).filter(chart => chart.options.indexAxis === 'y')
        .map(chart => { const axis = chart.scales.y; return [axis.left >= 0,
             chart.data.labels.every((label, i) => [].concat(axis.ticks[i].label).join(' ') === label)]; })""")
    assert checked and all(left and whole for left, whole in checked), checked
    assert page.js_errors == []
    # A bad filter in the address: answered on the page, in French, still without sideways scroll.
    page.goto(page.base + "/statistiques?annee=abc")
    assert "L'année doit être" in page.inner_text("#erreur-filtres")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
