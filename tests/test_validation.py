"""The deploy-time validator: one broken copy of the shipped BPMN per rule, each refused in French naming
the file, the element and what to do; the shipped process passes clean. No database needed."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from lxml import etree

from engine import parsing
from validation import external, lanes, validator
from validation.problems import ValidationFailed

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "processes" / "signalement_incident_ssi.bpmn").read_text(encoding="utf-8")
FORMS = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "forms").glob("*.json"))}
PROCESS_ID = "signalement_incident_ssi"
FILE = "v2.bpmn"


def broken(old: str, new: str, count: int = 1) -> str:
    """The shipped BPMN with one edit (the edit must apply)."""
    assert old in SHIPPED, old
    return SHIPPED.replace(old, new, count)


def lines(xml: str, forms: dict | None = None) -> list[str]:
    """The French problems the validator reports (bpmnlint aside: it has its own test)."""
    return validator.validate(xml, FORMS if forms is None else forms, FILE, PROCESS_ID, lint=False).lines()


def only(found: list[str], *parts: str) -> str:
    """The one reported line holding every part."""
    matching = [line for line in found if all(part in line for part in parts)]
    assert len(matching) == 1, found
    return matching[0]


def test_the_shipped_process_passes_clean_bpmnlint_included():
    report = validator.validate(SHIPPED, FORMS, "signalement_incident_ssi.bpmn", PROCESS_ID)
    assert report.problems == [] and report.spec is not None and report.spec.name == PROCESS_ID
    if external.bpmnlint_binary() is None:
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail("bpmnlint absent alors que REQUIRE_TOOLS=1")
        pytest.skip("bpmnlint absent (npm ci) : seules les règles du validateur Python ont été vérifiées")
    assert report.linted


def test_another_process_id_is_refused_naming_both_ids():
    xml = SHIPPED.replace(f'id="{PROCESS_ID}"', 'id="x"').replace(f'processRef="{PROCESS_ID}"', 'processRef="x"')
    line = only(lines(xml), "identifiant")
    assert line.startswith("v2.bpmn, élément « x » (Signalement et traitement")
    assert "« x »" in line and f"remplace « {PROCESS_ID} »" in line and f'gardez id="{PROCESS_ID}"' in line


def test_a_file_without_executable_process_is_refused():
    found = lines(broken('isExecutable="true"', 'isExecutable="false"'))
    assert found == ["v2.bpmn : aucun processus exécutable n'a été trouvé. Dans le modeleur, sélectionnez le "
                     "participant (le cadre du processus) et cochez « Exécutable » dans le panneau des propriétés "
                     "(isExecutable=\"true\")."]


def test_a_deleted_flow_leaves_elements_unreachable():
    xml = re.sub(r'<bpmn:sequenceFlow id="flow_p3_gw_info__p3_gw_b1"[^>]*?/>', "", SHIPPED)
    assert xml != SHIPPED
    found = lines(xml)
    line = only(found, "« p3_gw_b1 »", "atteint")
    assert "ne peut pas être atteint depuis l'événement de début. Reliez-le" in line
    assert len([f for f in found if "ne peut pas être atteint" in f]) > 30


def test_elements_that_cannot_reach_an_end_are_refused():
    xml = re.sub(r'<bpmn:endEvent id="p6_end"(.*?)</bpmn:endEvent>',
                 r'<bpmn:intermediateThrowEvent id="p6_end"\1</bpmn:intermediateThrowEvent>', SHIPPED, flags=re.S)
    found = lines(xml)
    line = only(found, "« p6_retex »", "aucun chemin")
    assert "Ajoutez un flux de séquence vers la suite du processus ou vers un événement de fin." in line


def test_a_gateway_without_default_flow_is_refused():
    found = lines(broken(' default="flow_p1_gw_militaire__p2_notification"', ""))
    line = only(found, "« p1_gw_militaire » (Hôpital des armées ?)", "la passerelle n'a pas de flux par défaut")
    assert "No conditions satisfied" in line and "Marquez l'un de ses flux sortants comme flux par défaut" in line


@pytest.mark.parametrize("old, new, text", [
    ('<spiffworkflow:property name="role" value="ars" />', "", "la voie ne déclare pas de rôle"),
    ('<spiffworkflow:property name="role" value="ars" />', '<spiffworkflow:property name="role" value="agence" />',
     "le rôle « agence » n'existe pas"),
])
def test_a_lane_without_a_known_role_is_refused(old, new, text):
    line = only(lines(broken(old, new)), "« lane_ars »")
    assert text in line and "la propriété spiffworkflow « role »" in line and "declarant, armees, ars" in line


def test_a_user_task_outside_every_lane_is_refused():
    line = only(lines(broken("<bpmn:flowNodeRef>p4_choix</bpmn:flowNodeRef>", "")), "« p4_choix »")
    assert "la tâche n'est dans aucune voie : personne ne pourrait la traiter" in line


def test_a_user_task_needs_an_existing_form():
    line = only(lines(broken('value="p3-qualification.schema.json"', 'value="p3-qualif.schema.json"')),
                "« p3_qualifier »")
    assert "le formulaire « p3-qualif.schema.json » n'existe pas" in line
    assert "Vouliez-vous dire « p3-qualification.schema.json » ?" in line


def test_a_user_task_needs_a_form_that_compiles():
    forms = dict(FORMS, **{"p3-qualification.schema.json": {"type": "object",
                                                              "properties": {"qualification": {"type": "nombre"}}}})
    line = only(lines(SHIPPED, forms), "« p3_qualifier »")
    assert "le formulaire « p3-qualification.schema.json » n'est pas un JSON Schema valide" in line


def test_an_unregistered_operator_is_refused():
    line = only(lines(broken('serviceTaskOperator id="notifier"', 'serviceTaskOperator id="notifer"')), "notifer")
    assert "élément « p1_fssi_hno »" in line and "l'opérateur « notifer » n'est pas enregistré" in line
    assert "Vouliez-vous dire « notifier » ?" in line


def test_operator_parameters_follow_the_handler_signature():
    missing = broken('<spiffworkflow:parameter id="etat" type="any" value="\'déclaré\'" />', "")
    assert "le paramètre « etat » de l'opérateur « changer_etat » manque" in only(lines(missing), "« p1_etat_declare »")
    extra = broken('<spiffworkflow:parameter id="etat" type="any" value="\'déclaré\'" />',
                   '<spiffworkflow:parameter id="etat" type="any" value="\'déclaré\'" />'
                   '<spiffworkflow:parameter id="urgence" type="any" value="True" />')
    assert "ne prend pas de paramètre « urgence »" in only(lines(extra), "« p1_etat_declare »")


def test_a_timer_must_evaluate_to_an_iso_8601_value():
    line = only(lines(broken('>"P7D"<', ">P3D<")), "« p4_hebdo »")
    assert "n'est pas une durée ISO 8601" in line and 'écrivez "P3D" entre guillemets' in line
    line = only(lines(broken('>"P7D"<', '>"sept jours"<')), "« p4_hebdo »")
    assert "ne donne pas une durée ISO 8601" in line
    assert lines(broken('>"P7D"<', '>"P1W"<')) == []  # another valid duration


def test_a_condition_reading_an_undefined_variable_is_refused():
    line = only(lines(broken('qualification == "non_incident"', 'qualificaton == "non_incident"')), "qualificaton")
    assert "« qualificaton » n'est défini par aucun formulaire" in line
    assert "Vouliez-vous dire « qualification » ?" in line and "élément « flow_" in line


def test_a_script_reading_an_undefined_variable_is_refused():
    line = only(lines(broken('qualification = bascule["qualification"]', 'qualification = basucle["qualification"]')),
                "basucle")
    assert "élément « p4_bascule »" in line


def test_an_expression_the_interpreter_refuses_is_refused():
    line = only(lines(broken('impact_soins != "aucun"', "().__class__")), "Expression refusée")
    assert "attribut" in line and "élément « flow_mil_gw_soins__mil_ars_soins »" in line


def test_missing_diagram_interchange_is_refused():
    xml = re.sub(r'<bpmndi:BPMNShape id="[^"]*" bpmnElement="p4_choix".*?</bpmndi:BPMNShape>', "", SHIPPED, flags=re.S)
    assert xml != SHIPPED
    line = only(lines(xml), "« p4_choix »")
    assert "n'est pas dessiné" in line and "modeleur" in line


def test_bpmnlint_recommended_rules_are_reported():
    if external.bpmnlint_binary() is None:
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail("bpmnlint absent alors que REQUIRE_TOOLS=1")
        pytest.skip("bpmnlint absent (npm ci) : la règle n'a pas pu être vérifiée")
    report = validator.validate(broken('name="Hôpital des armées ?"', ""), FORMS, FILE, PROCESS_ID)
    assert report.linted
    line = only(report.lines(), "bpmnlint")
    assert line.startswith("v2.bpmn, élément « p1_gw_militaire » : l'élément n'a pas de nom "
                           "(règle bpmnlint « label-required »)")
    assert "http" not in line and "/tmp" not in line


def test_spiffworkflow_errors_are_translated_naming_the_element():
    xml = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
           '<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>'
           '<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="t"/>'
           '<bpmn:serviceTask id="t" name="Calculer"/></bpmn:process></bpmn:definitions>')
    _, _, found = external.spiff_parse(etree.fromstring(xml.encode()), "p")
    assert [p.render("f.bpmn") for p in found] == [
        "f.bpmn, élément « t » (Calculer) : la tâche de service n'a pas d'opérateur. Choisissez un opérateur."]


@pytest.mark.parametrize("xml, text", [
    ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><d>&b;</d>',
     "DOCTYPE"),
    ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "DOCTYPE"),
    ("<bpmn:definitions", "n'est pas du XML lisible"),
    (SHIPPED + "<!--" + "x" * 1024 * 1024 + "-->", "trop volumineux"),
])
def test_hostile_and_oversized_files_are_refused(xml, text):
    found = lines(xml)
    assert len(found) == 1 and found[0].startswith("v2.bpmn : ") and text in found[0], found
    assert "root:" not in found[0]


def test_ensure_valid_raises_a_422_listing_every_problem():
    xml = broken('>"P7D"<', ">P3D<").replace('qualification == "non_incident"', 'qualificaton == "non_incident"')
    with pytest.raises(ValidationFailed) as excinfo:
        validator.ensure_valid(xml, FORMS, FILE, PROCESS_ID, lint=False)
    assert excinfo.value.status == 422 and len(excinfo.value.problems) == 2
    assert excinfo.value.message.startswith("Le fichier BPMN est invalide (v2.bpmn, 2 problèmes) :\n- v2.bpmn, élément")


def test_lane_roles_come_from_the_lane_property_and_legacy_versions_from_their_labels():
    renamed = SHIPPED.replace('<bpmn:lane id="lane_ars" name="ARS">', '<bpmn:lane id="lane_ars" name="Agence">')
    roles = lanes.element_roles(parsing.parse_xml(renamed))
    assert roles["p4_choix"] == "ars" and roles["p3_qualifier"] == "acss" and roles["mil_traiter"] == "armees"
    legacy = re.sub(r"<bpmn:extensionElements>\s*<spiffworkflow:properties>\s*<spiffworkflow:property "
                    r'name="role"[^>]*/>\s*</spiffworkflow:properties>\s*</bpmn:extensionElements>', "", SHIPPED)
    assert legacy.count('name="role"') == 0
    assert lanes.element_roles(parsing.parse_xml(legacy)) == lanes.element_roles(parsing.parse_xml(SHIPPED))
    unknown_label = legacy.replace('<bpmn:lane id="lane_ars" name="ARS">', '<bpmn:lane id="lane_ars" name="Agence">')
    assert "p4_choix" not in lanes.element_roles(parsing.parse_xml(unknown_label))  # no silent fallback
