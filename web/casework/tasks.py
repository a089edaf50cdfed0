"""The generic user-task page: a form built from the task's JSON Schema, drafts, claim and release."""
from __future__ import annotations

import copy
import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import bindparam, delete, select

from cases import observables
from engine.errors import Conflict
from models import Dossier, Draft, TaskRow, User, db
from models.kept import kept
from referentiel import ROLES
from web import access, form_conditions, forms
from web.casework import branch_facts
from web.casework import draft_store
from web.casework import knowledge_choices
from web.casework import linked_dossiers
from web.casework import task_memory
from web.auth.login import current_user, login_required
from web.auth.security import french_abort, wants_json
from workflow import claims, commands, context, form_schemas

bp = Blueprint("tasks", __name__, url_prefix="/taches")

WIZARD = [("p1_perimetre", "Identification et périmètre"), ("p1_impact", "Impacts"),
          ("p1_origine", "Origine et capacité de traitement"), ("p1_formulaire", "Description et validation")]
WIZARD_STEPS = [name for name, _ in WIZARD]
CONTACT_LABELS = [("nom", "Nom"), ("fonction", "Fonction"), ("telephone", "Téléphone"), ("email", "Adresse électronique")]
# A field without its own maxLength in the form's JSON Schema holds at most this many characters, and a
# whole draft at most DRAFT_MAX_CHARS: drafts skip the schema's validation, not its size limits.
FIELD_MAX_CHARS = 20_000
DRAFT_MAX_CHARS = 200_000



def form_of(row: TaskRow) -> tuple[dict, dict, object]:
    """(JSON Schema, UI schema, definition) of a task, from its instance's pinned definition.

    Per request this reads the definition's row without its texts (one statement): the forms come from the cache
    of parsed forms by content hash (definitions never change), copied so a caller may change its own."""
    definition = forms.pinned_definition(row.instance_id)
    deployed = form_schemas.forms_of(definition)
    schema = deployed.get(row.form) if row.form else None
    ui = deployed.get(row.ui_form) if row.ui_form else None
    return copy.deepcopy(schema) or {"type": "object", "properties": {}}, copy.deepcopy(ui) or {}, definition


def task_context(row: TaskRow, ui: dict, definition, dossier: Dossier, user: User) -> tuple[list, list, tuple | None]:
    """Read-only facts from earlier steps, as named by the UI schema's ui:context (restricted fields
    redacted for non-addressees), the declarant's contact for the analysts who work the dossier, and the
    dossiers linked by similarity when the UI schema names them (`ui:linkedDossiers`)."""
    names = ui.get("ui:context") or []
    analyst = access.sees_internal_work(user)
    if not names and not analyst:
        return [], [], None
    data = access.redact(branch_facts.with_earlier_answers(row.instance_id, forms.task_data(row.instance_id, row.id),
                                                           names), dossier, user)
    facts = forms.describe(data, names, forms.labels(definition), ui.get("ui:contextLabels")) if names else []
    linked = linked_dossiers.linked_dossiers(user, data, ui.get("ui:linkedDossiers")) if analyst else None
    return facts, declarant_contact(data, dossier) if analyst else [], linked


def declarant_contact(data: dict, dossier: Dossier) -> list:
    """[(label, value)] of the declarant's name, function, phone and e-mail (the declaration's, else the account's)."""
    person = data.get("declarant") if isinstance(data.get("declarant"), dict) else {}
    if not person and dossier.declarant_id:
        account = db.session.get(User, dossier.declarant_id)
        person = {"nom": account.name, "fonction": account.title, "telephone": account.phone, "email": account.email}
    return [(label, person[key]) for key, label in CONTACT_LABELS if person.get(key)]


def add_object_row(values: dict, action: str) -> dict:
    """Handle the "add a row" button of an array of objects without JavaScript."""
    name = action.split(":", 1)[1]
    indexes = [index for index, _, _ in forms.object_row_keys(name, values)]
    values = dict(values)
    values[f"{name}-{max(indexes, default=0) + 1}-"] = ""
    return values


TASK_LETTER = re.compile(r"\s*\(tâche [A-Z]\)")


@bp.app_template_filter("titre_tache")
def task_title(title: str, declarant: bool | None = None) -> str:
    """A task's title as a declarant reads it: without the instruction's task letter (« (tâche A) »), which
    only the analysts use to find the step in the instruction (`declarant`: whether the reader is one, when the
    caller knows it)."""
    if declarant is None:
        user = current_user()
        declarant = user is not None and user.role == "declarant"
    return TASK_LETTER.sub("", title or "") if declarant else title


