"""Observatory statistics (knowledge/statistics.py, web/knowledge/statistics.py): every indicator against a data set
whose counts are known (tests/statistics_data.py), the visibility of each reader, the filters and their
attacks, the CSV and the PDF report (opened with pypdf)."""
from __future__ import annotations

import csv
import importlib.util
import io
import random
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, select

import migrate
from cli import scenarios
from knowledge import statistics, statistics_durations, statistics_facts
from models import DossierFacts, db
from statistics_data import EXPECTED_ACSS, P4, P5, add_dossier, build, paris
from test_web_support import ACSS, ARS_BRETAGNE, DECLARANT, DGS, HFDS, login, structure_of, user
from timekeeping.business_calendar import support_cell_calendar
from web import access
from workflow import commands, context

ARS_IDF = "ars.idf@ars.example.fr"
YEAR = statistics.Filters(date(2025, 1, 1), date(2025, 12, 31))


def _table(report, key) -> dict:
    """An indicator as {code: value} (one value column) or {code: (values...)}."""
    return {code: (values[0] if len(values) == 1 else tuple(values)) for code, _label, *values in report.indicator(key).rows}


def _report(email, filters=YEAR):
    return statistics.compute(access.dossier_filter(user(email)), filters)


def test_every_indicator_matches_the_generated_data_set(app):
    build()
    report = _report(ACSS)
    assert report.total == EXPECTED_ACSS["total"]
    months = {label: value for _code, label, value in report.indicator("mois").rows}
    assert len(months) == 12 and sum(months.values()) == 6
    for key, expected in EXPECTED_ACSS.items():
        if key == "total":
            continue
        table = months if key == "mois" else _table(report, key)
        for code, value in expected.items():
            assert table[code] == value, (key, code, table)
    # Only what was planted: no other phase, origin or care answer appears.
    assert set(_table(report, "phases")) == set(EXPECTED_ACSS["phases"])
    assert sum(_table(report, "origine").values()) == 6 and sum(_table(report, "soins").values()) == 6


def test_each_reader_counts_only_what_access_lets_them_read(app):
    build()
    hfds = _report(HFDS)  # the military dossier addressed to the Cellule ACSS is not the HFDS's
    assert hfds.total == 5 and _table(hfds, "structure")["hopital_armees"] == 0
    assert _table(hfds, "delais")["qualification"] == (4, 2.5, 3.5, 7.5)
    bretagne = _report(ARS_BRETAGNE, statistics.Filters(YEAR.start, YEAR.end, "Bretagne"))
    assert bretagne.total == 3
    assert _table(bretagne, "region") == {"Bretagne": 3}
    assert _table(bretagne, "phases") == {P4: 1, P5: 1}
    # The ARS of Île-de-France sees the military hospital's dossiers as a summary only: none is counted.
    assert _report(ARS_IDF, statistics.Filters(YEAR.start, YEAR.end, "Île-de-France")).total == 0
    january = statistics.Filters(date(2025, 1, 1), date(2025, 1, 31))
    assert _report(ACSS, january).total == 2  # the 1 February 00:30 (Paris) declaration is February's
    assert _report(ACSS, statistics.Filters(YEAR.start, YEAR.end, kind="laboratoire")).total == 1
    assert _report(ACSS, statistics.Filters(YEAR.start, YEAR.end, region="Grand Est")).total == 1


def test_page_and_exports_refuse_other_roles_regions_and_bad_filters(app, client):
    build()
    login(client, ARS_BRETAGNE)
    page = client.get("/statistiques?annee=2025")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Statistiques" in html and "<caption>" in html and 'scope="row"' in html and "Grand Est" not in html
    assert "<strong>3</strong> déclarations" in html
    for url in ("/statistiques", "/statistiques/export.csv", "/statistiques/rapport.pdf"):
        refused = client.get(f"{url}?annee=2025&region=Grand%20Est")
        assert refused.status_code == 403 and "limitées à votre région" in refused.get_data(as_text=True)
    assert client.get("/statistiques?annee=2025&region=Bretagne").status_code == 200
    login(client, ACSS)
    for query in ("annee=abc", "annee=1999", "du=2025-13-01", "du=2025-02-01&au=2025-01-01", "du=01/02/2025",
                  "du=1990-01-01&au=2025-01-01", "region=Mars", "type_structure=%3Cscript%3E", "annee=" + "9" * 5000, "annee=02025"):
        response = client.get(f"/statistiques?{query}")
        assert response.status_code == 400, query
        assert "<script>" not in response.get_data(as_text=True)
    assert client.get("/statistiques/export.csv?du=2025-02-30").status_code == 400
    # Only the filters travel into the export links: no scheme, host or extra parameter from the address.
    html = client.get("/statistiques?annee=2025&_external=1&_scheme=javascript&x=%22%3E").get_data(as_text=True)
    assert 'href="/statistiques/export.csv?annee=2025"' in html and "javascript" not in html
    for email in (DGS, DECLARANT):
        login(client, email)
        assert client.get("/statistiques").status_code == 403
    assert app.test_client().get("/statistiques/export.csv").status_code in (302, 401)  # nobody logged in


