"""Declaration portal: a four-step wizard over phase 1's tasks A-D, then a confirmation page."""
from __future__ import annotations

import json
import secrets

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import delete, select

from engine import runtime
from mail import notifications
from models import AuditEvent, Dossier, Draft, Structure, TaskRow, db
from referentiel import finess_valid
from timekeeping import business_calendar, clock
from web import access, forms
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort
from web.casework.tasks import WIZARD, next_step_redirect, size_errors
from workflow import commands, context, deployment, form_schemas, start_command
from workflow.opened import pending_events

bp = Blueprint("declare", __name__, url_prefix="/declarer")
FIRST_STEP = "p1_perimetre"
# The autosaved draft of the first step, which has no task yet (web/declaration/drafts.py).
DECLARATION_KEY = "declaration"


def _first_form():
    """(schema, UI schema, definition) of task A in the latest deployed definition."""
    definition = deployment.active_definition()
    spec, _ = deployment.spec_of(definition)
    form, ui_form = runtime.task_form(spec.task_specs[FIRST_STEP])
    return definition.forms[form], definition.forms.get(ui_form) or {}, definition


def check_finess(structure: Structure, value: str) -> str | None:
    """French error for the FINESS of the site concerned, or None when it is one of the structure's."""
    value = (value or "").strip().upper()
    if not value:
        return "Ce champ est obligatoire."
    if not finess_valid(value):
        return ("Numéro FINESS invalide : il compte 9 caractères, dont le dernier est une clé de contrôle "
                "calculée à partir des 8 premiers. Vérifiez votre saisie (il figure sur vos documents FINESS).")
    if value not in (structure.finess_et, structure.finess_ej):
        return (f"Ce numéro FINESS ne correspond pas à votre structure (FINESS ET {structure.finess_et}, "
                f"EJ {structure.finess_ej}).")
    return None


def identification(user, structure: Structure, definition) -> list:
    """Block 1 of the arrêté: the structure and the declarant, pre-filled from the account."""
    data = {"structure": commands.structure_data(structure),
            "declarant": {"nom": user.name, "fonction": user.title, "telephone": user.phone, "email": user.email}}
    data["structure"].pop("id", None)
    return forms.describe(data, ["structure", "declarant"], forms.labels(definition),
                          {"structure": "Structure déclarante", "declarant": "Déclarant"})


@bp.route("", methods=["GET", "POST"])
@roles_required("declarant")
def start():
    """Step 1: identification (pre-filled) and perimeter; the dossier is created when it is valid.

    The form carries an idempotency key (or the `Idempotency-Key` header): a retry with the same key
    leads to the dossier of the first try, never to a new number.
    """
    user = current_user()
    structure = db.session.get(Structure, user.structure_id)
    if structure is None:
        return render_template("errors/error.html", status=403, title="Structure inconnue",
                               message="Votre compte n'est rattaché à aucune structure."), 403
    schema, ui, definition = _first_form()
    values, errors, status = {"finess_site": structure.finess_et}, {}, 200
    draft = db.session.scalar(select(Draft).where(Draft.task_id == DECLARATION_KEY, Draft.user_id == user.id))
    if draft is not None and request.method == "GET":
        values.update(draft.data)  # typed before a session ended, a tab closed or a refused post
    key = None
    if request.method == "POST":
        key = request.headers.get("Idempotency-Key") or request.form.get("idempotency_key") or None
        if key is not None and not start_command.valid_key(key):
            french_abort(400, "La clé d'idempotence de la déclaration est invalide : rechargez le formulaire.")
        existing = start_command.dossier_for_key(user.id, key) if key else None
        if existing is not None:
            return _resume(existing, user)
        values = forms.raw_values(schema, request.form)
        values["finess_site"] = request.form.get("finess_site", "").strip()
        errors, response = _start(structure, user, schema, values, key)
        if response is not None:
            return response
        status = 422
    finess = forms.Field(name="finess_site", title="FINESS de l'établissement (site) concerné", widget="input",
                         required=True, input_type="text", value=values.get("finess_site"),
                         error=errors.get("finess_site", ""), attrs={"maxlength": 9, "autocomplete": "off"},
                         help="9 caractères, clé de contrôle comprise. Pré-rempli avec le FINESS ET de votre "
                              "structure ; le FINESS EJ est aussi accepté.")
    fields = forms.build_fields(schema, ui, values, errors)
    ongoing = db.session.scalars(select(TaskRow).where(TaskRow.status == "ready", access.task_filter(user),
                                                       TaskRow.spec_name.in_([n for n, _ in WIZARD]))
                                 .order_by(TaskRow.created_at.desc()).limit(20)).all()
    numbers = {d.id: d.number for d in db.session.scalars(
        select(Dossier).where(Dossier.id.in_([r.dossier_id for r in ongoing] or [0]))).all()}
    return render_template("declaration/declare/start.html", schema=schema, fields=[finess] + fields, errors=errors, draft=draft,
                           wizard=WIZARD, current=FIRST_STEP, ongoing=ongoing, numbers=numbers,
                           identification=identification(user, structure, definition),
                           idempotency_key=key or secrets.token_urlsafe(24)), status


