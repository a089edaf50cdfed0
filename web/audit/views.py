"""Auditor views (read-only): dossiers, a dossier's history, the step-by-step replay, verify, exports.

Auditors read what the visibility model gives them (web/access.py) and never write: every route here is a GET except "verify", a POST that
only reads (it replays the history and compares hashes) and shows the result.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from sqlalchemy import func, select

from audit import bpmn_paths, hash_chain, mining, replayer, verifier
from cases import chain as journal_chain
from models import AuditEvent, Dossier, ProcessDefinition, ProcessInstance, Structure, User, db
from referentiel import ROLES
from timekeeping.business_calendar import PARIS
from timekeeping.clock import app_now
from web import access, forms
from web.audit import replay_text
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort

bp = Blueprint("audit", __name__, url_prefix="/audit")
AUDITORS = ("auditeur",)
PAGE_SIZE = 50
MIN_YEAR, MAX_YEAR = 2000, 2999  # export periods: anything else is a typing error, refused with a 400
COMMANDS = {"start": "Démarrage du signalement", "complete": "Tâche accomplie", "timer": "Échéance d'une minuterie",
            "message": "Message reçu", "migration": "Migration de version", "admin": "Action administrative",
            journal_chain.JOURNAL_COMMAND: "Journal du dossier", "abandon": "Déclaration abandonnée"}


def _dossier(number: str) -> Dossier:
    # The visibility model applies to auditors too: a dossier outside it answers like a missing one.
    return access.readable_dossier_by_number(current_user(), number)


def _definition(dossier: Dossier) -> ProcessDefinition:
    definition_id = db.session.scalar(select(ProcessInstance.definition_id)
                                      .where(ProcessInstance.id == dossier.instance_id))
    return db.session.get(ProcessDefinition, definition_id)


def _role(code: str) -> str:
    return "Système" if code == mining.SYSTEM_ROLE else ROLES.get(code, code or "")


def describe_event(event: AuditEvent, names: dict, people: dict) -> dict:
    """Who did what and when, in French, for one audit event."""
    payload = event.payload or {}
    what = COMMANDS.get(event.command, event.command)
    element = payload.get("spec") or (event.visited[0] if event.command == "timer" and event.visited else None)
    if element:
        what = f"{what} : {names.get(element) or element}"
    elif journal_chain.is_journal_event(event):
        what = f"{what} : {journal_chain.describe(payload)}"
    return {"seq": event.seq, "at": event.at, "actor": event.actor, "actor_name": people.get(event.actor, ""),
            "role": _role(event.actor_role), "command": event.command, "what": what,
            "submitted": payload.get("data") if event.command in ("complete", "start") else None,
            "visited": [{"id": v, "name": names.get(v) or v} for v in event.visited or [] if v in names],
            "states": list(event.states or []), "services": list(event.service_results or []),
            "hash": event.hash, "prev_hash": event.prev_hash, "state_hash": event.state_hash}


def _people(events) -> dict:
    emails = {e.actor for e in events} or {""}
    return {u.email: u.name for u in db.session.scalars(select(User).where(User.email.in_(emails)))}


@bp.route("/")
@roles_required(*AUDITORS)
def index():
    """The dossiers the auditor may read, newest first, with their number of recorded steps."""
    query = request.args.get("q", "").strip()[:64]
    conditions = [access.dossier_filter(current_user())]
    if query:
        conditions.append(Dossier.number.ilike(f"%{query}%") | Dossier.title.ilike(f"%{query}%"))
    total = db.session.scalar(select(func.count()).select_from(Dossier).where(*conditions))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    dossiers = db.session.scalars(select(Dossier).where(*conditions)
                                  .order_by(Dossier.created_at.desc(), Dossier.id.desc())
                                  .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    steps = dict(db.session.execute(select(ProcessInstance.id, ProcessInstance.last_seq).where(
        ProcessInstance.id.in_([d.instance_id for d in dossiers] or [0]))).all())
    structures = {s.id: s.name for s in db.session.scalars(
        select(Structure).where(Structure.id.in_({d.structure_id for d in dossiers} or {0})))}
    return render_template("audit/index.html", dossiers=dossiers, steps=steps, structures=structures, total=total,
                           page=page, pages=pages, query=query)


def _history(dossier: Dossier, verification=None, status: int = 200):
    definition = _definition(dossier)
    names = bpmn_paths.element_names(definition.bpmn_xml)
    events = hash_chain.events_of(dossier.instance_id)
    people = _people(events)
    items = [describe_event(e, names, people) for e in events]
    structure = db.session.get(Structure, dossier.structure_id)
    return render_template("audit/history.html", dossier=dossier, items=items, definition=definition,
                           structure=structure, verification=verification), status


@bp.route("/dossiers/<number>")
@roles_required(*AUDITORS)
def history(number):
    """A dossier's history as a list of steps."""
    return _history(_dossier(number))


@bp.route("/dossiers/<number>/verifier", methods=["POST"])
@roles_required(*AUDITORS)
def verify(number):
    """Replay the dossier's history and check every hash; show the result (reads only)."""
    dossier = _dossier(number)
    return _history(dossier, verification=verifier.verify_dossier(dossier))


