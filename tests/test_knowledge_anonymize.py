"""The retex anonymizer (Presidio, spaCy's French model and our recognizers) against a corpus of French retex
sentences with planted identifiers (tests/data/retex_corpus.json): every planted identifier is replaced,
public references stay readable, checksums decide for FINESS and NIR, hostile texts finish, the engine loads
once and only when first used, and a published retex shows none of the planted identifiers."""
from __future__ import annotations

import gc
import html
import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from cli import scenarios
from knowledge.anonymize import anonymize
from models import Dossier, Retex, db
from referentiel import finess_with_key
from test_web_support import ACSS, DECLARANT_METZ, login, post
from workflow import commands

ROOT = Path(__file__).resolve().parent.parent
CORPUS = json.loads((Path(__file__).parent / "data" / "retex_corpus.json").read_text(encoding="utf-8"))["sentences"]
KINDS = {"known_structure", "known_person", "known_town", "finess", "nir", "mac", "windows_account", "hostname",
         "defanged", "postal_address", "phone", "email", "ip", "url", "birth_date", "person", "place", "organization"}
# Words of a planted value that are no identifier on their own (« 2 rue Henri Le Guilloux »: « rue »).
COMMON_PARTS = {"rue", "avenue", "boulevard", "place", "allée", "chemin", "impasse", "route", "cedex", "hôpital",
                "clinique", "centre", "hospitalier", "ehpad", "polyclinique", "santé", "institut", "privé", "docteur"}


def leaks(value: str, text: str) -> bool:
    """The planted value, or one of its distinctive words (four characters or more), is still in the text."""
    if value.lower() in text.lower():
        return True
    for part in value.split():
        part = part.strip(",;.()«»")
        if len(part) >= 4 and part.lower() not in COMMON_PARTS and \
                re.search(rf"(?<!\w){re.escape(part)}(?!\w)", text, re.IGNORECASE):
            return True
    return False


def _anonymized(sentence: dict) -> str:
    known = sentence["known"]
    return anonymize(sentence["text"], structures=known["structures"], towns=known["towns"], people=known["people"])


def test_the_corpus_is_varied_and_its_annotations_are_exact():
    assert len(CORPUS) >= 200 and len({s["text"] for s in CORPUS}) == len(CORPUS)
    kinds = Counter(p["kind"] for s in CORPUS for p in s["planted"])
    assert set(kinds) == KINDS and min(kinds.values()) >= 10, kinds
    for sentence in CORPUS:
        for planted in sentence["planted"]:
            assert planted["value"] in sentence["text"], sentence  # the exact planted substring
        for kept in sentence["keep"]:
            assert kept in sentence["text"], sentence
    # Varied: no sentence frame (the text less its planted values) makes up more than 2 % of the corpus.
    frames = Counter(re.sub(r"\s+", " ", _frame(s)) for s in CORPUS)
    assert max(frames.values()) <= 0.02 * len(CORPUS) and len(frames) >= 100


def _frame(sentence: dict) -> str:
    text = sentence["text"]
    for planted in sorted(sentence["planted"], key=lambda p: -len(p["value"])):
        text = text.replace(planted["value"], "#")
    return text


def test_every_planted_identifier_of_the_corpus_is_replaced_and_public_references_stay(capsys):
    found, total, missed, lost = Counter(), Counter(), [], []
    for sentence in CORPUS:
        result = _anonymized(sentence)
        for planted in sentence["planted"]:
            total[planted["kind"]] += 1
            if leaks(planted["value"], result):
                missed.append((planted["kind"], planted["value"], result))
            else:
                found[planted["kind"]] += 1
        lost += [(kept, result) for kept in sentence["keep"] if kept not in result]
        assert "[" in result or not sentence["planted"]
    with capsys.disabled():
        print()
        for kind in sorted(total):
            print(f"  {kind}: {100 * found[kind] / total[kind]:.1f}% ({found[kind]}/{total[kind]})")
        overall, planted = sum(found.values()), sum(total.values())
        print(f"anonymization recall: {100 * overall / planted:.1f}% ({overall}/{planted})")
    assert missed == [], missed
    assert lost == [], lost


def test_sentences_without_identifiers_come_out_unchanged():
    """Precision: the public references (CVE ids, ANSSI and CERT-FR, ransomware families, software and
    versions, technique ids) are not taken for names or addresses."""
    clean = [s for s in CORPUS if not s["planted"]]
    assert len(clean) >= 10
    for sentence in clean:
        assert _anonymized(sentence) == sentence["text"]


def test_keys_decide_for_finess_and_nir():
    good, other = finess_with_key("35000002"), finess_with_key("2A0001234"[:8])
    spaced = f"{other[:2]} {other[2:5]} {other[5:8]} {other[8]}"
    assert anonymize(f"FINESS {good} et {spaced}.") == "FINESS [FINESS] et [FINESS]."
    bad = good[:8] + str((int(good[8]) + 1) % 10)
    assert anonymize(f"Lot {bad} du fournisseur.") == f"Lot {bad} du fournisseur."  # bad key
    nir, corsica = "1 84 12 35 238 123 %02d", "2 91 07 2A 004 017 %02d"
    key = 97 - int("1841235238123") % 97
    key_2a = 97 - int("2910719004017") % 97  # Corsica: 2A counts as 19
    assert anonymize(f"NIR {nir % key}.") == "NIR [NIR]."
    assert anonymize(f"NIR {(nir % key).replace(' ', '')}.") == "NIR [NIR]."
    assert anonymize(f"NIR {corsica % key_2a}.") == "NIR [NIR]."
    assert "[NIR]" not in anonymize(f"Réf. {nir % ((key + 1) % 97)}.")


