"""Tests for the user-task forms (forms/*.json) and form_schemas: schemas, BPMN links, French errors, coerce."""
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from werkzeug.datastructures import MultiDict

from workflow.form_schemas import FORMAT_CHECKER, coerce, load_form, validate

ROOT = Path(__file__).resolve().parent.parent
FORMS = ROOT / "forms"
PROCESSES = ROOT / "processes"
SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = sorted(p.name for p in FORMS.glob("*.schema.json"))
FORM_NAMES = [name.removesuffix(".schema.json") for name in SCHEMA_FILES]
REQUIRED = "Ce champ est obligatoire."
NOT_ALLOWED = "Valeur non autorisée."
BAD_DATE = "Date invalide (format attendu : AAAA-MM-JJ)."
BAD_DATETIME = "Date et heure invalides (format attendu : AAAA-MM-JJ HH:MM)."
CHECK_IT = "Cette case doit être cochée."
RJSF_WIDGETS = {"textarea", "radio", "checkboxes", "select", "date", "date-time", "updown", "text", "checkbox",
                "hidden", "email", "password", "range"}


def schema(name):
    return load_form(FORMS, f"{name}.schema.json")


def uischema(name):
    return load_form(FORMS, f"{name}.uischema.json")


def bpmn_form_references():
    """(bpmn file, task id, kind, filename) for every form property in processes/*.bpmn."""
    refs = []
    for bpmn in sorted(PROCESSES.glob("*.bpmn")):
        for task in ET.parse(bpmn).getroot().iter():
            for prop in task.iter():
                if prop is task or not prop.tag.endswith("}property"):
                    continue
                name = prop.get("name")
                if name in ("formJsonSchemaFilename", "formUiSchemaFilename") and task.tag.endswith("}userTask"):
                    refs.append((bpmn.name, task.get("id"), name, prop.get("value")))
    return refs