def _focus_new_row(fields: list, name: str) -> None:
    """Without JavaScript, the page after « Ajouter une ligne » opens on the new row's first field."""
    for f in fields:
        if f.name == name and f.rows and f.rows[-1]:
            f.rows[-1][0].attrs["autofocus"] = "autofocus"


def _draft(row: TaskRow, user: User) -> Draft | None:
    return draft_store.own_draft(row.id, user.id)


def _field_schema(properties: dict, key: str) -> dict:
    """The schema of a raw form key: `name`, an array's `name`, or a row field `name-<n>-<field>`."""
    base, _, rest = key.partition("-")
    prop = properties.get(base) or {}
    items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
    if rest:
        sub = rest.partition("-")[2]
        return (items.get("properties") or {}).get(sub) or {} if sub else items
    return items if prop.get("type") == "array" else prop


def size_errors(schema: dict, values: dict) -> dict[str, str]:
    """{field: French message} for each value longer than its field's maxLength (FIELD_MAX_CHARS when the
    schema sets none), "" for a form whose values add up to more than DRAFT_MAX_CHARS. Nothing is ever cut."""
    properties = schema.get("properties", {})
    total, errors = 0, {}
    for key, value in values.items():
        field = _field_schema(properties, key)
        limit = min(field.get("maxLength") if isinstance(field.get("maxLength"), int) else FIELD_MAX_CHARS,
                    FIELD_MAX_CHARS)
        for text in value if isinstance(value, list) else [value]:
            total += len(text)
            if len(text) > limit:
                label = field.get("title") or (properties.get(key.partition("-")[0]) or {}).get("title") or key
                errors.setdefault(key.partition("-")[0], (
                    f"« {label} » : {thousands(len(text))} caractères pour {thousands(limit)} caractères au plus ; "
                    f"raccourcissez le texte de {thousands(len(text) - limit)}. Rien n'a été coupé ni enregistré."))
    if total > DRAFT_MAX_CHARS:
        errors[""] = (f"Le formulaire dépasse la taille autorisée ({thousands(DRAFT_MAX_CHARS)} caractères au plus) : "
                      "rien n'a été enregistré.")
    return errors


def thousands(number: int) -> str:
    """12345 as « 12 345 » (a no-break space between thousands)."""
    return f"{number:,}".replace(",", "\u00a0")


def check_sizes(schema: dict, values: dict) -> None:
    """Refuse (422, French message) a form with a value over its limit (see size_errors)."""
    errors = size_errors(schema, values)
    if errors:
        french_abort(422, next(iter(errors.values())))


def save_draft(row: TaskRow, user: User, values: dict) -> None:
    """Keep what the user typed for later (one draft per task and user), within the size limits."""
    check_sizes(form_of(row)[0], values)
    draft_store.store(row.id, user.id, values)


def completed_step(row: TaskRow, dossier: Dossier, user: User) -> dict:
    """What next_step_redirect needs, read before the command's commit expires the objects (reading them again
    after it would cost three statements): the step, its dossier, and which tasks this user may work."""
    return {"spec_name": row.spec_name, "title": row.title, "dossier_id": dossier.id,
            "workable": access.task_filter(user), "scope": access.scope_key(user),
            "declarant": user.role == "declarant"}


# The dossier's open tasks after a completion (models/kept.py says why it is built once).
OPEN_ROWS = select(TaskRow.id, TaskRow.title, TaskRow.role).where(TaskRow.dossier_id == bindparam("_dossier"),
                                                                  TaskRow.status == "ready")
OPEN_ROWS_IN_ORDER = OPEN_ROWS.order_by(TaskRow.created_at)


