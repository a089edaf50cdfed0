"""Dry run of a candidate version: the named scenarios run on it in a throwaway SQLite database, beside the
same scenarios on the active version, and each path is compared (element by element).

Nothing touches the application's database: the throwaway application gets its own in-memory SQLite
database, migrated and loaded with the demo structures, gone with it. The web upload calls this
through `app.extensions["dry_run"]` (web and cli are siblings). Runs are bounded by DRY_RUN_SECONDS.
"""
from __future__ import annotations

import time

from sqlalchemy import select

import migrate
from cli import demo, scenarios
from models import AuditEvent, Dossier, db
from timekeeping import clock as clock_mod
from workflow import deployment

_baseline: dict = {}  # content hash of a version -> its scenario paths (a version never changes)


def _path_of(dossier_id: int) -> tuple[list, str]:
    dossier = db.session.get(Dossier, dossier_id)
    visited = db.session.scalars(select(AuditEvent.visited).where(AuditEvent.instance_id == dossier.instance_id)
                                 .order_by(AuditEvent.seq)).all()
    # SpiffWorkflow's own tasks (Start, End, boundary splits and joins) are no element of the diagram.
    return [name for step in visited for name in step or [] if "." not in name and name not in _INTERNAL], dossier.state


_INTERNAL = {"Start", "End", "Root"}


def _last_dossier_id() -> int | None:
    return db.session.scalar(select(Dossier.id).order_by(Dossier.id.desc()).limit(1))


def _run_all(make_app, xml: str, forms: dict, deadline: float) -> dict:
    """{scenario: {"chemin", "etat", "erreur"}} of every named scenario on one version, in a fresh database."""
    results = {}
    clock = clock_mod.FrozenClock()
    # In memory: nothing to delete afterwards, and no disk sync per command (the live database has them).
    throwaway = make_app("sqlite://", clock)
    with throwaway.app_context():
        try:
            migrate.upgrade()
            deployment.deploy_xml(xml, actor="essai", forms=forms)
            demo.load_demo(password="essai-jetable")
            for name in scenarios.SCENARIOS:
                if time.monotonic() > deadline:
                    results[name] = {"chemin": [], "etat": "", "erreur": "non exécuté : durée de l'essai dépassée"}
                    continue
                results[name] = _run_one(name, clock)
        finally:
            db.session.remove()
            db.engine.dispose()
    return results


def _run_one(name: str, clock) -> dict:
    before = _last_dossier_id()
    error = None
    try:
        scenarios.run(name, clock)
    except Exception as exc:  # noqa: BLE001 - a scenario the candidate cannot follow is a finding
        db.session.rollback()
        error = getattr(exc, "message", None) or str(exc)
    last = _last_dossier_id()
    path, state = _path_of(last) if last and last != before else ([], "")
    return {"chemin": path, "etat": state, "erreur": error}


def _difference(old: list, new: list) -> dict:
    """Where two paths part: the common start, then what each does after it."""
    common = 0
    while common < min(len(old), len(new)) and old[common] == new[common]:
        common += 1
    return {"identique": old == new, "commun": common, "avant": old[common:], "apres": new[common:]}


def dry_run(make_app, xml: str, forms: dict, active_xml: str, active_forms: dict, active_hash: str,
            seconds: float) -> list[dict]:
    """Each named scenario on the candidate and on the active version: path, final state, error, difference."""
    deadline = time.monotonic() + seconds
    if active_hash not in _baseline:
        _baseline[active_hash] = _run_all(make_app, active_xml, active_forms, deadline)
    baseline = _baseline[active_hash]
    candidate = _run_all(make_app, xml, forms, deadline)
    report = []
    for name, scenario in scenarios.SCENARIOS.items():
        old, new = baseline.get(name, {}), candidate.get(name, {})
        report.append({"nom": name, "titre": scenario.title, "chemin": new.get("chemin", []),
                       "etat": new.get("etat", ""), "erreur": new.get("erreur"),
                       "etat_actuel": old.get("etat", ""), "erreur_actuelle": old.get("erreur"),
                       "ecart": _difference(old.get("chemin", []), new.get("chemin", []))})
    return report