# The brief's contract with the BPMN conditions and handlers: names, types, enum values, required.
E = "enum"
CONTRACT = {
    "p1-perimetre": {
        "perimetre": ("array", ["postes", "serveurs", "annuaire", "messagerie", "reseau", "applications_metier",
                                "dispositifs_medicaux", "site_web", "prestataire_hebergeur"], True),
        "elements_concernes": ("string", None, True), "nombre_postes_impactes": ("integer", None, False)},
    "p1-impact": {
        "impact_soins": (E, ["aucun", "mise_en_danger_potentielle", "mise_en_danger_averee", "mode_degrade",
                             "interruption"], True),
        "impact_donnees": ("array", ["disponibilite", "integrite", "confidentialite"], False),
        "donnees_personnelles": ("boolean", None, True), "volume_donnees": ("string", None, False),
        "impact_fonctionnement": ("string", None, True)},
    "p1-origine": {
        "origine": (E, ["malveillante", "accidentelle", "indeterminee"], True),
        "capacite_traitement": ("string", None, True), "prestataire_engage": ("boolean", None, True)},
    "p1-formulaire": {
        "titre": ("string", None, True),
        "types_incident": ("array", ["rancongiciel", "hameconnage", "compromission_compte", "cheval_de_troie",
                                     "exploitation_vulnerabilite", "incident_prestataire",
                                     "dysfonctionnement_infrastructure", "perte_lien_telecom", "bogue_logiciel",
                                     "vol_materiel", "divulgation_donnees", "defiguration_site", "deni_de_service",
                                     "erreur_humaine", "usurpation_identite", "autre"], True),
        "date_detection": ("date-time", None, True), "date_debut": ("date-time", None, False),
        "description": ("string", None, True), "incident_en_cours": ("boolean", None, True),
        "actions_menees": ("string", None, False), "plainte_deposee": ("boolean", None, True),
        "cnil_notifiee": ("boolean", None, True), "anssi_notifiee": ("boolean", None, True),
        "besoin_accompagnement": ("boolean", None, True), "besoin_aide_urgente": ("boolean", None, True),
        "indicateurs_techniques": ("objects", ["type", "valeur", "commentaire"], False),
        "declaration_validee": ("true", None, True)},
    "p1-fssi-hors-heures": {
        "fssi_prise_en_charge": ("true", None, True), "fssi_actions": ("string", None, True),
        "fssi_conseils": ("string", None, True), "alerter_cossi": ("boolean", None, True),
        "message_cossi": ("string", None, False), "fssi_transmission": ("string", None, True)},
    "p2-ouverture": {
        "declaration_recuperee": ("true", None, True), "analyste_referent": ("string", None, True),
        "commentaire_ouverture": ("string", None, False)},
    "p3-qualification": {
        "qualification": (E, ["non_incident", "grave", "significatif"], True),
        "criticite": (E, ["faible", "moyenne", "elevee", "critique"], True),
        "impact_sanitaire": ("boolean", None, True),
        "dispositif_ansm": (E, ["aucun", "DM", "DMDIV", "LAP", "LAD"], True),
        "analyse_qualification": ("string", None, True), "demande_informations": ("boolean", None, True),
        "question_declarant": ("string", None, False)},
    "complement-informations": {
        "reponse_informations": ("string", None, True), "precisions_complementaires": ("string", None, False)},
    "dgs-analyse": {
        "analyse_impact_patients": ("string", None, True), "consequences_sanitaires": ("string", None, False),
        "mesures_palliatives": ("string", None, False)},
    "armees-traitement": {
        "information_armees": (E, ["hfds", "acss"], True), "synthese_armees": ("string", None, True),
        "niveau_confidentialite": (E, ["non_protege", "diffusion_restreinte"], True)},
    "p4-choix-ars": {
        "modalite_appui": (E, ["confier_acss", "deleguer_partie", "prise_en_charge_ars"], True),
        "precisions_modalite": ("string", None, False)},
    "p4-appui-ars": {"actions_ars": ("string", None, True), "mesures_offre_soins": ("string", None, False)},
    "p4-decision-similaires": {
        "decision_similarite": (E, ["confirmer", "ecarter"], True), "motif_decision": ("string", None, True)},
    "analyse-causes": {
        "perimetre_technique": ("string", None, True), "causes": ("string", None, True),
        "origine_confirmee": (E, ["malveillante", "accidentelle", "indeterminee"], True),
        "preservation_traces": ("boolean", None, True), "demande_informations": ("boolean", None, True),
        "question_declarant": ("string", None, False),
        # Reflex sheets and providers proposed for the dossier: choices given when the form is shown.
        "fiches_choisies": ("choices", None, False), "prestataires_choisis": ("choices", None, False)},
    "p4bis-coordination": {
        "mode_traitement": (E, ["normal", "crise"], True), "plan_action": ("string", None, True),
        "diffuser_alerte": ("boolean", None, True), "message_alerte": ("string", None, False),
        "communication_grand_public": ("boolean", None, True)},
    "p4bis-communication": {
        "message_grand_public": ("string", None, True),
        "canal": (E, ["communique_presse", "site_ministere", "reseaux_sociaux", "autre"], True),
        "date_publication": ("date", None, False)},
    "suivi-accompagnement": {
        "actions_menees_periode": ("string", None, True),
        "mesures_urgence": ("array", ["confinement", "isolation", "recommandations_ciblees", "autre"], False),
        "etat_avancement": (E, ["en_cours", "maitrise", "resolu"], True),
        "accompagnement_termine": ("boolean", None, True)},
    "p4-fin-structure": {"traitement_termine": ("true", None, True), "actions_structure": ("string", None, True)},
    "p5-cloture": {"fin_accompagnement_actee": ("true", None, True), "commentaire_cloture": ("string", None, False)},
    "p5-bilan": {name: ("string", None, True) for name in
                 ("synthese_actions", "resultats", "vulnerabilites_residuelles", "risques_residuels")},
    "p6-retex": {"causes_incident": ("string", None, True), "facteurs_aggravants": ("string", None, False),
                 "difficultes": ("string", None, False), "mesures_mises_en_place": ("string", None, True),
                 "recommandations": ("string", None, True)},
}