def _start(structure: Structure, user, schema: dict, values: dict, key: str | None):
    """Validate the posted first step and open the dossier in one commit: (errors, response or None)."""
    data = forms.coerce(schema, request.form)
    draft = request.form.get("action", "valider") == "brouillon"
    errors = {} if draft else form_schemas.validate(schema, data)
    errors.update(size_errors(schema, {k: v for k, v in values.items() if k != "finess_site"}))  # never cut
    finess_error = check_finess(structure, values["finess_site"])
    if finess_error:
        errors["finess_site"] = finess_error
    if errors:
        return errors, None
    saved = {name: value for name, value in values.items() if name != "finess_site"}
    try:
        dossier, created = start_command.start_declaration(
            structure, user, FIRST_STEP, extra={"finess_site": values["finess_site"].upper()},
            data=None if draft else data, draft=saved if draft else None, key=key)
    except form_schemas.FormErrors as exc:  # the definition changed between the two checks: nothing was kept
        return exc.errors, None
    if not created:
        return {}, _resume(dossier, user)
    db.session.execute(delete(Draft).where(Draft.task_id == DECLARATION_KEY, Draft.user_id == user.id))
    db.session.commit()  # the first step now lives in the dossier (its task's draft or its completion)
    row = start_command.first_step(dossier, FIRST_STEP)
    if draft:
        flash(f"Brouillon enregistré : la déclaration {dossier.number} est en cours de saisie.", "succes")
        return {}, redirect(url_for("tasks.task", task_id=row.id))
    return {}, next_step_redirect(row, dossier, user)


def _resume(dossier: Dossier, user):
    """Where a retried start leads: the draft of the first step, or the next step of the declaration."""
    row = start_command.first_step(dossier, FIRST_STEP)
    if row is None:
        return redirect(url_for("dossiers.show", dossier_id=dossier.id))
    if row.status == "ready":
        flash(f"La déclaration {dossier.number} est déjà enregistrée : reprenez-la ici.", "info")
        return redirect(url_for("tasks.task", task_id=row.id))
    return next_step_redirect(row, dossier, user)


def alerted_entities(dossier: Dossier) -> list[str]:
    """Entities alerted by the declaration: the acknowledgement's list, else the outbox recipients. Also before the
    commit of the transaction that opened the dossier (its events wait for it: workflow/opened.py)."""
    pending = pending_events(dossier.instance_id)
    results = [row["service_results"] for row in reversed(pending)] if pending else [
        event.service_results for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id).order_by(AuditEvent.seq.desc()))]
    for calls in results:
        for call in calls or []:
            try:
                result = json.loads(call.get("result") or "{}")
            except (TypeError, ValueError):
                continue
            if isinstance(result, dict) and result.get("entites_alertees"):
                return list(result["entites_alertees"])
    return notifications.entity_labels(context.recipient_roles(dossier), dossier.region)


@bp.route("/<int:dossier_id>/confirmation")
@roles_required("declarant")
def confirmation(dossier_id):
    """Confirmation: the dossier number and the entities alerted."""
    user = current_user()
    dossier = access.readable_dossier(user, dossier_id)
    data = forms.task_data(dossier.instance_id)
    open_steps = db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == dossier.id,
                                                          TaskRow.status == "ready", access.task_filter(user))).all()
    return render_template("declaration/declare/confirmation.html", dossier=dossier, entities=alerted_entities(dossier),
                           urgent=bool(data.get("besoin_aide_urgente")), open_steps=open_steps,
                           takeover=urgent_takeover(dossier, data))


def urgent_takeover(dossier, data: dict) -> str | None:
    """« lundi 9 mars à 9 h »: when the Cellule ACSS takes over an urgent civil declaration made off hours (the
    permanent HFDS/FSSI handles it until then); None otherwise. The instant the process recorded, else computed."""
    if dossier.military or not dossier.off_hours or not data.get("besoin_aide_urgente"):
        return None
    hours = data.get("heures_ouvrees") if isinstance(data.get("heures_ouvrees"), dict) else {}
    if isinstance(hours.get("reprise_texte"), str) and hours["reprise_texte"]:
        return hours["reprise_texte"]
    finess = (data.get("structure") or {}).get("finess_et")
    opening = business_calendar.next_opening(dossier.declared_at or clock.app_now(), finess)
    return business_calendar.french_moment(opening)


ABANDON_REASON_MAX = 2000


@bp.route("/<int:dossier_id>/abandonner", methods=["GET", "POST"])
@roles_required("declarant")
def abandon(dossier_id):
    """Abandon a declaration still being typed: a confirmation page, then an audited command (no number taken)."""
    user = current_user()
    dossier = access.readable_dossier(user, dossier_id)
    if dossier.state != access.DRAFT_STATE:
        french_abort(409, "Cette déclaration est déjà validée ou abandonnée : elle ne peut plus être abandonnée.")
    if request.method == "POST":
        reason = (request.form.get("motif") or "").strip()
        if len(reason) > ABANDON_REASON_MAX:  # the page again, the reason kept whole to be shortened
            return render_template("declaration/declare/abandon.html", dossier=dossier, max_reason=ABANDON_REASON_MAX,
                                   reason=reason, error=f"Le motif compte {len(reason)} caractères pour "
                                   f"{ABANDON_REASON_MAX} au plus : raccourcissez-le. Rien n'a été abandonné."), 422
        steps = [row.id for row in db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == dossier.id))]
        commands.abandon_declaration(dossier, context.Actor.of(user), reason)
        db.session.execute(delete(Draft).where(Draft.task_id.in_(steps or [""]), Draft.user_id == user.id))
        db.session.commit()
        flash(f"La déclaration en cours {dossier.number} est abandonnée : elle ne sera transmise à personne. "
              "Elle reste visible de votre structure seulement, avec cet état.", "succes")
        return redirect(url_for("declare.start"))
    return render_template("declaration/declare/abandon.html", dossier=dossier, max_reason=ABANDON_REASON_MAX,
                           reason="", error="")