def next_step_redirect(row: TaskRow, dossier: Dossier, user: User, step: dict | None = None):
    """After a task: the user's next task on the dossier, the confirmation page, or the dossier (`step`: the
    task's completed_step, when the caller read it before committing). The open tasks are read fresh."""
    step = step or completed_step(row, dossier, user)
    title, dossier_id = step["title"], step["dossier_id"]

    def named(text: str) -> str:
        return task_title(text, step["declarant"])

    if step["spec_name"] == "p1_formulaire":
        return redirect(url_for("declare.confirmation", dossier_id=dossier_id))
    ids = {"_dossier": dossier_id}
    following = db.session.execute(kept(("next_step", step["scope"]), lambda: OPEN_ROWS.where(step["workable"])
                                        .order_by(TaskRow.created_at, TaskRow.id)), ids).first()
    if following is not None:
        flash(f"« {named(title)} » est enregistrée. Étape suivante : « {named(following.title)} ».",
              "succes")
        return redirect(url_for("tasks.task", task_id=following.id))
    others = db.session.execute(OPEN_ROWS_IN_ORDER, ids).all()
    if others:
        steps = " ; ".join(f"« {named(o.title)} » ({ROLES.get(o.role, o.role)})" for o in others)
        flash(f"« {named(title)} » est enregistrée. Étape suivante : {steps}.", "succes")
    else:
        state = db.session.scalar(select(Dossier.state).where(Dossier.id == dossier_id))
        flash(f"« {named(title)} » est enregistrée. Le dossier n'a plus de tâche ouverte (état : {state}).",
              "succes")
    return redirect(url_for("dossiers.show", dossier_id=dossier_id))


def render_done(row: TaskRow, dossier: Dossier, status: int = 200, message: str | None = None):
    """The page shown for a task that is no longer open (completed meanwhile, cancelled): what the person who
    completed it submitted (as the visibility model lets this user read it) and this user's own kept text."""
    user = current_user()
    who = db.session.get(User, row.completed_by) if row.completed_by else None
    schema, _, definition = form_of(row)
    winner = task_memory.completion_data(row)
    submitted = forms.describe(access.redact(winner, dossier, user), None, forms.labels(definition)) if winner else []
    draft = _draft(row, user)
    kept = draft_summary(schema, draft.data) if draft is not None else []
    return render_template("casework/tasks/done.html", row=row, dossier=dossier, who=who, message=message,
                           submitted=submitted, kept=kept, draft=draft), status


def draft_summary(schema: dict, values: dict) -> list[tuple[str, str]]:
    """[(field title, text)] of a draft's raw values, for a read-only copy."""
    properties = schema.get("properties", {})
    shown = []
    for key, value in values.items():
        text = ", ".join(value) if isinstance(value, list) else str(value)
        if text.strip():
            shown.append(((properties.get(key.partition("-")[0]) or {}).get("title") or key, text))
    return shown


def keep_loser_text(row: TaskRow, user: User) -> None:
    """A submission that lost the race to complete a task: its values stay in the user's draft of that task."""
    schema = form_of(row)[0]
    values = forms.raw_values(schema, request.form)
    if values:
        check_sizes(schema, values)
        save_draft(row, user, values)