SAMPLES = {
    "p1-perimetre": {"perimetre": ["postes", "serveurs", "annuaire"],
                     "elements_concernes": "Serveurs de fichiers, 120 postes Windows, contrôleur de domaine",
                     "nombre_postes_impactes": 120},
    "p1-impact": {"impact_soins": "mode_degrade", "impact_donnees": ["disponibilite", "integrite"],
                  "donnees_personnelles": True, "volume_donnees": "environ 2 To",
                  "impact_fonctionnement": "Urgences en mode dégradé, consultations reportées."},
    "p1-origine": {"origine": "malveillante", "capacite_traitement": "Équipe informatique de 4 personnes, "
                   "prestataire d'infogérance sollicité.", "prestataire_engage": True},
    "p1-formulaire": {
        "titre": "Rançongiciel sur le système d'information du CH",
        "types_incident": ["rancongiciel", "hameconnage"],
        "date_detection": "2024-03-12T06:45", "date_debut": "2024-03-12T02:10:00+01:00",
        "description": "Fichiers chiffrés sur les serveurs de fichiers, note de rançon sur les postes.",
        "incident_en_cours": True, "actions_menees": "Coupure d'Internet, isolement des serveurs.",
        "plainte_deposee": False, "cnil_notifiee": False, "anssi_notifiee": True,
        "besoin_accompagnement": True, "besoin_aide_urgente": True, "declaration_validee": True},
    "p1-fssi-hors-heures": {"fssi_prise_en_charge": True, "fssi_actions": "Appel du RSSI, VPN coupé.",
                            "fssi_conseils": "Isoler les serveurs, garder les journaux.", "alerter_cossi": True,
                            "message_cossi": "Rançongiciel actif, soins interrompus.",
                            "fssi_transmission": "Situation stabilisée pour la nuit."},
    "p2-ouverture": {"declaration_recuperee": True, "analyste_referent": "Camille Martin",
                     "commentaire_ouverture": "Dossier prioritaire."},
    "p3-qualification": {"qualification": "grave", "criticite": "elevee", "impact_sanitaire": True,
                         "dispositif_ansm": "aucun", "analyse_qualification": "Chiffrement massif, soins dégradés.",
                         "demande_informations": False},
    "complement-informations": {"reponse_informations": "Les sauvegardes hors ligne sont intactes."},
    "dgs-analyse": {"analyse_impact_patients": "Transferts de patients vers le CHU voisin.",
                    "mesures_palliatives": "Plan blanc déclenché."},
    "armees-traitement": {"information_armees": "hfds", "synthese_armees": "Incident traité par la chaîne CYBER.",
                          "niveau_confidentialite": "diffusion_restreinte"},
    "p4-choix-ars": {"modalite_appui": "deleguer_partie",
                     "precisions_modalite": "L'ARS coordonne l'offre de soins, l'ACSS l'appui technique."},
    "p4-appui-ars": {"actions_ars": "Cellule de crise régionale ouverte."},
    "p4-decision-similaires": {"decision_similarite": "ecarter",
                               "motif_decision": "Même famille, mais campagnes distinctes selon le CERT."},
    "analyse-causes": {"perimetre_technique": "Domaine AD, 12 serveurs", "causes": "VPN sans double authentification.",
                       "origine_confirmee": "malveillante", "preservation_traces": True,
                       "demande_informations": True, "question_declarant": "Depuis quand le VPN est-il exposé ?"},
    "p4bis-coordination": {"mode_traitement": "crise", "plan_action": "Cellule de crise, alerte nationale.",
                           "diffuser_alerte": True, "message_alerte": "Campagne active visant les VPN.",
                           "communication_grand_public": False},
    "p4bis-communication": {"message_grand_public": "Les urgences restent ouvertes.", "canal": "communique_presse",
                            "date_publication": "2024-03-14"},
    "suivi-accompagnement": {"actions_menees_periode": "Restauration des serveurs critiques.",
                             "mesures_urgence": ["confinement", "recommandations_ciblees"],
                             "etat_avancement": "maitrise", "accompagnement_termine": False},
    "p4-fin-structure": {"traitement_termine": True, "actions_structure": "Reconstruction de l'AD, MFA généralisé."},
    "p5-cloture": {"fin_accompagnement_actee": True},
    "p5-bilan": {"synthese_actions": "Isolement, restauration.", "resultats": "Reprise complète à J+10.",
                 "vulnerabilites_residuelles": "Postes obsolètes.", "risques_residuels": "Faibles."},
    "p6-retex": {"causes_incident": "VPN exposé sans MFA.", "mesures_mises_en_place": "MFA, supervision.",
                 "recommandations": "Sauvegardes hors ligne testées."},
}


