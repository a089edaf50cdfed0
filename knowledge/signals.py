"""Weak signals: several similar declarations in a short window raise one alert to the cell and the HFDS.

A sweep (run by the scheduler with the other sweeps) groups the civil dossiers declared in the last
`WEAK_SIGNAL_WINDOW_HOURS` by département, by region, and by the normalized `logiciel` and
`prestataire` observables they carry. A group reaching its threshold (`WEAK_SIGNAL_THRESHOLDS`) is a
burst: the first sweep that sees it writes the alert and one outbox message to the Cellule ACSS and the
HFDS; later sweeps add the new dossiers of the same burst to that alert without mailing again. A burst
ends when no dossier of its key was declared for a whole window. Military hospitals' dossiers are never
counted: they stay in the armées chain (a number in a mail to the cell would already say too much).
Sweeps serialize on a counter row (its UPDATE takes the write lock first), so two schedulers cannot
raise the same alert twice.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from mail import links, notifications
from models import Counter, Dossier, Observable, OutboxMessage, Structure, WeakSignalAlert, db
from referentiel import plural

DIMENSIONS = {"departement": "Département", "region": "Région", "logiciel": "Logiciel", "prestataire": "Prestataire"}
DEFAULT_THRESHOLDS = {"departement": 3, "region": 4, "logiciel": 3, "prestataire": 3}
DEFAULT_WINDOW_HOURS = 72
LOCK_NAME = "weak_signals_sweep"
KIND = "signal_faible"


def settings() -> tuple[timedelta, dict]:
    """The window and the threshold of each dimension, from the application's settings."""
    hours = float(current_app.config.get("WEAK_SIGNAL_WINDOW_HOURS", DEFAULT_WINDOW_HOURS))
    thresholds = dict(DEFAULT_THRESHOLDS, **(current_app.config.get("WEAK_SIGNAL_THRESHOLDS") or {}))
    return timedelta(hours=hours), thresholds


def _lock() -> None:
    """Serialize sweeps: the UPDATE of one counter row takes the write lock (SQLite) or the row lock (PostgreSQL)."""
    if db.session.execute(update(Counter).where(Counter.name == LOCK_NAME).values(value=Counter.value + 1)).rowcount:
        return
    db.session.add(Counter(name=LOCK_NAME, value=1))
    db.session.flush()


def groups(since: datetime, until: datetime) -> dict[tuple[str, str], dict]:
    """{(dimension, key): {"label", "dossiers": {id: declared_at}}} for the civil dossiers declared in the window."""
    found: dict[tuple[str, str], dict] = {}
    declared = (Dossier.military.is_(False), Dossier.declared_at.is_not(None), Dossier.declared_at > since,
                Dossier.declared_at <= until)

    def add(dimension, key, label, dossier_id, at):
        if not key:
            return
        group = found.setdefault((dimension, key), {"label": label, "dossiers": {}})
        group["dossiers"][dossier_id] = at

    for dossier_id, at, region, department in db.session.execute(
            select(Dossier.id, Dossier.declared_at, Dossier.region, Structure.department)
            .join(Structure, Structure.id == Dossier.structure_id).where(*declared)):
        add("region", region, region, dossier_id, at)
        add("departement", department, department, dossier_id, at)
    for dossier_id, at, kind, normalized, value in db.session.execute(
            select(Dossier.id, Dossier.declared_at, Observable.kind, Observable.normalized, Observable.value)
            .join(Observable, Observable.dossier_id == Dossier.id)
            .where(*declared, Observable.kind.in_(("logiciel", "prestataire")), Observable.removed_at.is_(None))):
        add(kind, (normalized or "").strip()[:512], (value or normalized).strip()[:512], dossier_id, at)
    return found


def sweep(now: datetime) -> int:
    """One pass: raise the alerts of new bursts (mailing once) and extend open ones; returns alerts raised."""
    window, thresholds = settings()

    def bursts():
        return {k: g for k, g in groups(now - window, now).items()
                if len(g["dossiers"]) >= int(thresholds.get(k[0], 0) or 10**9)}

    if not bursts():  # the usual case: read only, no lock taken
        db.session.rollback()
        return 0
    _lock()
    raised = 0
    for (dimension, key), group in sorted(bursts().items()):  # read again under the lock
        dossiers = group["dossiers"]
        alert = db.session.scalar(select(WeakSignalAlert).where(
            WeakSignalAlert.dimension == dimension, WeakSignalAlert.key == key,
            WeakSignalAlert.last_at > min(dossiers.values()) - window).order_by(WeakSignalAlert.id.desc()).limit(1))
        if alert is not None:
            ids = sorted(set(alert.dossier_ids or []) | set(dossiers))
            if ids != alert.dossier_ids:
                alert.dossier_ids = ids
                alert.last_at = max(max(dossiers.values()), alert.last_at)
            continue
        alert = WeakSignalAlert(dimension=dimension, key=key, label=group["label"], dossier_ids=sorted(dossiers),
                                first_at=min(dossiers.values()), last_at=max(dossiers.values()), created_at=now)
        db.session.add(alert)
        db.session.flush()
        _queue_mail(alert, now, window)
        raised += 1
    db.session.commit()
    return raised


def _queue_mail(alert: WeakSignalAlert, now: datetime, window: timedelta) -> None:
    config = current_app.config
    numbers = list(db.session.scalars(select(Dossier.number).where(Dossier.id.in_(alert.dossier_ids))
                                      .order_by(Dossier.number)))
    extra = {"intro": (f"{plural(len(numbers), 'signalement similaire')} en moins de "
                       f"{plural(int(window.total_seconds() // 3600), 'heure')} : "
                       f"{DIMENSIONS[alert.dimension].lower()} « {alert.label} »."),
             "dossiers": numbers, "lien": links.absolute(f"/connaissances/signaux-faibles/{alert.id}"),
             "dimension": DIMENSIONS[alert.dimension], "valeur": alert.label}
    ctx = notifications.template_context(KIND, {}, "", extra)
    _, text, html = notifications.render(KIND, ctx)
    mailboxes = config.get("MAILBOXES") or {}
    digest = hashlib.sha256(f"weak-signal:{alert.id}".encode()).hexdigest()[:24]
    db.session.add(OutboxMessage(
        kind=KIND, recipients=[notifications.mailbox(r, None, mailboxes) for r in ("acss", "hfds")],
        recipient_roles=["acss", "hfds"], body_text=text, body_html=html, created_at=now, next_attempt_at=now,
        subject=f"[Signal faible] {DIMENSIONS[alert.dimension]} « {alert.label[:120]} » : "
                f"{plural(len(numbers), 'signalement')}",
        message_id=f"<{digest}.{KIND}@{config.get('MAIL_DOMAIN', 'localhost')}>"))
