"""Form pages: every widget from JSON Schema, French errors next to fields with the typed values kept, drafts,
the declaration's FINESS check and tasks completed meanwhile by someone else."""
from __future__ import annotations

import re

from werkzeug.datastructures import MultiDict

from cli import scenarios
from models import Draft, User, db
from test_web_support import (ACSS, DECLARANT, dossier_by_number, dossier_number, form_data, login, open_task, post,
                              structure_of, user)
from web import forms
from web.casework import tasks
from workflow import commands, context

SCHEMA = {
    "type": "object",
    "properties": {
        "texte": {"type": "string", "title": "Texte court"},
        "long": {"type": "string", "title": "Texte long"},
        "nombre": {"type": "integer", "title": "Nombre", "minimum": 0},
        "jour": {"type": "string", "format": "date", "title": "Jour"},
        "instant": {"type": "string", "format": "date-time", "title": "Instant"},
        "oui_non": {"type": "boolean", "title": "Oui ou non", "oneOf": [{"const": True, "title": "Oui"},
                                                                         {"const": False, "title": "Non"}]},
        "case": {"type": "boolean", "const": True, "title": "Je certifie"},
        "un_choix": {"type": "string", "title": "Un choix", "oneOf": [{"const": "a", "title": "Choix A"},
                                                                      {"const": "b", "title": "Choix B"}]},
        "plusieurs": {"type": "array", "title": "Plusieurs", "items": {"type": "string", "enum": ["x", "y"]}},
        "lignes": {"type": "array", "title": "Contacts", "items": {
            "type": "object", "properties": {"nom": {"type": "string", "title": "Nom du contact"},
                                             "age": {"type": "integer", "title": "Âge"}}, "required": ["nom"]}},
    },
    "required": ["texte", "case"],
}
UI = {"long": {"ui:widget": "textarea", "ui:help": "Aide du texte long"}, "un_choix": {"ui:widget": "select"},
      "ui:order": ["texte", "long"]}


def render(app, fields):
    template = app.jinja_env.from_string('{% from "macros/fields.html" import field %}'
                                         '{% for f in fields %}{{ field(f) }}{% endfor %}')
    return template.render(fields=fields)


def test_every_widget_renders_with_label_help_and_error(app):
    fields = forms.build_fields(SCHEMA, UI, {"texte": "<b>gras</b>", "plusieurs": ["y"], "lignes-0-nom": "Ana",
                                             "lignes-1-nom": "Bo"}, {"texte": "Ce champ est obligatoire."})
    assert [f.name for f in fields][:2] == ["texte", "long"]
    html = render(app, fields)
    assert '<label for="f-texte">Texte court' in html and 'value="&lt;b&gt;gras&lt;/b&gt;"' in html
    assert 'id="erreur-texte"' in html and 'aria-invalid="true"' in html
    assert '<textarea id="f-long"' in html and "Aide du texte long" in html
    assert 'type="number"' in html and 'min' in html
    assert 'type="date"' in html and 'type="datetime-local"' in html
    assert html.count('name="oui_non"') == 2 and "<legend>Oui ou non" in html
    assert 'name="case" value="true"' in html
    assert '<select id="f-un_choix"' in html and "Choix B" in html
    assert re.search(r'name="plusieurs" value="y"\s+checked', html)
    assert 'name="lignes-0-nom"' in html and 'name="lignes-1-nom"' in html and 'value="Bo"' in html


def test_add_a_row_to_an_array_of_objects_without_javascript(app):
    """« Ajouter une ligne » (a submit button) shows one more empty row and keeps the rows typed."""
    values = forms.raw_values(SCHEMA, MultiDict([("lignes-0-nom", "Ana"), ("texte", "t")]))
    values = tasks.add_object_row(values, "ajouter:lignes")
    fields = forms.build_fields(SCHEMA, UI, values)
    rows = next(f for f in fields if f.name == "lignes").rows
    assert [[sub.name for sub in row] for row in rows] == [["lignes-0-nom", "lignes-0-age"],
                                                            ["lignes-1-nom", "lignes-1-age"]]
    html = render(app, fields)
    assert re.search(r'name="lignes-0-nom"[^>]*\s+value="Ana"', html) and 'name="lignes-1-nom"' in html
    again = tasks.add_object_row(values, "ajouter:lignes")
    assert len(next(f for f in forms.build_fields(SCHEMA, UI, again) if f.name == "lignes").rows) == 3
    # The empty key of the added row is not data.
    assert forms.coerce(SCHEMA, MultiDict([("lignes-0-nom", "Ana"), ("lignes-1-", "")]))["lignes"] == [{"nom": "Ana"}]