def test_what_only_looks_like_an_identifier_stays():
    for text in ("Lot 123456789 à 10:30:15, puis reprise à 11:45.", "Mise à jour vers FortiOS 7.2.4.1 et ESXi 8.0.2.",
                 "Le fichier rapport.pdf et le script purge.ps1 ont été conservés.",
                 "La session ouverte sous le compte administrateur local a été fermée.",
                 "Le serveur de fichiers et le poste de travail ont été isolés.",
                 "Voir https://www.cert.ssi.gouv.fr/ et cyber.gouv.fr ; CVE-2023-4966, T1486.",
                 "Le Comité de direction a validé le Plan blanc ; la Direction générale a informé l'ARS.",
                 "Mardi 12 mars, la Cellule ACSS a été saisie ; Santé publique France n'était pas concernée.",
                 "Après restauration, le DPI Hopital Manager et Microsoft Defender ont été remis en service."):
        assert anonymize(text) == text


def test_placeholders_are_french_and_keep_titles_and_structure_words():
    text = ("Le Dr. Anne-Marie O'Neil de l'Hôpital Pontchaillou a appelé M. Jean Dupont ; hôte pacs01, compte "
            "chu\\jdupont, MAC 00:1A:2B:3C:4D:5E, 2 rue Henri Le Guilloux 35000 Rennes, patient né le 12/04/1975.")
    assert anonymize(text) == (
        "Le Dr. [nom] de l'[structure] a appelé M. [nom] ; hôte [machine], compte [compte], MAC [adresse MAC], "
        "[adresse postale], patient né le [date de naissance].")


@pytest.mark.parametrize("text", ["a" * 100_000, "a." * 50_000, "AB-" * 33_000, "1 " * 50_000, "rue " * 25_000,
                                  "a@" * 50_000, "a\\" * 50_000, "ab:" * 33_000, "Dupont " * 2_800])
def test_hostile_texts_finish_quickly(text):
    anonymize("Amorce.")  # the engine is loaded outside the measure
    started = time.perf_counter()
    anonymize(text)
    assert time.perf_counter() - started < 15


def test_nothing_is_loaded_at_import_and_the_engine_is_built_once():
    code = ("import sys, knowledge.anonymize, knowledge.retex, handlers.retex; "
            "print(sorted(m for m in ('spacy', 'presidio_analyzer', 'presidio_anonymizer') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    from knowledge import anonymize_engine
    anonymize("Premier appel.")
    assert anonymize_engine.engine() is anonymize_engine.engine()
    # What the engine loaded is kept out of the garbage collector's full passes (workflow commands after it).
    assert gc.get_freeze_count() > 100_000


def test_a_missing_model_is_refused_rather_than_downloaded():
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from knowledge.anonymize_engine import GatedSpacyNlpEngine
    provider = NlpEngineProvider(nlp_engines=(GatedSpacyNlpEngine,), nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "fr", "model_name": "fr_modele_absent_sm"}]})
    with pytest.raises(RuntimeError, match="not installed"):
        provider.create_engine()


def test_the_community_page_shows_none_of_the_planted_identifiers(client, app, clock):
    """A retex made of corpus sentences goes through the process (proposed text), is published as proposed
    by the cell, and the community page shows none of what was planted."""
    chosen, per_kind = [], Counter()
    for sentence in CORPUS:
        kinds = {p["kind"] for p in sentence["planted"]}
        if kinds and not any(k.startswith("known_") for k in kinds) and any(per_kind[k] < 2 for k in kinds):
            chosen.append(sentence)
            per_kind.update(kinds)
    assert set(per_kind) == KINDS - {"known_structure", "known_person", "known_town"}
    fields = ("causes_incident", "facteurs_aggravants", "difficultes", "mesures_mises_en_place", "recommandations")
    retex = {field: " ".join(s["text"] for s in chosen[i::len(fields)]) for i, field in enumerate(fields)}
    dossier, _ = scenarios.run("grave_acss", clock, until="p6_retex")
    row = scenarios.ready_task(dossier, "p6_retex")
    commands.complete_task(row.id, retex, scenarios.actor_for(row))
    dossier = db.session.get(Dossier, dossier.id)
    stored = db.session.scalar(select(Retex).where(Retex.dossier_id == dossier.id))
    planted = [p["value"] for s in chosen for p in s["planted"]]
    assert all(value in "\n".join(stored.content.values()) for value in planted)  # the base keeps it all

    login(client, ACSS)
    response = post(client, f"/connaissances/retex/{stored.id}", {"action": "publier", "review_text": stored.review_text})
    assert response.status_code == 302
    login(client, DECLARANT_METZ)
    page = client.get("/connaissances/communaute").get_data(as_text=True)
    published = re.search(r'<div class="texte-saisi">(.*?)</div>', page, re.S).group(1)
    assert "[nom]" in published and "[adresse postale]" in published and "[NIR]" in published
    shown = html.unescape(published)
    assert [value for value in planted if leaks(value, shown)] == []


def test_the_dry_runs_children_start_with_the_engine_built():
    """The dry run's fork server builds the engine once (knowledge/preload.py): a scenario that records a RETEX
    in a child does not load the spaCy pipeline again."""
    from cli import dryrun
    with dryrun._context().Pool(1) as pool:
        assert pool.apply(_engines_built) == 1


def _engines_built() -> int:
    from knowledge import anonymize_engine
    return anonymize_engine._built.cache_info().currsize
