"""The validator knows loops and dead ends: a choice whose conditions can all be false, a standard loop or a
multi-instance without a bound, and a cycle that never waits are refused in French naming the element; a choice
whose conditions cover every value of a form's enumeration needs no default flow. No database needed."""
from __future__ import annotations

import re

from tests.test_validation import SHIPPED, broken, lines, only

LOOP = ('<bpmn:standardLoopCharacteristics{attrs}><bpmn:loopCondition xsi:type="bpmn:tFormalExpression">True'
        '</bpmn:loopCondition></bpmn:standardLoopCharacteristics>')
ANALYSE_FLOW = ('<bpmn:sequenceFlow id="flow_p4_gw_similaires__p4_gw_analyse" sourceRef="p4_gw_similaires" '
                'targetRef="p4_gw_analyse" name="Non" />')


def inside(element_id: str, tag: str, text: str, xml: str = SHIPPED) -> str:
    """The BPMN with text added at the end of an element (before its closing tag)."""
    start = xml.index(f'<bpmn:{tag} id="{element_id}"')
    end = xml.index(f"</bpmn:{tag}>", start)
    return xml[:end] + text + xml[end:]


def looping_service_task(attrs: str = "") -> str:
    """The shipped process whose service task p1_heures repeats while `True` (for ever without loopMaximum)."""
    return inside("p1_heures", "serviceTask", LOOP.format(attrs=attrs))


def gateway_that_can_fail() -> str:
    """p4_gw_similaires without its default flow, its « Non » flow given a condition that can be false too."""
    xml = broken(' default="flow_p4_gw_similaires__p4_gw_analyse"', "")
    return xml.replace(ANALYSE_FLOW, ANALYSE_FLOW[:-3] + '><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
                       'similaires["nombre"] &gt; 1</bpmn:conditionExpression></bpmn:sequenceFlow>')


def test_a_gateway_whose_conditions_can_all_be_false_is_refused():
    line = only(lines(gateway_that_can_fail()), "« p4_gw_similaires » (Incidents similaires en cours ?)")
    assert "la passerelle n'a pas de flux par défaut" in line and "toutes les valeurs d'un champ" in line
    assert "/" not in line.split(" : ", 1)[1]  # no server path, only the file's own name


def test_conditions_covering_a_form_enumeration_need_no_default():
    flow = ('<bpmn:sequenceFlow id="flow_p4_gw_decision_similaires__p4_gw_analyse" sourceRef="p4_gw_decision_similaires"'
            ' targetRef="p4_gw_analyse" name="Écarté : phase 4" />')
    xml = broken(' default="flow_p4_gw_decision_similaires__p4_gw_analyse"', "")
    covering = xml.replace(flow, flow[:-3] + '><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
                           'decision_similarite == "ecarter"</bpmn:conditionExpression></bpmn:sequenceFlow>')
    assert lines(covering) == []
    # One value of the enumeration left out: the two conditions can both be false.
    partial = covering.replace('decision_similarite == "ecarter"', 'decision_similarite == "reporter"')
    only(lines(partial), "« p4_gw_decision_similaires »", "pas de flux par défaut")
    # A tuple of values counts too; another field than the enumeration's does not.
    assert lines(covering.replace('decision_similarite == "ecarter"',
                                  'decision_similarite in ("ecarter", "autre")')) == []
    only(lines(covering.replace('decision_similarite == "ecarter"', 'motif_decision == "ecarter"')),
         "« p4_gw_decision_similaires »", "pas de flux par défaut")


def test_a_standard_loop_needs_a_maximum():
    line = only(lines(looping_service_task()), "« p1_heures » (Contrôler les heures ouvrées de la Cellule ACSS)")
    assert "boucle standard) sans nombre maximal d'itérations" in line and "Renseignez « loopMaximum »" in line
    assert lines(looping_service_task(' loopMaximum="3"')) == []
    only(lines(looping_service_task(' loopMaximum="0"')), "« p1_heures »", "sans nombre maximal")


def test_a_multi_instance_needs_a_cardinality_or_a_collection():
    xml = inside("p1_heures", "serviceTask", "<bpmn:multiInstanceLoopCharacteristics isSequential=\"true\" />")
    line = only(lines(xml), "« p1_heures »", "multi-instance")
    assert "ni nombre d'instances ni collection" in line
    bounded = xml.replace('isSequential="true" />', 'isSequential="true"><bpmn:loopCardinality>3</bpmn:loopCardinality>'
                          '</bpmn:multiInstanceLoopCharacteristics>')
    assert not [f for f in lines(bounded) if "multi-instance" in f]


def test_a_cycle_without_a_wait_state_is_refused_and_one_through_a_user_task_is_not():
    # p1_heures (a service task) goes back to p1_etat_declare (a service task) through no wait.
    xml = re.sub(r'(<bpmn:sequenceFlow id="flow_p1_etat_declare__p1_heures"[^>]*/>)',
                 r'\1<bpmn:sequenceFlow id="retour" sourceRef="p1_heures" targetRef="p1_etat_declare" />', SHIPPED)
    assert xml != SHIPPED
    found = lines(xml)
    line = only(found, "« p1_etat_declare »", "aucune attente")
    assert "elle passe aussi par « p1_heures » (Contrôler les heures ouvrées" in line
    assert "le moteur y tournerait sans fin" in line
    # The shipped process loops (« Qualification à (re)prendre ») through user tasks: no cycle is refused.
    assert not [f for f in lines(SHIPPED) if "aucune attente" in f]