def test_csv_is_long_format_for_french_excel(app, client):
    build()
    login(client, ACSS)
    response = client.get("/statistiques/export.csv?annee=2025")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "statistiques-20250101-20251231.csv" in response.headers["Content-Disposition"]
    body = response.data.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:]), delimiter=";"))
    assert rows[0] == ["indicateur", "code", "libellé", "mesure", "valeur"]
    found = {(r[0], r[1], r[3]): r[4] for r in rows[1:]}
    assert found[("total", "", "Nombre de dossiers")] == "6"
    assert found[("Déclarations par mois", "2025-01", "Nombre de dossiers")] == "2"
    assert found[("Déclarations par type d'incident", "rancongiciel", "Nombre de dossiers")] == "3"
    shares = "Demandes urgentes et déclarations hors heures ouvrées"
    assert found[(shares, "hors_heures", "Part (%)")] == "33,3"
    delays = "Délais de qualification et de clôture (heures ouvrées)"
    assert found[(delays, "cloture", "Médiane")] == "31,0" and found[(delays, "cloture", "1er quartile")] == "24,5"
    # Stored text that a spreadsheet would run as a formula is neutralised.
    add_dossier("S-X", "Rennes", paris(2024, 5, 5, 10), types=["=HYPERLINK(\"http://x\")"])
    db.session.commit()
    body = client.get("/statistiques/export.csv?annee=2024").data.decode("utf-8")
    cells = {cell for row in csv.reader(io.StringIO(body[1:]), delimiter=";") for cell in row}
    assert "'=HYPERLINK(\"http://x\")" in cells and not any(c.startswith("=") for c in cells)


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_pdf_report_holds_the_figures(app, client):
    build()
    login(client, ACSS)
    response = client.get("/statistiques/rapport.pdf?annee=2025")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = _pdf_text(response.data)
    assert "Observatoire des incidents" in text and "Déclarations de la sélection : 6" in text
    for pattern in (r"janvier 2025 ?2\b", r"février 2025 ?1\b", r"Rançongiciel ?3\b", r"Laboratoire de biologie médicale ?1\b",
                    r"Malveillante ?3\b", r"Non renseignée? ?1\b", r"Délai de qualification ?5 ?3 ?4 ?18\b",
                    r"Délai de clôture ?2 ?24,5 ?31 ?37,5", r"Demandes d'aide urgente ?2 ?33,3", P4 + r" ?3\b"):
        assert re.search(pattern, text), (pattern, text[:3000])
    login(client, ARS_BRETAGNE)
    text = _pdf_text(client.get("/statistiques/rapport.pdf?annee=2025").data)
    assert "Déclarations de la sélection : 3" in text and "région Bretagne" in text and "Grand Est" not in text


def test_commands_record_the_facts_and_the_migration_backfills_them(app, runner, clock):
    clock.set(scenarios.MONDAY_MORNING)
    declarant = user(DECLARANT)
    dossier = commands.start_dossier(structure_of(DECLARANT), declarant, context.Actor.of(declarant))
    for spec_name, data in scenarios.DECLARATION:
        clock.advance(minutes=10)
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    facts = db.session.get(DossierFacts, dossier.id)
    assert (facts.origin, facts.data_impact, facts.personal_data) == ("malveillante", ["disponibilite"], True)
    db.session.execute(delete(DossierFacts))
    spec = importlib.util.spec_from_file_location("m0022", migrate.MIGRATIONS / "versions" / "0022_statistics.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.backfill(db.session.connection())
    db.session.commit()
    rows = db.session.execute(select(DossierFacts.dossier_id, DossierFacts.origin, DossierFacts.data_impact)).all()
    assert [tuple(r) for r in rows] == [(dossier.id, "malveillante", ["disponibilite"])]
    assert runner.invoke(args=["audit", "verify", dossier.number]).exit_code == 0


def test_working_hours_count_whole_weeks_like_a_day_by_day_walk():
    """The quick count (weeks by arithmetic, holidays subtracted) equals walking each day, overseas too."""
    rnd = random.Random(2017)
    for department in (None, "57", "971", "2B"):
        calendar = support_cell_calendar(department)
        for _ in range(300):
            start = datetime(2019, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=rnd.randrange(0, 6 * 365 * 1440))
            end = start + timedelta(minutes=rnd.randrange(0, 120 * 1440))
            walked, day = 0.0, start.astimezone(calendar.tz).date()
            while day <= end.astimezone(calendar.tz).date():
                walked += statistics_durations._day_hours(calendar, day, start, end)
                day += timedelta(days=1)
            assert statistics_durations.working_hours_between(calendar, start, end) == pytest.approx(walked)
    paris_calendar = support_cell_calendar("75")
    # Friday 17:00 to Tuesday 10:00 across Easter Monday 2025 (21 April): 1 + 1 working hours.
    assert statistics_durations.working_hours_between(paris_calendar, paris(2025, 4, 18, 17), paris(2025, 4, 22, 10)) == 2


def test_facts_prefer_the_confirmed_origin_and_ignore_unknown_values():
    """The cause analysis' origin replaces the declared one; values outside the forms' choices are dropped."""
    assert statistics_facts.facts_from_data({"origine": "malveillante", "origine_confirmee": "accidentelle",
                                             "impact_donnees": ["integrite", "x", "integrite"],
                                             "donnees_personnelles": True}) == {
        "origin": "accidentelle", "data_impact": ["integrite"], "personal_data": True}
    assert statistics_facts.facts_from_data({"origine": "<b>", "origine_confirmee": None, "impact_donnees": "tout",
                                             "donnees_personnelles": "oui"}) == {
        "origin": None, "data_impact": [], "personal_data": None}
