"""Versions of the process for its owners: each version with its author, time and comment, the active one,
its running dossiers and where they wait (also on its diagram); activating an earlier version (rollback);
previewing and running the migration of a version's running dossiers.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.errors import EngineError
from models import DeploymentEvent, ProcessDefinition, db
from web import access
from web.auth.login import current_user, roles_required
from web.owners.admin import author_label
from workflow import commands, context, deployment, gate, versions

bp = Blueprint("versions", __name__, url_prefix="/admin/versions")
ACTIONS = {"deploiement": "Déploiement", "activation": "Activation", "migration": "Migration de dossiers"}


def _definition(definition_id: int) -> ProcessDefinition:
    definition = db.session.get(ProcessDefinition, definition_id)
    if definition is None or definition.process_id != deployment.process_id():
        abort(404)
    return definition


@bp.route("/")
@roles_required(*access.ADMINS)
def index():
    """Every version of the process, newest first, with its running dossiers and history."""
    pid = deployment.process_id()
    definitions = db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_id == pid)
                                     .order_by(ProcessDefinition.id.desc())).all()
    events = db.session.scalars(select(DeploymentEvent).where(DeploymentEvent.process_id == pid)
                                .order_by(DeploymentEvent.id.desc())).all()
    comments = {}
    for event in reversed(events):
        if event.action == "deploiement":
            comments.setdefault(event.definition_id, event.comment)
    active = deployment.active_definition() if definitions else None
    uses = {d.id: versions.use_of(d, access.number_hidden_from_owners, per_element=False) for d in definitions}
    return render_template("owners/admin/versions.html", definitions=definitions, events=events, comments=comments,
                           active=active, uses=uses, actions=ACTIONS, author=author_label)


@bp.route("/<int:definition_id>")
@roles_required(*access.ADMINS)
def show(definition_id):
    """One version: its diagram with the count of running dossiers waiting on each element."""
    definition = _definition(definition_id)
    use = versions.use_of(definition, access.number_hidden_from_owners)
    others = db.session.scalars(select(ProcessDefinition.id).where(
        ProcessDefinition.process_id == definition.process_id, ProcessDefinition.id != definition.id)
        .order_by(ProcessDefinition.id.desc())).all()
    active = deployment.active_definition(definition.process_id)
    diff = None if active.id == definition.id else versions.semantic_diff(active.bpmn_xml, active.forms,
                                                                          definition.bpmn_xml, definition.forms)
    return render_template("owners/admin/version.html", definition=definition, use=use, others=others,
                           names=versions.element_names(definition), active=active, diff=diff,
                           types=versions.ELEMENT_TYPES, acceptances=gate.acceptances(definition),
                           author=author_label)


@bp.route("/<int:definition_id>/activer", methods=["POST"])
@roles_required(*access.ADMINS)
def activate(definition_id):
    """Make this version the one new dossiers start on (rollback), with the reason given."""
    definition = _definition(definition_id)
    try:
        versions.activate(definition, current_user().email, request.form.get("commentaire") or "")
    except EngineError as exc:
        flash(exc.message, "erreur")
    else:
        flash(f"Version {definition.id} activée : les nouveaux dossiers l'utiliseront ; les dossiers en cours "
              "gardent la leur.", "succes")
    return redirect(url_for("versions.index")), 303


def _target(definition: ProcessDefinition) -> ProcessDefinition:
    target_id = request.values.get("vers", type=int)
    target = db.session.get(ProcessDefinition, target_id) if target_id else deployment.active_definition()
    if target is None or target.process_id != definition.process_id:
        abort(404)
    return target


@bp.route("/<int:definition_id>/migration")
@roles_required(*access.ADMINS)
def preview(definition_id):
    """Which running dossiers of this version can move to the target, which cannot and why."""
    definition = _definition(definition_id)
    target = _target(definition)
    try:
        found = versions.preview(definition, target, access.number_hidden_from_owners)
    except EngineError as exc:
        flash(exc.message, "erreur")
        return redirect(url_for("versions.show", definition_id=definition.id)), 303
    diff = versions.semantic_diff(definition.bpmn_xml, definition.forms, target.bpmn_xml, target.forms)
    return render_template("owners/admin/migration.html", definition=definition, target=target, preview=found,
                           names={**versions.element_names(definition), **versions.element_names(target)},
                           choices=commands.TIMER_CHOICES, diff=diff, types=versions.ELEMENT_TYPES)


@bp.route("/<int:definition_id>/migration", methods=["POST"])
@roles_required(*access.ADMINS)
def migrate(definition_id):
    """Move the running dossiers of this version that can move, all of them or those waiting on one element;
    a report line per dossier."""
    definition = _definition(definition_id)
    target = _target(definition)
    timers = request.form.get("minuteurs") or ""
    if timers not in commands.TIMER_CHOICES:
        flash("Choisissez ce que deviennent les minuteurs en attente : conserver l'échéance ou la recalculer.",
              "erreur")
        return redirect(url_for("versions.preview", definition_id=definition.id, vers=target.id)), 303
    if target.id == definition.id:
        flash("Choisissez une autre version que celle des dossiers.", "erreur")
        return redirect(url_for("versions.show", definition_id=definition.id)), 303
    element = request.form.get("element") or None
    if element is not None and element not in versions.element_names(definition):
        flash("Choisissez un élément de la version des dossiers, ou tous les éléments.", "erreur")
        return redirect(url_for("versions.preview", definition_id=definition.id, vers=target.id)), 303
    report = versions.migrate_all(definition, target, context.Actor.of(current_user()), timers, element)
    hidden = access.number_hidden_from_owners
    lines = [{"numero": None if hidden(line["dossier"].military, line["dossier"].state) else line["dossier"].number,
              "migre": line["migre"], "raisons": line["raisons"], "attente": line["attente"]} for line in report]
    return render_template("owners/admin/migration_rapport.html", definition=definition, target=target, lines=lines,
                           timers=timers)