def test_coerce_arrays_of_objects_and_paris_datetimes(app):
    form = MultiDict([("texte", "t"), ("case", "true"), ("lignes-0-nom", "Ana"), ("lignes-0-age", "31"),
                      ("lignes-1-nom", ""), ("instant", "2026-03-02T07:45"), ("plusieurs", "x"),
                      ("plusieurs", "y"), ("csrf_token", "z")])
    data = forms.coerce(SCHEMA, form)
    assert data["lignes"] == [{"nom": "Ana", "age": 31}]
    assert data["instant"] == "2026-03-02T07:45:00+01:00"
    assert data["plusieurs"] == ["x", "y"] and data["case"] is True and "csrf_token" not in data


def test_declaration_round_trip_keeps_what_was_typed(client):
    login(client, DECLARANT)
    response = post(client, "/declarer", {"finess_site": "350000029", "perimetre": ["serveurs", "messagerie"],
                                          "nombre_postes_impactes": "12", "elements_concernes": ""})
    assert response.status_code == 422
    page = response.text
    assert 'id="erreur-finess_site"' in page and "clé de contrôle" in page
    assert 'id="erreur-elements_concernes"' in page and "Ce champ est obligatoire." in page
    assert 'value="350000029"' in page and 'value="12"' in page
    assert re.search(r'value="serveurs"\s+checked', page) and re.search(r'value="messagerie"\s+checked', page)
    assert not re.search(r'value="postes"\s+checked', page)
    # A valid FINESS of another structure is refused too.
    other = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=structure_of(
        "declarant.metz@chr-metz.example.fr").finess_et))
    assert other.status_code == 422 and "ne correspond pas à votre structure" in other.text


def test_task_errors_drafts_and_resume(client, clock):
    login(client, DECLARANT)
    response = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=structure_of(DECLARANT).finess_et))
    dossier = dossier_by_number(dossier_number(client.get(response.location).text))
    row = open_task(dossier.id, "p1_impact")
    response = post(client, f"/taches/{row.id}", {"impact_soins": "mode_degrade", "action": "valider"})
    assert response.status_code == 422
    assert 'id="erreur-impact_fonctionnement"' in response.text and 'value="mode_degrade"' in response.text
    response = post(client, f"/taches/{row.id}", {"impact_soins": "interruption", "volume_donnees": "20 Go",
                                                  "action": "brouillon"})
    assert response.status_code == 302
    draft = db.session.scalar(db.select(Draft).where(Draft.task_id == row.id))
    assert draft.data["volume_donnees"] == "20 Go"
    page = client.get(f"/taches/{row.id}").text
    assert "Brouillon du" in page and 'value="20 Go"' in page
    assert re.search(r'value="interruption"\s+checked', page)
    assert post(client, f"/taches/{row.id}", form_data(scenarios.IMPACT, action="valider")).status_code == 302
    assert db.session.scalar(db.select(Draft).where(Draft.task_id == row.id)) is None


