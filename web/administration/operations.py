"""« Exploitation »: the work the platform failed to do or cannot hand to anyone, and its retry (administrators).

The lists and the retry are workflow/operations.py's; a dead letter is sent again through the outbox's own
action (mail/mailer.py requeue), so each retry has one implementation.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from mail import mailer
from models import OutboxMessage, db
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort
from workflow import operations

bp = Blueprint("operations", __name__, url_prefix="/admin/exploitation")
OUTCOMES = {"fired": ("Minuteur relancé : il s'est déclenché et le dossier a repris son cours.", "succes"),
            "failed": ("Minuteur relancé, mais il a de nouveau échoué : l'erreur est affichée ci-dessous.", "erreur"),
            "skipped": ("Ce minuteur venait d'être traité par le planificateur : rien n'a été relancé.", "avertissement")}


@bp.route("/")
@roles_required("admin")
def index():
    """Failed and failing timers, tasks without anyone to take them, dead letters."""
    return render_template("administration/operations/index.html", work=operations.failed_work())


@bp.route("/minuteurs/<int:timer_id>/relancer", methods=["POST"])
@roles_required("admin")
def retry_timer(timer_id: int):
    """Make a timer due again and fire it once now (audited)."""
    try:
        outcome = operations.retry_timer(timer_id, current_user())
    except operations.RetryRefused as refused:
        french_abort(409, str(refused))
    message, category = OUTCOMES[outcome]
    flash(message, category)
    return redirect(url_for("operations.index")), 303


@bp.route("/messages/<int:message_id>/relancer", methods=["POST"])
@roles_required("admin")
def retry_message(message_id: int):
    """Send a dead letter again (the outbox's requeue, which notes who asked in the row)."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None:
        french_abort(404, "Ce message n'existe pas.")
    if row.status not in operations.DEAD_STATES:
        french_abort(409, "Seuls les messages abandonnés ou à vérifier peuvent être renvoyés.")
    mailer.requeue(row, current_user().email)
    flash("Message remis dans la file : il partira au prochain passage de l'expéditeur.", "succes")
    return redirect(url_for("operations.index")), 303
