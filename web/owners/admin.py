"""Administration pages for the administrator and the process owner (read-only overview)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from engine.errors import EngineError
from models import Dossier, ProcessDefinition, ProcessInstance, Structure, User, db
from referentiel import ROLES
from web import access
from web.owners import deploys
from web.auth.login import current_user, roles_required
from workflow import commands, context

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@roles_required(*access.ADMINS)
def index():
    """Deployed process versions and counts; accounts and the single-dossier migration for administrators only
    (the process owner sees no account and no dossier: least privilege, issue 20)."""
    definitions = db.session.execute(
        select(ProcessDefinition.id, ProcessDefinition.process_id, ProcessDefinition.name,
               ProcessDefinition.content_hash, ProcessDefinition.deployed_at, ProcessDefinition.deployed_by,
               func.count(ProcessInstance.id))
        .outerjoin(ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)
        .group_by(ProcessDefinition.id).order_by(ProcessDefinition.id.desc())).all()
    dossiers = db.session.scalar(select(func.count()).select_from(Dossier))
    administrator = current_user().role == "admin"
    users = db.session.scalars(select(User).order_by(User.role, User.name)).all() if administrator else []
    structures = {s.id: s for s in db.session.scalars(select(Structure).order_by(Structure.name))} if administrator else {}
    return render_template("owners/admin/index.html", definitions=definitions, users=users, structures=structures,
                           roles=ROLES, dossiers=dossiers, administrator=administrator,
                           authors={d[0]: author_label(d[5]) for d in definitions})


def author_label(deployed_by: str | None) -> str:
    """Who deployed a version or ran a migration: the account's address for administrators, its role for the
    process owner (who sees no account)."""
    if not deployed_by or current_user().role == "admin":
        return deployed_by or "-"
    if "@" not in deployed_by:
        return deployed_by  # « ligne de commande », « système »
    role = db.session.scalar(select(User.role).where(User.email == deployed_by))
    return ROLES.get(role, "un compte") if role else "un compte"


@bp.route("/processus/<int:definition_id>.bpmn")
@roles_required(*access.ADMINS)
def download(definition_id):
    """A deployed version's BPMN, to open in a modeller (bpmn.io, Camunda Modeler, SpiffArena)."""
    definition = db.session.get(ProcessDefinition, definition_id) or abort(404)
    return Response(definition.bpmn_xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{definition.process_id}-v{definition.id}.bpmn"'})


@bp.route("/processus/deployer", methods=["POST"])
@roles_required(*access.ADMINS)
def deploy():
    """Receive a BPMN with its forms (files or one zip): validated, dry-run, then confirmed (web/owners/deploys.py)."""
    return deploys.receive()


@bp.route("/processus/migrer", methods=["POST"])
@roles_required("admin")
def migrate():
    """Move one running dossier, named by its number, to another version (explicit and audited); for
    administrators only: the process owner migrates by version and element (web/owners/versions.py)."""
    number = (request.form.get("dossier") or "").strip()
    dossier = db.session.scalar(select(Dossier).where(Dossier.number == number))
    target = db.session.get(ProcessDefinition, request.form.get("version", type=int) or 0)
    if dossier is None or target is None:
        flash("Dossier ou version inconnu.", "erreur")
        return redirect(url_for("admin.index")), 303
    user = current_user()
    try:
        commands.migrate_dossier(dossier, target, context.Actor.of(user))
    except EngineError as exc:
        flash(exc.message, "erreur")
    else:
        flash(f"Dossier {number} migré vers la version {target.id}.", "succes")
    return redirect(url_for("admin.index")), 303
