"""Administration pages for the administrator and the process owner (read-only overview)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select

from engine import parsing
from engine.errors import EngineError
from models import Dossier, ProcessDefinition, ProcessInstance, Structure, User, db
from referentiel import ROLES, plural
from validation.problems import ValidationFailed
from web import access
from web.auth import current_user, roles_required
from workflow import commands, context, deployment

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@roles_required(*access.ADMINS)
def index():
    """Deployed process versions, structures and accounts."""
    definitions = db.session.execute(
        select(ProcessDefinition.id, ProcessDefinition.process_id, ProcessDefinition.name,
               ProcessDefinition.content_hash, ProcessDefinition.deployed_at, ProcessDefinition.deployed_by,
               func.count(ProcessInstance.id))
        .outerjoin(ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)
        .group_by(ProcessDefinition.id).order_by(ProcessDefinition.id.desc())).all()
    users = db.session.scalars(select(User).order_by(User.role, User.name)).all()
    structures = {s.id: s for s in db.session.scalars(select(Structure).order_by(Structure.name))}
    dossiers = db.session.scalar(select(func.count()).select_from(Dossier))
    return render_template("admin/index.html", definitions=definitions, users=users, structures=structures,
                           roles=ROLES, dossiers=dossiers)


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
    """Deploy an uploaded BPMN file as a new version; running dossiers keep theirs."""
    upload = request.files.get("bpmn")
    if upload is None or not upload.filename:
        flash("Choisissez un fichier BPMN à déployer.", "erreur")
        return redirect(url_for("admin.index")), 303
    try:
        xml = upload.read(parsing.MAX_BPMN_BYTES + 1).decode("utf-8")
        before = db.session.scalar(select(func.max(ProcessDefinition.id)))
        definition = deployment.deploy_xml(xml, actor=current_user().email, filename=_safe_name(upload.filename))
    except UnicodeDecodeError:
        flash("Le fichier doit être encodé en UTF-8.", "erreur")
    except ValidationFailed as exc:
        if request.accept_mimetypes.best == "application/json":  # a program gets the problems, one per element
            return jsonify(erreur=exc.message.split("\n")[0], problemes=[
                {"fichier": exc.filename, "element": p.element_id, "nom": p.element_name, "regle": p.rule,
                 "message": line} for p, line in zip(exc.problems, exc.lines)]), 422
        flash(f"Le fichier BPMN est invalide ({exc.filename}) : rien n'a été déployé, les dossiers et les "
              "déclarations continuent sur la version en cours.", "erreur")
        for line in exc.lines[:_SHOWN]:
            flash(line, "erreur")
        if len(exc.lines) > _SHOWN:
            flash(f"… et {plural(len(exc.lines) - _SHOWN, 'autre problème')}.", "erreur")
    except EngineError as exc:
        flash(exc.message, "erreur")
    else:
        if before is not None and definition.id <= before and definition.bpmn_xml != xml:
            flash(f"Ce fichier a le même sens que la version {definition.id} (seule la mise en page du diagramme "
                  "diffère) : rien n'a été déployé.", "info")
        elif before is not None and definition.id <= before:
            flash(f"Ce contenu est déjà déployé (version {definition.id}).", "info")
        else:
            flash(f"Version {definition.id} déployée : les nouveaux dossiers l'utiliseront.", "succes")
    return redirect(url_for("admin.index")), 303


_SHOWN = 20  # problems listed on the page; the CLI deploy prints them all


def _safe_name(filename: str) -> str:
    """The uploaded file's base name, for messages (never used as a path)."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1][:120] or "processus.bpmn"


@bp.route("/processus/migrer", methods=["POST"])
@roles_required(*access.ADMINS)
def migrate():
    """Move one running dossier to another version (explicit and audited)."""
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
