"""Dossier list and the fiche de suivi: state, timeline, notifications, open tasks and the BPMN diagram."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import load_only

from audit.hash_chain import events_of
from cases.chain import is_journal_event
from models import (AuditEvent, Dossier, OutboxMessage, ProcessDefinition, ProcessInstance, Structure, TaskRow, Timer,
                    User, db)
from models.kept import kept
from referentiel import CARE_IMPACTS, INCIDENT_TYPES, QUALIFICATIONS, REGIONS, ROLES, STATES
from timekeeping.clock import app_now
from web import access, forms
from web.casework import journal_panel as journal
from web.auth.login import current_user, login_required, roles_required
from web.casework.inbox import incident_type_condition

bp = Blueprint("dossiers", __name__, url_prefix="/dossiers")
PAGE_SIZE = 25
READERS = access.WORKERS | {"auditeur"}
COMMANDS = {"start": "Démarrage du signalement", "timer": "Échéance d'un minuteur", "complete": "Tâche réalisée",
            "abandon": "Déclaration abandonnée"}
TIMERS = {"p4_hebdo": "Point hebdomadaire (7 jours sans nouvelle)"}


@bp.route("")
@roles_required(*READERS)
def index():
    """The dossiers the user may read, with filters."""
    user = current_user()
    # Dossiers seen only as a summary (a military hospital's, for the ARS) are found by number and
    # state alone: filters on their details must not let anyone probe what they cannot read.
    conditions, chosen, full = [access.listed_filter(user)], {}, access.dossier_filter(user)
    args = request.args
    if args.get("q"):
        chosen["q"] = args["q"].strip()[:100]
        pattern = f"%{chosen['q']}%"
        conditions.append(Dossier.number.ilike(pattern) | (Dossier.title.ilike(pattern) & full))
    if args.get("region") in REGIONS:
        chosen["region"] = args["region"]
        conditions.append(Dossier.region == chosen["region"])
    if args.get("etat") in STATES:
        chosen["etat"] = args["etat"]
        conditions.append(Dossier.state == chosen["etat"])
    if args.get("qualification") in QUALIFICATIONS:
        chosen["qualification"] = args["qualification"]
        conditions += [Dossier.qualification == chosen["qualification"], full]
    if args.get("type") in INCIDENT_TYPES:
        chosen["type"] = args["type"]
        conditions += [incident_type_condition(chosen["type"]), full]
    total = db.session.scalar(select(func.count()).select_from(Dossier).where(*conditions))
    pages = max(1, -(-total // PAGE_SIZE))
    try:
        page = min(max(1, int(args.get("page", 1))), pages)
    except ValueError:
        page = 1
    dossiers = db.session.scalars(select(Dossier).where(*conditions)
                                  .order_by(Dossier.created_at.desc(), Dossier.id.desc())
                                  .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    structures = {s.id: s for s in db.session.scalars(
        select(Structure).where(Structure.id.in_({d.structure_id for d in dossiers} or {0})))}
    summaries = set(db.session.scalars(select(Dossier.id).where(Dossier.id.in_([d.id for d in dossiers] or [0]),
                                                                access.summary_filter(user), ~full)))
    return render_template("casework/dossiers/index.html", dossiers=dossiers, total=total, page=page, pages=pages,
                           summaries=summaries,
                           chosen=chosen, structures=structures, regions=REGIONS, states=STATES,
                           qualifications=QUALIFICATIONS, incident_types=INCIDENT_TYPES, user=user)


# What the timeline and the notifications show of a message (and the API's message_item): never its bodies,
# which are the largest columns of the outbox.
MESSAGE_COLUMNS = load_only(
    OutboxMessage.id, OutboxMessage.dossier_id, OutboxMessage.event_seq, OutboxMessage.kind, OutboxMessage.subject,
    OutboxMessage.status, OutboxMessage.created_at, OutboxMessage.sent_at, OutboxMessage.attempts,
    OutboxMessage.recipients, OutboxMessage.recipient_roles, OutboxMessage.last_error, OutboxMessage.smtp_stage,
    raiseload=True)


# Statements of the fiche that embed nothing of the user, built once (models/kept.py says why).
ACTORS = select(User.email, User.name).where(User.email.in_(bindparam("_emails", expanding=True)))
# The fiche reads each event with its actor's name (one e-mail per account; a name is shown as it is now).
HISTORY = (select(AuditEvent, User.name).outerjoin(User, User.email == AuditEvent.actor)
           .where(AuditEvent.instance_id == bindparam("_instance"))
           .order_by(AuditEvent.seq, AuditEvent.id)
           .options(load_only(AuditEvent.id, AuditEvent.seq, AuditEvent.at, AuditEvent.actor, AuditEvent.actor_role,
                              AuditEvent.command, AuditEvent.payload, AuditEvent.visited, AuditEvent.states,
                              raiseload=True)))
PENDING_TIMERS = select(Timer).where(Timer.instance_id == bindparam("_instance"), Timer.status == "pending")


def timeline(dossier: Dossier, definition: ProcessDefinition, user: User, journal_panel: dict | None = None,
             events: list | None = None, titles: dict | None = None, names: dict | None = None) -> list[dict]:
    """Every command on the dossier: who, when, what was entered, states reached, messages queued.

    What was entered and the messages follow the visibility model: a declarant sees their own
    tasks' data and the messages addressed to them; restricted fields only reach their addressees.
    """
    if events is None:
        events = events_of(dossier.instance_id)
    if names is None:  # {actor's e-mail: name}, unless the caller read them with the events
        names = dict(db.session.execute(ACTORS, {"_emails": sorted({e.actor for e in events})}).all())
    if titles is None:  # {task id: title}, unless the caller read the dossier's tasks already
        task_ids = [e.payload.get("task_id") for e in events if e.command == "complete"]
        titles = dict(db.session.execute(select(TaskRow.id, TaskRow.title)
                                         .where(TaskRow.id.in_(task_ids or [""]))).all())
    messages = {}
    for message in db.session.scalars(kept(("timeline", "messages", access.scope_key(user)), lambda: (
            select(OutboxMessage).where(OutboxMessage.dossier_id == bindparam("_dossier"), access.message_filter(user))
            .order_by(OutboxMessage.id).options(MESSAGE_COLUMNS))), {"_dossier": dossier.id}):
        messages.setdefault(message.event_seq, []).append(message)
    label_map = forms.labels(definition)
    internal = access.sees_internal_work(user)
    items = []
    journal_events = [event for event in events if is_journal_event(event)]
    journal_items = journal.timeline_items(dossier, user, journal_events, names, journal_panel)
    for event in events:
        if is_journal_event(event):
            if event.seq in journal_items:  # entries the user may not see are left out of their timeline
                items.append(journal_items[event.seq])
            continue
        payload = event.payload or {}
        entered = []
        if event.command == "complete":
            title = titles.get(payload.get("task_id"), payload.get("spec", "Tâche"))
            if internal or event.actor_role == user.role:
                entered = forms.describe(access.redact(payload.get("data") or {}, dossier, user), None, label_map)
        elif event.command == "timer":
            title = TIMERS.get(payload.get("spec"), COMMANDS["timer"])
        else:
            title = COMMANDS.get(event.command, event.command)
        items.append({"seq": event.seq, "at": event.at, "actor": names.get(event.actor, event.actor),
                      "role": ROLES.get(event.actor_role, "Système" if event.actor_role == "systeme" else
                                        event.actor_role),
                      "title": title, "entered": entered, "states": event.states or [],
                      "messages": messages.get(event.seq, [])})
    return items


@bp.route("/<int:dossier_id>")
@login_required
def show(dossier_id):
    """The fiche de suivi of one dossier."""
    user = current_user()
    # The dossier the user reads in full, with the version it runs on and its structure: one round trip for what the
    # fiche reads first. Anything else (a summary, a 404, a dossier without a process instance) takes the visibility
    # model's own path, which answers it as everywhere else.
    found = db.session.execute(kept(("fiche", "dossier", access.scope_key(user)), lambda: (
        select(Dossier, ProcessDefinition, Structure, ProcessInstance.status)
        .join(ProcessInstance, ProcessInstance.id == Dossier.instance_id)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .join(Structure, Structure.id == Dossier.structure_id)
        .where(Dossier.id == bindparam("_dossier"), access.dossier_filter(user)))), {"_dossier": dossier_id}).first()
    if found is not None:
        return render_fiche(found[0], user, read=found[1:])
    dossier, full = access.dossier_view(user, dossier_id)
    if not full:
        return _summary(dossier)
    return render_fiche(dossier, user)


def render_fiche(dossier: Dossier, user: User, journal_form: dict | None = None, status: int = 200,
                 read: tuple | None = None):
    """The fiche de suivi of a dossier the user reads in full; `journal_form` is a refused journal form
    ({"form", "error", "values"}) shown again next to its form, under `status`; `read`: the dossier's
    (definition, structure, status of its process instance) when the caller has them already."""
    # The version the dossier runs on, its structure and whether its process still runs, in one round trip.
    # Its statements are kept (models/kept.py): the dossier's ids are parameters, the user's scope is in the keys.
    ids = {"_dossier": dossier.id, "_instance": dossier.instance_id, "_structure": dossier.structure_id}
    definition, structure, process_status = read or db.session.execute(kept(("fiche", "definition"), lambda: (
        select(ProcessDefinition, Structure, ProcessInstance.status).select_from(ProcessInstance)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .join(Structure, Structure.id == bindparam("_structure"))
        .where(ProcessInstance.id == bindparam("_instance")))), ids).one()
    # The dossier's tasks, each with whether this user may work it (the visibility model's rule, in the same
    # query): the open ones are listed, and all of them title the timeline's completions.
    rows = db.session.execute(kept(("fiche", "tasks", access.scope_key(user)), lambda: (
        select(TaskRow, access.task_filter(user).label("workable"))
        .where(TaskRow.dossier_id == bindparam("_dossier")).order_by(TaskRow.created_at))), ids).all()
    open_tasks = [task for task, _ in rows if task.status == "ready"]
    workable = {task.id for task, can in rows if can and task.status == "ready"}
    claimed = {t.claimed_by for t in open_tasks if t.claimed_by}
    claimers = dict(db.session.execute(kept(("fiche", "claimers"), lambda: select(User.id, User.name).where(
        User.id.in_(bindparam("_users", expanding=True)))), {"_users": sorted(claimed)}).all()) if claimed else {}
    # The history as the fiche reads it: not the service results nor the hashes (the audit pages read those).
    history_named = db.session.execute(HISTORY, ids).all()  # (event, its actor's name)
    history = [event for event, _ in history_named]
    panel = journal.panel(dossier, user, readable=True, history=history)  # read through dossier_filter already
    events = timeline(dossier, definition, user, panel, history, titles={task.id: task.title for task, _ in rows},
                      names={event.actor: name for event, name in history_named if name is not None})
    visited = sorted({name for e in history for name in (e.visited or [])})
    # A process that ended (completed, abandoned) waits for no timer: its last command marked them all fired or
    # cancelled (workflow/sync.py), so most fiches, those of closed dossiers, need not ask.
    timers = db.session.scalars(PENDING_TIMERS, ids).all() if process_status == "running" else []
    active = sorted({t.spec_name for t in open_tasks} | {t.spec_name for t in timers})
    notifications = [m for e in events for m in e["messages"]]
    care_label = forms.labels(definition).get("impact_soins", ("", {}))[1].get(dossier.care_impact) \
        if dossier.care_impact else None
    return render_template("casework/dossiers/show.html", dossier=dossier, structure=structure, open_tasks=open_tasks,
                           workable=workable, claimers=claimers, events=events, visited=visited, active=active,
                           timers=timers, notifications=notifications, roles=ROLES, qualifications=QUALIFICATIONS,
                           incident_types=INCIDENT_TYPES, now=app_now(),
                           definition=definition, journal=panel, journal_form=journal_form or {},
                           care_label=care_label or CARE_IMPACTS.get(dossier.care_impact)), status


def _summary(dossier: Dossier):
    """What the ARS of the region sees of a military hospital's dossier: the standard message, and the alert."""
    care_alert = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.dossier_id == dossier.id, OutboxMessage.kind == access.CARE_ALERT_KIND)) > 0
    return render_template("casework/dossiers/summary.html", dossier=dossier, standard_message=access.STANDARD_MESSAGE,
                           structure=access.summary_structure(dossier),
                           care_alert=access.CARE_ALERT if care_alert else None,
                           care_action=access.CARE_ALERT_ACTION)


@bp.route("/<int:dossier_id>/diagram.bpmn")
@login_required
def diagram(dossier_id):
    """The BPMN XML of the process version the dossier is pinned to."""
    dossier = access.readable_dossier(current_user(), dossier_id)
    definition = forms.pinned_definition(dossier.instance_id)
    return Response(definition.bpmn_xml, mimetype="application/xml")