def test_task_completed_meanwhile_gets_a_clear_message(client, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    row = open_task(dossier.id, "p2_ouvrir")
    login(client, ACSS)
    assert client.get(f"/taches/{row.id}").status_code == 200
    colleague = User(email="collegue@acss.example.fr", name="Léa Collègue", password_hash="x", role="acss")
    db.session.add(colleague)
    db.session.commit()
    commands.complete_task(row.id, scenarios.OPENING[0][1], context.Actor.of(colleague))
    response = post(client, f"/taches/{row.id}", form_data(scenarios.OPENING[0][1], action="valider"))
    assert response.status_code == 409
    assert "déjà été traitée" in response.text and "Léa Collègue" in response.text
    assert "Traceback" not in response.text


def test_claimed_task_is_protected_until_taken_over(client, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    row = open_task(dossier.id, "p2_ouvrir")
    colleague = User(email="collegue@acss.example.fr", name="Léa Collègue", password_hash="x", role="acss")
    db.session.add(colleague)
    db.session.commit()
    row.claimed_by = colleague.id
    db.session.commit()
    login(client, ACSS)
    assert post(client, f"/taches/{row.id}/prendre").status_code == 302
    assert open_task(dossier.id, "p2_ouvrir").claimed_by == colleague.id  # not stolen silently
    response = post(client, f"/taches/{row.id}", form_data(scenarios.OPENING[0][1], action="valider"))
    assert response.status_code == 409 and "Léa Collègue" in response.text
    post(client, f"/taches/{row.id}/prendre", {"reprendre": "1"})
    assert open_task(dossier.id, "p2_ouvrir").claimed_by == user(ACSS).id
    assert post(client, f"/taches/{row.id}", form_data(scenarios.OPENING[0][1], action="valider")).status_code == 302


def test_added_row_keeps_row_one_choice_and_opens_on_the_new_row_without_javascript(client, clock):
    """The server's « Ajouter une ligne » keeps each row's select (a row field is one value, not a list) and
    puts the focus (autofocus) on the new row's first field."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p1_formulaire")
    row = open_task(dossier.id, "p1_formulaire")
    login(client, DECLARANT)
    page = post(client, f"/taches/{row.id}", {"indicateurs_techniques-0-type": "ip",
                                              "indicateurs_techniques-0-valeur": "198.51.100.7",
                                              "action": "ajouter:indicateurs_techniques"})
    assert page.status_code == 200
    assert re.search(r'<option value="ip"\s+selected>', page.text)
    assert re.search(r'id="f-indicateurs_techniques-1-type"[^>]*autofocus', page.text)
    assert page.text.count('autofocus="autofocus"') == 1
    assert 'maxlength' not in page.text


def test_date_coherence_holds_on_every_path(client, clock):
    """Nothing in the future, start <= detection: refused by the command (web, API, CLI alike)."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p1_formulaire")
    row = open_task(dossier.id, "p1_formulaire")
    actor = context.Actor.of(user(DECLARANT))
    for data, field, words in ((scenarios.formulaire() | {"date_detection": "2027-01-01T10:00:00+01:00"},
                                "date_detection", "futur"),
                               (scenarios.formulaire() | {"date_debut": "2026-03-02T08:00:00+01:00"},
                                "date_debut", "constatation"),
                               (scenarios.formulaire() | {"date_debut": "2026-03-05T11:30"}, "date_debut", "futur")):
        try:
            commands.complete_task(row.id, data, actor)
        except Exception as exc:  # FormErrors: a 422 with field messages
            assert exc.status == 422 and words in exc.errors[field], exc.errors
        else:
            raise AssertionError(f"accepted: {data}")
    login(client, DECLARANT)
    page = post(client, f"/taches/{row.id}", form_data(scenarios.formulaire(), action="valider",
                                                       date_detection="2026-09-01T10:00"))
    assert page.status_code == 422 and 'id="erreur-date_detection"' in page.text and "futur" in page.text
    assert 'value="2026-09-01T10:00"' in page.text
    commands.complete_task(row.id, scenarios.formulaire() | {"date_debut": "2026-03-02T07:00:00+01:00"}, actor)
    assert open_task(dossier.id, "p1_formulaire") is None  # coherent dates: validated


def test_over_long_text_is_a_field_error_with_the_text_kept(client, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p1_formulaire")
    row = open_task(dossier.id, "p1_formulaire")
    login(client, DECLARANT)
    text = "x" * 20412
    for action in ("valider", "brouillon"):
        page = post(client, f"/taches/{row.id}", form_data(scenarios.formulaire(), action=action, description=text))
        assert page.status_code == 422 and 'id="erreur-description"' in page.text
        assert text in page.text and "20\u00a0412" in page.text and "20\u00a0000" in page.text
    assert db.session.scalar(db.select(Draft).where(Draft.task_id == row.id)) is None
