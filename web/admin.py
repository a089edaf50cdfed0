"""Administration pages for the administrator and the process owner (read-only overview)."""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from models import Dossier, ProcessDefinition, ProcessInstance, Structure, User, db
from referentiel import ROLES
from web import access
from web.auth import roles_required

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