def walk(node):
    """Yield every dict inside a JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


# --- Schemas and UI schemas ---------------------------------------------------------------

def test_forms_directory_holds_every_contract_form():
    assert sorted(FORM_NAMES) == sorted(CONTRACT)


@pytest.mark.parametrize("name", FORM_NAMES)
def test_schema_is_valid_draft_2020_12_and_closed(name):
    s = schema(name)
    Draft202012Validator.check_schema(s)
    assert s["$schema"] == SCHEMA_URI
    assert s["type"] == "object" and s["additionalProperties"] is False
    assert s["title"] and s["description"]
    assert set(s["required"]) <= set(s["properties"])
    for prop_name, prop in s["properties"].items():
        assert prop.get("title"), f"{name}.{prop_name} has no French title"


@pytest.mark.parametrize("name", FORM_NAMES)
def test_labelled_values_use_oneof_const_title(name):
    for node in walk(schema(name)):
        assert "enum" not in node, "the convention is oneOf + const + title, not enum"
        for option in node.get("oneOf", []):
            assert set(option) == {"const", "title"} and option["title"].strip()


@pytest.mark.parametrize("name", FORM_NAMES)
def test_schema_matches_contract(name):
    s, contract = schema(name), CONTRACT[name]
    assert set(s["properties"]) == set(contract)
    for field, (kind, values, required) in contract.items():
        prop = s["properties"][field]
        assert (field in s["required"]) is required, field
        if kind == E:
            assert prop["type"] == "string" and [o["const"] for o in prop["oneOf"]] == values
        elif kind == "array":
            assert prop["type"] == "array" and prop["uniqueItems"] is True
            assert [o["const"] for o in prop["items"]["oneOf"]] == values
        elif kind == "objects":  # rows of sub-fields (the declared indicators: cases/observables.py)
            assert prop["type"] == "array" and list(prop["items"]["properties"]) == values
        elif kind == "choices":
            assert prop["type"] == "array" and prop["uniqueItems"] is True and "oneOf" not in prop["items"]
        elif kind == "true":
            assert prop["type"] == "boolean" and prop["const"] is True
        elif kind in ("date", "date-time"):
            assert prop["type"] == "string" and prop["format"] == kind
        else:
            assert prop["type"] == kind


@pytest.mark.parametrize("name", FORM_NAMES)
def test_uischema_order_widgets_and_context(name):
    s, ui = schema(name), uischema(name)
    order = ui["ui:order"]
    assert set(order) - {"*"} <= set(s["properties"])
    assert len(order) == len(set(order))
    assert "*" in order or set(order) == set(s["properties"])
    for key, value in ui.items():
        if not key.startswith("ui:"):
            assert key in s["properties"], f"UI options for unknown field {key}"
            assert value.get("ui:widget", "text") in RJSF_WIDGETS
    context = ui.get("ui:context", [])
    assert all(isinstance(c, str) for c in context)
    assert set(ui.get("ui:contextLabels", {})) == set(context)
    assert all(label.strip() for label in ui.get("ui:contextLabels", {}).values())


def test_declaration_form_shows_identification_and_earlier_answers():
    ui = uischema("p1-formulaire")
    assert {"structure", "declarant", "perimetre", "impact_soins", "origine"} <= set(ui["ui:context"])
    assert "ssi@sg.social.gouv.fr" in ui["besoin_aide_urgente"]["ui:help"]
    assert "18 h" in ui["besoin_aide_urgente"]["ui:help"]


def test_contexts_named_in_the_brief():
    opening = uischema("p2-ouverture")["ui:context"]
    assert opening[:4] == ["titre", "description", "types_incident", "structure"]
    assert {"impact_soins", "besoin_aide_urgente"} <= set(opening)  # what makes the dossier urgent
    assert uischema("complement-informations")["ui:context"][-1] == "question_declarant"
    assert {"titre", "description", "reponse_informations"} <= set(uischema("p3-qualification")["ui:context"])
    assert uischema("p6-retex")["ui:context"] == ["retex_similaires", "synthese_actions", "resultats"]


# --- Links with the BPMN --------------------------------------------------------------------

def safe_bpmn_form_references():
    """Same as bpmn_form_references, but a broken BPMN leaves the other tests collectable."""
    try:
        return bpmn_form_references()
    except ET.ParseError:
        return []


def test_bpmn_references_forms():
    refs = bpmn_form_references()
    assert refs
    kinds_per_task = {}
    for _, task, kind, _ in refs:
        kinds_per_task.setdefault(task, set()).add(kind)
    assert all(k == {"formJsonSchemaFilename", "formUiSchemaFilename"} for k in kinds_per_task.values())


@pytest.mark.parametrize("bpmn, task, kind, filename", safe_bpmn_form_references())
def test_bpmn_referenced_form_file_exists(bpmn, task, kind, filename):
    assert (FORMS / filename).is_file(), f"{bpmn}:{task} {kind} -> forms/{filename} missing"
    assert isinstance(load_form(FORMS, filename), dict)


def test_every_form_is_used_by_the_bpmn():
    used = {r[3] for r in bpmn_form_references()}
    assert {p.name for p in FORMS.glob("*.json")} == used


# --- Validation with French messages -------------------------------------------------------

def test_every_form_has_a_sample():
    assert set(SAMPLES) == set(FORM_NAMES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_valid_sample_has_no_error(name):
    assert validate(schema(name), SAMPLES[name]) == {}
    assert not list(Draft202012Validator(schema(name), format_checker=FORMAT_CHECKER).iter_errors(SAMPLES[name]))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_empty_submission_reports_each_required_field(name):
    s = schema(name)
    assert validate(s, {}) == {field: REQUIRED for field in s["required"]}


def test_required_enum_const_and_lengths_in_french():
    data = dict(SAMPLES["p1-formulaire"], titre="abc", types_incident=["rancongiciel", "phishing"],
                declaration_validee=False)
    del data["description"]
    assert validate(schema("p1-formulaire"), data) == {
        "titre": "Saisissez au moins 5 caractères.",
        "types_incident": NOT_ALLOWED,
        "declaration_validee": CHECK_IT,
        "description": REQUIRED,
    }
    assert validate(schema("p1-formulaire"), dict(SAMPLES["p1-formulaire"], titre="x" * 201)) == {
        "titre": "Saisissez au plus 200 caractères."}
    assert validate(schema("p1-formulaire"), dict(SAMPLES["p1-formulaire"], types_incident=[])) == {
        "types_incident": "Choisissez au moins une valeur."}


def test_enum_type_minimum_and_unique_in_french():
    s = schema("p1-perimetre")
    sample = SAMPLES["p1-perimetre"]
    assert validate(s, dict(sample, nombre_postes_impactes=-1)) == {
        "nombre_postes_impactes": "La valeur doit être supérieure ou égale à 0."}
    assert validate(s, dict(sample, nombre_postes_impactes="douze")) == {
        "nombre_postes_impactes": "Nombre entier attendu."}
    assert validate(s, dict(sample, perimetre=["postes", "postes"])) == {
        "perimetre": "Chaque valeur ne peut être choisie qu'une fois."}
    assert validate(schema("p1-impact"), dict(SAMPLES["p1-impact"], impact_soins="catastrophe",
                                              donnees_personnelles="peut-être")) == {
        "impact_soins": NOT_ALLOWED, "donnees_personnelles": "Répondez par oui ou par non."}


def test_required_string_cannot_be_empty():
    assert validate(schema("p4-appui-ars"), {"actions_ars": ""}) == {"actions_ars": REQUIRED}


@pytest.mark.parametrize("value, message", [
    ("2024-03-12T06:45", None), ("2024-03-12T06:45:10", None), ("2024-03-12 06:45", None),
    ("2024-03-12T06:45:00Z", None), ("2024-03-12T06:45:00+01:00", None),
    ("2024-03-12", BAD_DATETIME), ("12/03/2024 06:45", BAD_DATETIME), ("2024-02-30T06:45", BAD_DATETIME),
    ("2024-03-12T25:00", BAD_DATETIME), ("hier soir", BAD_DATETIME),
])
def test_datetime_format_is_checked(value, message):
    errors = validate(schema("p1-formulaire"), dict(SAMPLES["p1-formulaire"], date_detection=value))
    assert errors == ({} if message is None else {"date_detection": message})


@pytest.mark.parametrize("value, ok", [
    ("2024-02-29", True), ("2023-02-29", False), ("2024-13-01", False), ("2024-3-1", False),
    ("20240301", False), ("14/03/2024", False), ("2024-03-14T10:00", False),
])
def test_date_format_is_checked(value, ok):
    errors = validate(schema("p4bis-communication"), dict(SAMPLES["p4bis-communication"], date_publication=value))
    assert errors == ({} if ok else {"date_publication": BAD_DATE})


@pytest.mark.parametrize("name, flag, field", [
    ("p3-qualification", "demande_informations", "question_declarant"),
    ("analyse-causes", "demande_informations", "question_declarant"),
    ("p4bis-coordination", "diffuser_alerte", "message_alerte"),
])
def test_conditional_requirement(name, flag, field):
    s = schema(name)
    data = dict(SAMPLES[name])
    data.pop(field, None)
    assert validate(s, dict(data, **{flag: True})) == {field: REQUIRED}
    assert validate(s, dict(data, **{flag: False})) == {}


def test_unknown_field_is_a_form_level_error():
    data = dict(SAMPLES["p5-cloture"], pirate="x")
    assert validate(schema("p5-cloture"), data) == {"": "Champ inconnu : pirate"}
    assert validate(schema("p5-cloture"), dict(data, autre=1)) == {"": "Champs inconnus : autre, pirate"}


def test_non_object_submission_is_a_form_level_error():
    assert list(validate(schema("p5-cloture"), ["x"])) == [""]


def test_one_message_per_field():
    errors = validate(schema("p1-formulaire"), {"titre": 12, "types_incident": "rancongiciel",
                                                "declaration_validee": "oui"})
    assert errors["titre"] == "Texte attendu."
    assert errors["types_incident"] == "Liste de valeurs attendue."
    assert errors["declaration_validee"] == "Répondez par oui ou par non."
    assert all(isinstance(message, str) and message.endswith(".") for message in errors.values())


# --- coerce ----------------------------------------------------------------------------------

def test_coerce_booleans():
    s = schema("p1-formulaire")
    form = {"incident_en_cours": ["true"], "plainte_deposee": ["false"], "cnil_notifiee": ["Non"],
            "anssi_notifiee": ["oui"], "besoin_accompagnement": ["on"], "besoin_aide_urgente": ["0"],
            "declaration_validee": ["false", "true"]}
    assert coerce(s, form) == {"incident_en_cours": True, "plainte_deposee": False, "cnil_notifiee": False,
                               "anssi_notifiee": True, "besoin_accompagnement": True, "besoin_aide_urgente": False,
                               "declaration_validee": True}
    assert coerce(s, {"declaration_validee": ["false"]}) == {"declaration_validee": False}
    assert coerce(s, {"incident_en_cours": ["peut-être"]}) == {"incident_en_cours": "peut-être"}


def test_coerce_arrays_integers_and_empty_strings():
    s = schema("p1-perimetre")
    assert coerce(s, {"perimetre": ["postes", "", "reseau"], "elements_concernes": ["  Serveurs  "],
                      "nombre_postes_impactes": ["1 200"]}) == {
        "perimetre": ["postes", "reseau"], "elements_concernes": "Serveurs", "nombre_postes_impactes": 1200}
    assert coerce(s, {"perimetre": [""], "elements_concernes": [""], "nombre_postes_impactes": ["  "]}) == {}
    assert coerce(s, {"perimetre": ["postes"]}) == {"perimetre": ["postes"]}


@pytest.mark.parametrize("typed", ["douze", "3,5", "12abc", "nan", "1e999"])
def test_coerce_keeps_bad_integers_for_validation(typed):
    s = schema("p1-perimetre")
    data = coerce(s, {"nombre_postes_impactes": [typed]})
    assert data == {"nombre_postes_impactes": typed}
    assert validate(s, dict(SAMPLES["p1-perimetre"], **data)) == {
        "nombre_postes_impactes": "Nombre entier attendu."}


def test_coerce_drops_fields_outside_the_schema_and_normalises_newlines():
    s = schema("complement-informations")
    form = {"csrf_token": ["abc"], "action": ["submit"], "reponse_informations": ["Ligne 1\r\nLigne 2"]}
    assert coerce(s, form) == {"reponse_informations": "Ligne 1\nLigne 2"}


def test_coerce_then_validate_a_real_html_post():
    s = schema("p1-formulaire")
    post = MultiDict([("csrf_token", "t"), ("titre", "Rançongiciel au CH"), ("types_incident", "rancongiciel"),
                      ("types_incident", "vol_materiel"), ("date_detection", "2024-03-12T06:45"),
                      ("date_debut", ""), ("description", "Serveurs chiffrés cette nuit."),
                      ("incident_en_cours", "true"), ("actions_menees", ""), ("plainte_deposee", "false"),
                      ("cnil_notifiee", "false"), ("anssi_notifiee", "false"), ("besoin_accompagnement", "true"),
                      ("besoin_aide_urgente", "false"), ("declaration_validee", "on")])
    data = coerce(s, post)
    assert data["types_incident"] == ["rancongiciel", "vol_materiel"]
    assert "date_debut" not in data and "actions_menees" not in data
    assert validate(s, data) == {}
    post.setlist("declaration_validee", [])
    post.setlist("date_detection", ["12/03/2024"])
    assert validate(s, coerce(s, post)) == {"declaration_validee": REQUIRED, "date_detection": BAD_DATETIME}


# --- load_form ---------------------------------------------------------------------------------

def test_load_form_reloads_when_the_file_changes(tmp_path):
    path = tmp_path / "f.schema.json"
    path.write_text(json.dumps({"title": "Version 1"}), encoding="utf-8")
    first = load_form(tmp_path, "f.schema.json")
    first["title"] = "modifié par l'appelant"
    assert load_form(tmp_path, "f.schema.json") == {"title": "Version 1"}
    path.write_text(json.dumps({"title": "Version 2"}), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_form(tmp_path, "f.schema.json") == {"title": "Version 2"}


def test_load_form_refuses_paths_outside_the_directory(tmp_path):
    (tmp_path / "secret.json").write_text("{}", encoding="utf-8")
    (tmp_path / "forms").mkdir()
    with pytest.raises(ValueError):
        load_form(tmp_path / "forms", "../secret.json")


def test_a_compiled_validator_judges_the_same_data_once_per_request_and_never_a_different_one(monkeypatch):
    """form_schemas.validate keeps what compiled validators said during a request: the same data again is a lookup
    (a declaration through the API validates each block up front and in its command); data changed in between,
    data JSON would write like other data (a tuple for a list, a number as a key), another validator of the same
    schema, another request and work outside any request are judged again, and a caller changing the answer
    changes nothing kept."""
    from flask import Flask
    from workflow import form_schemas
    schema = {"type": "object", "additionalProperties": False, "required": ["a"],
              "properties": {"a": {"type": "array", "items": {"type": "integer"}}, "b": {"type": "string"}}}
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    judged = []
    real = form_schemas._validate
    monkeypatch.setattr(form_schemas, "_validate", lambda v, data: judged.append(data) or real(v, data))
    data = {"a": [1, 2], "b": "texte"}
    web = Flask("essai")
    with web.test_request_context("/"):
        assert validate(schema, data, validator) == {} and validate(schema, dict(data), validator) == {}
        assert len(judged) == 1  # the second time, the same data in another dict: a lookup
        data["a"].append("trois")  # changed in place after it was judged
        assert set(validate(schema, data, validator)) == {"a"} and len(judged) == 2
        answer = validate(schema, data, validator)
        answer.clear()
        assert set(validate(schema, data, validator)) == {"a"} and len(judged) == 2
        # A tuple is no JSON array for jsonschema, though JSON writes both alike: never the list's result.
        assert validate(schema, {"a": [1]}, validator) == {}
        assert set(validate(schema, {"a": (1,)}, validator)) == {"a"}
        assert validate(schema, {"a": [1], 7: "x"}, validator) == {"": "Champ inconnu : 7"}  # a program's key, named
        # Another validator (another definition's form) judges for itself.
        other = Draft202012Validator(dict(schema, required=["a", "b"]), format_checker=FORMAT_CHECKER)
        assert validate(schema, {"a": [1]}, other) == {"b": "Ce champ est obligatoire."}
    judged.clear()
    with web.test_request_context("/"):  # another request: judged afresh
        assert set(validate(schema, data, validator)) == {"a"} and len(judged) == 1
    assert set(validate(schema, data, validator)) == {"a"} and set(validate(schema, data, validator)) == {"a"}
    assert len(judged) == 3  # outside any request (commands from the CLI, the scheduler): nothing kept
