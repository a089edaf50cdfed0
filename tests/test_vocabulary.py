"""Names and words: the ANS's current name, one French vocabulary for incident types, OIV and SIIV told apart,
French plurals instead of « (s) »."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from referentiel import INCIDENT_TYPES, plural

ROOT = Path(__file__).resolve().parent.parent
FORMS = sorted((ROOT / "forms").glob("*.json"))
MAILS = sorted((ROOT / "web" / "templates" / "mail").glob("*.j2"))
# English words the people who read these forms and mails should never meet (French has its own).
ANGLICISMS = ["malspam", "infostealer", "stealer", "phishing", "ransomware", "malware", "spyware", "spam",
              "hacker", "hacking", "backdoor", "wiper", "botnet", "leak", "breach", "ticket", "feedback"]
PROCESS = ROOT / "processes" / "signalement_incident_ssi.bpmn"


@pytest.mark.parametrize("path", FORMS + MAILS + [PROCESS], ids=lambda p: p.name)
def test_no_anglicisms_and_the_current_name_of_the_agency(path):
    text = path.read_text(encoding="utf-8")
    found = [word for word in ANGLICISMS if re.search(rf"\b{word}s?\b", text, re.IGNORECASE)]
    assert not found, f"{path.name} : {found}"
    # ASIP Santé only as the former name of the Agence du numérique en santé (ANS).
    for match in re.finditer(r"ASIP", text):
        assert "anciennement ASIP Santé" in text[max(0, match.start() - 40):match.end() + 10], path.name


def test_incident_types_use_one_vocabulary():
    offering = []
    for path in FORMS:
        schema = json.loads(path.read_text(encoding="utf-8"))
        prop = (schema.get("properties") or {}).get("types_incident")
        if prop:
            offering.append(path.name)
            assert {o["const"]: o["title"] for o in prop["items"]["oneOf"]} == INCIDENT_TYPES, path.name
    assert offering  # the declaration form offers them
    for label in INCIDENT_TYPES.values():
        assert not [w for w in ANGLICISMS if re.search(rf"\b{w}\b", label, re.IGNORECASE)], label


def test_oiv_and_siiv_are_told_apart():
    bpmn = PROCESS.read_text(encoding="utf-8")
    gateway = re.search(r'id="p3_gw_oiv" name="([^"]+)"', bpmn).group(1)
    assert "(OIV)" in gateway and "SIIV" not in gateway  # a structure is an operator; a system is a SIIV
    mail = (ROOT / "web" / "templates" / "mail" / "coordination_anssi.j2").read_text(encoding="utf-8")
    assert "Opérateur d'importance vitale (OIV)" in mail
    assert "système d'information d'importance vitale (SIIV)" in mail


def test_french_plural_helper():
    assert plural(0, "dossier") == "0 dossier"
    assert plural(1, "dossier") == "1 dossier"
    assert plural(7, "dossier") == "7 dossiers"
    assert plural(2, "étape rejouée") == "2 étapes rejouées"
    assert plural(3, "dossier exporté") == "3 dossiers exportés"
    assert plural(2, "anomalie de service") == "2 anomalies de service"
    assert plural(5, "prix") == "5 prix" and plural(2, "travail", "travaux") == "2 travaux"


def test_no_parenthesised_plurals_left():
    sources = [p for folder in ("web", "cli", "audit", "workflow", "mail", "handlers")
               for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".html", ".j2")]
    sources += FORMS
    code = {"len", "str", "set", "list", "sorted", "repr", "print", "sum", "any", "all", "min", "max"}
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sources
             for m in re.finditer(r"(\w+)\((?:s|es|e)\)", p.read_text(encoding="utf-8")) if m.group(1) not in code]
    assert not found, found


INTERNAL_WORDS = [r"\btâches? [A-D]\b", r"\bBAL\b", r"\bLuhn\b", r"forme normalisée"]


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_forms_speak_plain_french(path):
    """What the forms show people (titles, descriptions, help, context labels) carries no internal word."""
    def texts(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("title", "description", "ui:help", "ui:placeholder", "help") or \
                        key == "ui:contextLabels":
                    yield from (value.values() if isinstance(value, dict) else [value])
                else:
                    yield from texts(value)
        elif isinstance(node, list):
            for item in node:
                yield from texts(item)
    found = [(text, word) for text in texts(json.loads(path.read_text(encoding="utf-8"))) if isinstance(text, str)
             for word in INTERNAL_WORDS if re.search(word, text, re.IGNORECASE)]
    assert not found, f"{path.name} : {found}"


def test_declarant_pages_speak_plain_french(client, clock):
    """The declarant's wizard, inbox, fiche and FINESS error: no task letters, no « BAL », no « Luhn », and the
    provisional reference explained."""
    from cli import scenarios
    from test_web_support import DECLARANT, dossier_by_number, dossier_number, form_data, login, open_task, post, \
        structure_of
    login(client, DECLARANT)
    started = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=structure_of(DECLARANT).finess_et))
    dossier = dossier_by_number(dossier_number(client.get(started.location).text))
    row = open_task(dossier.id, "p1_impact")
    pages = [client.get(url).text for url in ("/boite", f"/taches/{row.id}", f"/dossiers/{dossier.id}", "/declarer")]
    pages.append(post(client, "/declarer", {"finess_site": "350000029", "action": "valider"}).text)
    for page in pages:
        found = [word for word in INTERNAL_WORDS if re.search(word, page, re.IGNORECASE)]
        assert not found, found
    assert dossier.number.startswith("BR-") and "référence provisoire" in pages[1] and "référence provisoire" in pages[2]
    assert "clé de contrôle" in pages[4]
