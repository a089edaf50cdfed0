"""The retex base and the knowledge base (phase 6), their review and publication, the community page.

The base and the knowledge base list only the retex of dossiers the user reads in full (web/access.py,
in SQL): an ARS its region's, military dossiers only in the armées chain. The cell reviews the
anonymized text and publishes it (an explicit, logged action); the community page, open to declarants,
shows published texts only.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from knowledge import retex as base
from knowledge.retex import FIELDS
from models import Dossier, KnowledgeEvent, Retex, User, db
from referentiel import INCIDENT_TYPES
from timekeeping.clock import app_now
from web import access
from web.auth.login import current_user, login_required, roles_required
from web.auth.security import french_abort

bp = Blueprint("retex", __name__, url_prefix="/connaissances")
READERS = ("acss", "hfds", "ars", "armees")
EDITORS = ("acss",)
NOT_FOUND = "Ce retour d'expérience est introuvable ou hors de votre périmètre."
FILTERS = ("q", "type", "observable", "prestataire", "logiciel")


@bp.route("/retex")
@roles_required(*READERS)
def index():
    """Search the retex base: text, incident type, observable, provider, software."""
    chosen = {name: (request.args.get(name) or "").strip()[:200] for name in FILTERS}
    if chosen["type"] not in INCIDENT_TYPES:
        chosen["type"] = ""
    found = base.search(access.dossier_filter(current_user()), text=chosen["q"], incident_type=chosen["type"],
                        observable=chosen["observable"], provider=chosen["prestataire"], software=chosen["logiciel"])
    numbers = dict(db.session.execute(select(Dossier.id, Dossier.number)
                                      .where(Dossier.id.in_([r.dossier_id for r in found] or [0]))).all())
    return render_template("knowledge/retex_index.html", found=found, chosen=chosen, numbers=numbers,
                           incident_types=INCIDENT_TYPES, fields=FIELDS)


def _readable(retex_id: int) -> Retex:
    retex = db.session.scalar(select(Retex).join(Dossier, Dossier.id == Retex.dossier_id)
                              .where(Retex.id == retex_id, access.dossier_filter(current_user())))
    if retex is None:
        french_abort(404, NOT_FOUND)
    return retex


@bp.route("/retex/<int:retex_id>", methods=["GET", "POST"])
@roles_required(*READERS)
def show(retex_id):
    """A retex in full, its anonymized text under review, and (for the cell) review and publication."""
    retex = _readable(retex_id)
    user = current_user()
    if request.method == "POST":
        if user.role not in EDITORS:
            french_abort(403, "Seule la Cellule ACSS relit et publie les retours d'expérience.")
        action = request.form.get("action")
        text = request.form.get("review_text")
        now = app_now()
        if action in ("relire", "publier"):
            if text is None or not text.strip():
                french_abort(422, "Le texte anonymisé ne peut pas être vide.")
            if len(text) > base.MAX_TEXT:
                french_abort(422, f"Le texte anonymisé tient en {base.MAX_TEXT} caractères au plus.")
            base.review(retex, text, user, now)
            if action == "publier":
                base.publish(retex, user, now)
        elif action == "retirer":
            base.unpublish(retex, user, now)
        else:
            french_abort(400, "Action inconnue.")
        db.session.commit()
        flash({"relire": "Texte anonymisé enregistré (non publié).", "publier": "Retour d'expérience publié.",
               "retirer": "Retour d'expérience retiré de la page de la communauté."}[action], "succes")
        return redirect(url_for("retex.show", retex_id=retex.id))
    dossier = db.session.get(Dossier, retex.dossier_id)
    history = db.session.execute(select(KnowledgeEvent.at, KnowledgeEvent.actor, KnowledgeEvent.action)
                                 .where(KnowledgeEvent.object_type == "retex", KnowledgeEvent.object_id == retex.id)
                                 .order_by(KnowledgeEvent.id)).all()
    publisher = db.session.get(User, retex.published_by) if retex.published_by else None
    return render_template("knowledge/retex_show.html", retex=retex, dossier=dossier, fields=FIELDS,
                           incident_types=INCIDENT_TYPES, history=history, publisher=publisher,
                           can_edit=user.role in EDITORS)


@bp.route("/base")
@roles_required(*READERS, "dgs")
def knowledge_base():
    """What past dossiers taught, per incident type (the types of the `type` arguments, else all)."""
    types = [t for t in request.args.getlist("type") if t in INCIDENT_TYPES]
    lessons = base.lessons_by_type(access.dossier_filter(current_user()), types or None)
    return render_template("knowledge/base.html", lessons=lessons, chosen=types, incident_types=INCIDENT_TYPES)


@bp.route("/communaute")
@login_required
def community():
    """The published anonymized retex, for the SSI community (declarants included)."""
    return render_template("knowledge/community.html", published=base.published(), incident_types=INCIDENT_TYPES)