@bp.route("/dossiers/<number>/diagramme.bpmn")
@roles_required(*AUDITORS)
def diagram(number):
    """The BPMN XML of the process version this dossier is pinned to."""
    return Response(_definition(_dossier(number)).bpmn_xml, mimetype="application/xml")


def _rows(data: dict, names: dict) -> list[dict]:
    rows = []
    for path, value in replayer._flatten(data).items():
        top = path.split(".", 1)[0]
        rows.append({"path": path, "label": names.get(top, (top,))[0] if top in names else "",
                     "value": _show(value)})
    return rows


def _parsed(text):
    """A service's recorded result (a JSON string) as data; the text itself when it is not JSON."""
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _show(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@bp.route("/dossiers/<number>/etapes/<int:step>")
@roles_required(*AUDITORS)
def step(number, step):
    """The state at step N, rebuilt by replay: diagram, data, difference from N-1, who/when/what."""
    dossier = _dossier(number)
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    definition = _definition(dossier)
    events = hash_chain.events_of(instance.id)
    total = len(events)
    if not 1 <= step <= total:
        abort(404)
    names = bpmn_paths.element_names(definition.bpmn_xml)
    event = describe_event(events[step - 1], names, _people([events[step - 1]]))
    event["submitted"] = access.redact(event["submitted"], dossier, current_user())
    previous = current = None
    mismatch = None
    try:
        for snapshot in replayer.replay(instance, events, upto=step):
            previous, current = current, snapshot
    except replayer.ReplayMismatch as exc:
        mismatch = exc
    context = {"dossier": dossier, "step": step, "total": total, "event": event, "mismatch": mismatch,
               "diagram_url": url_for("audit.diagram", number=number),
               "step_url": url_for("audit.step", number=number, step=0)[:-1]}
    if mismatch is None:
        field_names = forms.labels(definition)
        user = current_user()
        before = access.redact(previous.data, dossier, user) if previous else {}
        after = access.redact(current.data, dossier, user)
        changes = replayer.data_diff(before, after)
        people = replay_text.people_names({"avant": before, "apres": after})
        event["services"] = [dict(s, nom=names.get(s.get("task")) or s.get("task"),
                                  texte=replay_text.value_text(_parsed(s.get("result")), field_names, people))
                             for s in event["services"] if isinstance(s, dict)]
        context.update(
            snapshot=current, data_rows=replay_text.readable_rows(after, field_names, people),
            diff=replay_text.readable_diff(changes, field_names, people),
            raw_rows=_rows(after, field_names),
            raw_diff=[dict(c, avant=_show(c["avant"]), apres=_show(c["apres"])) for c in changes],
            open_tasks=[dict(t, role=_role(t["role"])) for t in current.open_tasks],
            timers=[dict(t, nom=names.get(t["element"]) or t["element"],
                         echeance=datetime.fromisoformat(t["echeance"])) for t in current.timers],
            visited=sorted(set(current.visited) & set(names)),
            current_elements=[v for v in current.visited_step if v in names],
            flows=bpmn_paths.taken_flows(definition.bpmn_xml, current.visited, current.active),
            active=[a for a in current.active if a in names])
    return render_template("audit/step.html", **context)


@bp.route("/dossiers/<number>/etapes")
@roles_required(*AUDITORS)
def step_choice(number):
    """The slider's form without JavaScript: go to the chosen step."""
    dossier = _dossier(number)
    chosen = request.args.get("etape", 1, type=int) or 1
    return redirect(url_for("audit.step", number=dossier.number, step=max(1, chosen)))


def _period_arg(name: str, end: bool = False) -> datetime | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
        moment = datetime.combine(day, time(0), tzinfo=PARIS)  # the auditor's days are Paris days
        moment = moment + timedelta(days=1) if end else moment
    except (ValueError, OverflowError):
        day = moment = None
    if day is None or not MIN_YEAR <= day.year <= MAX_YEAR:
        french_abort(400, f"Date invalide pour « {name} » : attendu AAAA-MM-JJ, entre {MIN_YEAR} et {MAX_YEAR}.")
    return moment


@bp.route("/export.<fmt>")
@roles_required(*AUDITORS)
def export(fmt):
    """Download the history of one dossier or of the dossiers created in a period, as XES or CSV."""
    if fmt not in ("xes", "csv"):
        abort(404)
    number = request.args.get("dossier", "").strip()
    if number:
        dossiers = [_dossier(number)]
    else:
        dossiers = mining.dossiers_between(_period_arg("du"), _period_arg("au", end=True),
                                           access.dossier_filter(current_user()))
    personal = request.args.get("donnees_personnelles") == "1"
    stamp = app_now().astimezone(PARIS).strftime("%Y%m%d")
    name = f"historique-{number or 'dossiers'}-{stamp}.{fmt}"
    if fmt == "xes":
        body, mimetype = mining.to_xes(dossiers, personal), "application/xml"
    else:
        body, mimetype = mining.to_csv(dossiers, personal).encode("utf-8"), "text/csv"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})
