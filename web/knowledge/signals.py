"""Weak-signal alerts (bursts of similar declarations) and the dossiers involved, as each user may see them.

An alert is listed only with the dossiers the user reads in full (web/access.py, in SQL); an alert of
which the user reads none is not listed at all, and its page answers 404 like a missing one.
"""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from knowledge.signals import DIMENSIONS
from models import Dossier, Structure, WeakSignalAlert, db
from web import access
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort

bp = Blueprint("signals", __name__, url_prefix="/connaissances/signaux-faibles")
READERS = ("acss", "hfds", "ars", "dgs")
LIMIT = 100


def _visible(alerts: list[WeakSignalAlert]) -> dict[int, list]:
    """{alert id: [(dossier, structure name)]} restricted to the dossiers the user reads in full."""
    ids = {i for alert in alerts for i in alert.dossier_ids or []}
    rows = db.session.execute(select(Dossier, Structure.name).join(Structure, Structure.id == Dossier.structure_id)
                              .where(Dossier.id.in_(ids or {0}), access.dossier_filter(current_user()))
                              .order_by(Dossier.declared_at)).all()
    by_id = {dossier.id: (dossier, name) for dossier, name in rows}
    return {alert.id: [by_id[i] for i in alert.dossier_ids or [] if i in by_id] for alert in alerts}


@bp.route("")
@roles_required(*READERS)
def index():
    """The latest alerts with their dossiers."""
    alerts = list(db.session.scalars(select(WeakSignalAlert).order_by(WeakSignalAlert.created_at.desc(),
                                                                       WeakSignalAlert.id.desc()).limit(LIMIT)))
    dossiers = _visible(alerts)
    alerts = [a for a in alerts if dossiers[a.id]]
    return render_template("knowledge/signals.html", alerts=alerts, dossiers=dossiers, dimensions=DIMENSIONS)


@bp.route("/<int:alert_id>")
@roles_required(*READERS)
def show(alert_id):
    """One alert and its dossiers."""
    alert = db.session.get(WeakSignalAlert, alert_id)
    dossiers = _visible([alert]) if alert else {}
    if alert is None or not dossiers[alert.id]:
        french_abort(404, "Cette alerte est introuvable ou hors de votre périmètre.")
    return render_template("knowledge/signals.html", alerts=[alert], dossiers=dossiers, dimensions=DIMENSIONS,
                           single=True)