@bp.route("/<task_id>", methods=["GET", "POST"])
@login_required
def task(task_id):
    """Show a task's form (GET) or save a draft / complete the task (POST)."""
    user = current_user()
    row = access.workable_task(user, task_id)
    dossier = db.session.get(Dossier, row.dossier_id)
    if row.status != "ready":
        if request.method == "POST" and request.form.get("action", "valider") != "brouillon":
            keep_loser_text(row, user)
        return render_done(row, dossier, 409 if request.method == "POST" else 200)
    schema, ui, definition = form_of(row)
    schema, ui, hidden = form_conditions.effective_form(schema, ui, row.instance_id, row.id)
    schema = knowledge_choices.with_choices(task_memory.with_people(schema, ui), ui, dossier)
    errors, status, previous = {}, 200, None
    draft = _draft(row, user)
    claimer = db.session.get(User, row.claimed_by) if row.claimed_by else None
    if request.method == "POST":
        action = request.form.get("action", "valider")
        values = forms.raw_values(schema, request.form)
        too_long = size_errors(schema, values)  # a draft, a completion or an added row: the same limits
        if too_long and wants_json():  # a program gets its precise 422 problem, as before
            french_abort(422, next(iter(too_long.values())))
        if too_long:  # refused on the page, the text kept as typed (never cut) for the person to shorten
            errors, status = too_long, 422
        elif action.startswith("ajouter:"):
            values = add_object_row(values, action)
        elif action == "brouillon":
            save_draft(row, user, values)
            flash("Brouillon enregistré. Vous pouvez reprendre cette tâche plus tard depuis votre boîte de tâches.",
                  "succes")
            return redirect(url_for("tasks.task", task_id=row.id))
        elif claimer is not None and claimer.id != user.id:
            flash(f"Cette tâche est prise en charge par {claimer.name}. Reprenez-la avant de la valider.",
                  "avertissement")
            status = 409
        else:
            data = knowledge_choices.posted(ui, forms.coerce(schema, request.form))
            try:
                people = {**task_memory.people_errors(schema, ui, data), **observables.form_errors(data),
                          **knowledge_choices.errors(schema, ui, data)}
                if people:  # with the form's other errors, so that one round trip shows them all
                    raise form_schemas.FormErrors({**form_schemas.validate(schema, data), **people})
                commands.complete_task(row.id, data, context.Actor.of(user), commit=False, not_asked=hidden)
                # The indicators typed in the form become observables in the same commit as the step.
                observables.add_from_form(dossier, data, user=user, commit=False)
            except form_schemas.FormErrors as exc:
                db.session.rollback()
                errors, status = exc.errors, 422
            except Conflict as exc:
                db.session.rollback()
                row = db.session.get(TaskRow, task_id)
                keep_loser_text(row, user)
                return render_done(row, dossier, 409, exc.message)
            else:
                # Only the completer's draft goes: a colleague's text on the same task stays theirs to read. (None
                # was read at the start: no statement. One saved since by another tab is the race it always was.)
                if draft is not None:
                    db.session.execute(delete(Draft).where(Draft.task_id == row.id, Draft.user_id == user.id))
                step = completed_step(row, dossier, user)
                db.session.commit()
                return next_step_redirect(row, dossier, user, step)
    else:
        values, previous = task_memory.opening_values(row, schema, ui, user, draft)
        if draft is None and previous is None:
            values = knowledge_choices.defaults(schema, ui, values)
    fields = forms.build_fields(schema, ui, values, errors)
    if request.method == "POST" and not errors and request.form.get("action", "").startswith("ajouter:"):
        _focus_new_row(fields, request.form["action"].split(":", 1)[1])
    facts, contact, linked = task_context(row, ui, definition, dossier, user)
    return render_template("casework/tasks/task.html", row=row, dossier=dossier, schema=schema, fields=fields, errors=errors,
                           context=facts, contact=contact, linked=linked, previous=previous, draft=draft, claimer=claimer,
                           wizard=WIZARD if row.spec_name in WIZARD_STEPS else None,
                           lessons=knowledge_choices.lessons(ui, dossier, user),
                           identification=_identification(row, dossier, definition)), status


def _identification(row: TaskRow, dossier: Dossier, definition) -> list:
    """The structure block shown on the first declaration step."""
    if row.spec_name != "p1_perimetre":
        return []
    data = forms.task_data(row.instance_id, row.id)
    return forms.describe(data, ["structure", "declarant", "finess_site"], forms.labels(definition),
                          {"structure": "Structure déclarante", "declarant": "Déclarant",
                           "finess_site": "FINESS du site concerné"})


@bp.route("/<task_id>/prendre", methods=["POST"])
@login_required
def claim(task_id):
    """Take a task (a colleague's claim is taken over only when asked explicitly)."""
    user = current_user()
    row = access.workable_task(user, task_id)
    if row.status != "ready":
        return render_done(row, db.session.get(Dossier, row.dossier_id), 409)
    done = claims.claim(row.id, user.id, take_over=request.form.get("reprendre") == "1")
    db.session.commit()
    if done:  # taken: straight to the task, whichever page the button was on
        flash(f"Vous avez pris en charge « {row.title} ».", "succes")
        return redirect(url_for("tasks.task", task_id=row.id))
    else:
        db.session.refresh(row)
        holder = db.session.get(User, row.claimed_by) if row.claimed_by else None
        flash(f"Cette tâche est déjà prise en charge par {holder.name if holder else 'un collègue'}.", "avertissement")
    return redirect(_back(url_for("tasks.task", task_id=row.id)))


@bp.route("/<task_id>/liberer", methods=["POST"])
@login_required
def release(task_id):
    """Give a task back to the team."""
    user = current_user()
    row = access.workable_task(user, task_id)
    done = claims.release(row.id, user.id)
    db.session.commit()
    flash(f"« {row.title} » est de nouveau disponible pour l'équipe." if done
          else "Vous n'aviez pas pris cette tâche.", "info" if done else "avertissement")
    return redirect(_back(url_for("inbox.index")))


def _back(default: str) -> str:
    target = request.form.get("retour", "")
    return target if target.startswith("/") and not target.startswith("//") else default
