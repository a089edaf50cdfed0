"""The in-browser modeller of the process owners: bpmn-js Modeler with our properties panel, a JSON Schema form
editor with a live preview, drafts kept per user, and the validator's problems placed on the diagram.

A draft never affects running dossiers: it is only text until the process owner sends it to the dry run
(web/owners/deploys.py), which deploys it only after its report has been read and confirmed.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema
from flask import Blueprint, current_app, jsonify, render_template, request
from lxml import etree
from sqlalchemy import delete, select

from engine import parsing
from handlers import HANDLERS
from models import ModellerDraft, ProcessDefinition, db
from referentiel import LANE_ROLE_CODES, ROLES
from timekeeping.clock import app_now
from validation import validator
from validation.elements import handler_parameters
from web import access, forms as form_widgets
from web.auth.login import current_user, roles_required
from workflow import deployment

bp = Blueprint("modeller", __name__, url_prefix="/admin/processus/modeleur")
MAX_FORM_BYTES = 64 * 1024
MAX_FORMS = 200
FORM_NAME_SUFFIXES = (".schema.json", ".uischema.json")
MODDLE = Path(__file__).resolve().parent.parent / "static" / "js" / "spiffworkflow-moddle.json"


def _problem(status: int, detail: str, **extra):
    return jsonify({"type": "about:blank", "title": "Requête refusée", "status": status, "detail": detail, **extra}), status


def _base() -> ProcessDefinition:
    return deployment.active_definition()


def _draft() -> ModellerDraft | None:
    return db.session.scalar(select(ModellerDraft).where(ModellerDraft.user_id == current_user().id,
                                                         ModellerDraft.process_id == deployment.process_id()))


def _payload() -> tuple[str | None, dict | None, str | None]:
    """(xml, forms, None) from a JSON body, or (None, None, French refusal)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        return None, None, "Corps JSON attendu : {\"xml\": \"…\", \"forms\": {…}}."
    forms = body.get("forms") or {}
    if not isinstance(forms, dict) or len(forms) > MAX_FORMS:
        return None, None, "« forms » doit associer au plus 200 noms de fichiers à leur schéma JSON."
    for name, schema in forms.items():
        if not isinstance(name, str) or not name.endswith(FORM_NAME_SUFFIXES) or "/" in name or "\\" in name \
                or name.startswith(".") or len(name) > 120:
            return None, None, f"Nom de formulaire refusé : « {str(name)[:120]} » (nom.schema.json ou nom.uischema.json)."
        if not isinstance(schema, dict) or len(json.dumps(schema)) > MAX_FORM_BYTES:
            return None, None, f"Le formulaire « {name} » doit être un objet JSON de 64 Kio au plus."
    return body["xml"], forms, None


def operators() -> list[dict]:
    """The registered service operators with their parameters, for the properties panel."""
    found = []
    for name in sorted(HANDLERS):
        required, accepted, any_name = handler_parameters(name)
        doc = (HANDLERS[name].__doc__ or "").strip().splitlines()
        found.append({"name": name, "required": sorted(required), "optional": sorted(accepted - required),
                      "any": any_name, "doc": doc[0] if doc else ""})
    return found


@bp.route("")
@roles_required(*access.ADMINS)
def index():
    """The modeller page."""
    base = _base()
    draft = _draft()
    forms = sorted(name for name in ({**(base.forms or {}), **(draft.forms if draft else {})})
                   if name.endswith(".schema.json"))
    config = {"operators": operators(), "forms": forms,
              "roles": [{"code": code, "label": ROLES[code]} for code in LANE_ROLE_CODES]}
    return render_template("owners/modeller/index.html", base=base, draft=draft, config=config, moddle=_moddle())


@lru_cache(maxsize=1)
def _moddle() -> dict:
    """The spiffworkflow extension for bpmn-moddle (the same file the round-trip test reads)."""
    return json.loads(MODDLE.read_text(encoding="utf-8"))


@bp.route("/fichier")
@roles_required(*access.ADMINS)
def current():
    """The text being edited: the user's draft, else the version new dossiers start on; with its forms."""
    base, draft = _base(), _draft()
    forms = {**(base.forms or {}), **(draft.forms if draft else {})}
    return jsonify({"xml": draft.bpmn_xml if draft else base.bpmn_xml, "forms": forms, "base_version": base.id,
                    "draft_saved_at": draft.updated_at.isoformat() if draft else None,
                    "draft_forms": sorted(draft.forms) if draft else []})


@bp.route("/brouillon", methods=["POST"])
@roles_required(*access.ADMINS)
def save():
    """Keep the user's draft (XML well-formed, within the size limit; checked fully by « Vérifier »)."""
    xml, forms, refusal = _payload()
    if refusal:
        return _problem(400, refusal)
    try:
        parsing.parse_xml(xml)
    except (ValueError, etree.XMLSyntaxError) as exc:
        return _problem(422, f"Brouillon non enregistré : le BPMN n'est pas lisible ({exc}).")
    base = _base()
    changed = {name: schema for name, schema in forms.items() if (base.forms or {}).get(name) != schema}
    draft = _draft() or ModellerDraft(user_id=current_user().id, process_id=deployment.process_id())
    draft.base_definition_id, draft.bpmn_xml, draft.forms, draft.updated_at = base.id, xml, changed, app_now()
    db.session.add(draft)
    db.session.commit()
    return jsonify({"saved_at": draft.updated_at.isoformat(), "forms_changed": sorted(changed)})


@bp.route("/brouillon/abandonner", methods=["POST"])
@roles_required(*access.ADMINS)
def discard():
    """Drop the user's draft: the modeller opens the active version again."""
    db.session.execute(delete(ModellerDraft).where(ModellerDraft.user_id == current_user().id,
                                                   ModellerDraft.process_id == deployment.process_id()))
    db.session.commit()
    return jsonify({"discarded": True})


@bp.route("/verifier", methods=["POST"])
@roles_required(*access.ADMINS)
def check():
    """The validator's report on the text being edited, each problem with the element it names."""
    xml, forms, refusal = _payload()
    if refusal:
        return _problem(400, refusal)
    report = validator.validate(xml, {**(_base().forms or {}), **forms}, "modeleur.bpmn", deployment.process_id(),
                                lint=current_app.config["BPMN_LINT"])
    return jsonify({"ok": report.ok, "linted": report.linted,
                    "problems": [{"element_id": p.element_id, "element_name": p.element_name, "text": p.text,
                                  "hint": p.hint, "line": p.render("modeleur.bpmn")} for p in report.problems]})


@bp.route("/apercu", methods=["POST"])
@roles_required(*access.ADMINS)
def preview():
    """A form rendered by the same code as the task pages, from a schema and a UI schema being edited."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("schema"), dict):
        return _problem(400, "Corps JSON attendu : {\"schema\": {…}, \"uischema\": {…}}.")
    schema, ui = body["schema"], body.get("uischema") or {}
    if not isinstance(ui, dict) or len(json.dumps(body)) > 2 * MAX_FORM_BYTES:
        return _problem(400, "Le schéma d'interface doit être un objet JSON ; 128 Kio au plus en tout.")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        fields = form_widgets.build_fields(schema, ui, {}, {})
    except jsonschema.SchemaError as exc:
        return _problem(422, f"Schéma JSON invalide : {exc.message}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _problem(422, f"Ce schéma ne peut pas être affiché comme formulaire ({type(exc).__name__}).")
    return render_template("owners/modeller/preview.html", fields=fields, title=schema.get("title", ""))
