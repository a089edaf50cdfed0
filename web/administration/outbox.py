"""Administration of the outbox: states, message detail, retry of dead letters, checks after a crash.

Administrators see every message's metadata; the bodies of military or restricted dossiers' messages
stay hidden (web/access.py).
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from accounts import passwords
from mail import mailer
from models import Dossier, OutboxMessage, db
from web import access
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")

PER_PAGE = 50


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


@bp.route("/")
@roles_required("admin")
def index():
    """Outbox rows, newest first, filtered by state and paginated."""
    state = request.args.get("etat", "")
    if state and state not in mailer.STATES:
        french_abort(400, "État de message inconnu.")
    query = select(OutboxMessage)
    if state:
        query = query.where(OutboxMessage.status == state)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // PER_PAGE))
    page = min(_page(), pages)
    rows = db.session.scalars(query.order_by(OutboxMessage.id.desc()).offset((page - 1) * PER_PAGE)
                              .limit(PER_PAGE)).all()
    counts = dict(db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    numbers = _numbers(rows)
    return render_template("administration/outbox/index.html", rows=rows, state=state, states=mailer.STATES, counts=counts,
                           page=page, pages=pages, total=total, numbers=numbers,
                           backend=current_app.config.get("MAIL_BACKEND", "log"))


@bp.route("/journal")
@roles_required("admin")
def journal():
    """Development: the messages 'sent' by the log backend, with their full text."""
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "sent")
                              .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc()).limit(100)).all()
    return render_template("administration/outbox/journal.html", rows=rows, numbers=_numbers(rows), hidden=_hidden_bodies(rows),
                           backend=current_app.config.get("MAIL_BACKEND", "log"))


@bp.route("/<int:message_id>")
@roles_required("admin")
def show(message_id: int):
    """One message: headers, state, last error and both bodies."""
    row = _message(message_id)
    return render_template("administration/outbox/show.html", row=row, states=mailer.STATES, number=_numbers([row]).get(row.dossier_id),
                           hidden=_hidden_bodies([row]))


@bp.route("/<int:message_id>/renvoyer", methods=["POST"])
@roles_required("admin")
def retry(message_id: int):
    """Queue a dead or to-verify message again."""
    row = _message(message_id)
    if row.status not in ("dead", "a_verifier"):
        return _refused(row, "Seuls les messages abandonnés ou à vérifier peuvent être renvoyés.")
    mailer.requeue(row, current_user().email)
    flash(f"Le message {row.message_id} sera renvoyé au prochain passage de l'expéditeur.", "succes")
    return redirect(url_for("outbox.show", message_id=row.id))


@bp.route("/<int:message_id>/marquer-envoye", methods=["POST"])
@roles_required("admin")
def mark_sent(message_id: int):
    """Record that a to-verify message did reach the mail server."""
    row = _message(message_id)
    if row.status != "a_verifier":
        return _refused(row, "Seuls les messages à vérifier peuvent être marqués envoyés.")
    mailer.mark_sent(row, current_user().email)
    flash(f"Le message {row.message_id} est enregistré comme remis.", "succes")
    return redirect(url_for("outbox.show", message_id=row.id))


def _refused(row: OutboxMessage, message: str):
    # The state changed meanwhile (another administrator, the sender): a clear 409, not a 500.
    flash(message, "erreur")
    return render_template("administration/outbox/show.html", row=row, states=mailer.STATES,
                           number=_numbers([row]).get(row.dossier_id), hidden=_hidden_bodies([row])), 409


def _numbers(rows) -> dict:
    ids = {r.dossier_id for r in rows if r.dossier_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(Dossier.id, Dossier.number).where(Dossier.id.in_(ids))).all())


def _message(message_id: int) -> OutboxMessage:
    row = db.session.get(OutboxMessage, message_id)
    if row is None:
        french_abort(404, access.NOT_FOUND)
    return row


def _hidden_bodies(rows) -> set:
    """Ids of the rows whose bodies an administrator may not read (military or restricted dossiers, and the
    password links, whose token would let the reader take the account over)."""
    links = {r.id for r in rows if r.kind == passwords.LINK_KIND}
    ids = {r.dossier_id for r in rows if r.dossier_id}
    if not ids:
        return links
    hidden = set(db.session.scalars(select(Dossier.id).where(Dossier.id.in_(ids), ~access.admin_body_filter())))
    return links | {r.id for r in rows if r.dossier_id in hidden}
