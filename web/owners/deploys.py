"""Deploying a version from the web: upload (a BPMN with its forms, or one zip) -> validation -> dry run
report (validator, semantic difference, named scenarios) kept as a pending deployment -> « Déployer » with
a comment. Nothing is deployed before that confirmation; a pending deployment belongs to its uploader.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import (Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for)
from sqlalchemy import delete, select

from engine import serialization
from engine.errors import EngineError
from models import PendingDeployment, ProcessDefinition, db
from referentiel import plural
from timekeeping import clock as clock_mod
from validation import validator
from validation.problems import ValidationFailed
from web import access
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort
from web.owners.uploads import UploadRefused, read_upload
from workflow import deployment, versions

bp = Blueprint("deploys", __name__, url_prefix="/admin/processus")
SHOWN = 20  # problems listed on the page; the CLI deploy prints them all
PENDING_HOURS = 24


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _refuse(filename: str, lines: list[str], problems: list | None = None):
    """The page (or 422 JSON) for a file the validator refused: nothing was deployed."""
    if _wants_json():
        return jsonify(erreur=f"Le fichier BPMN est invalide ({filename}).", problemes=[
            {"fichier": filename, "element": p.element_id, "nom": p.element_name, "regle": p.rule, "message": line}
            for p, line in zip(problems or [], lines)]), 422
    flash(f"Le fichier BPMN est invalide ({filename}) : rien n'a été déployé, les dossiers et les "
          "déclarations continuent sur la version en cours.", "erreur")
    for line in lines[:SHOWN]:
        flash(line, "erreur")
    if len(lines) > SHOWN:
        flash(f"… et {plural(len(lines) - SHOWN, 'autre problème')}.", "erreur")
    return redirect(url_for("admin.index")), 303


def _known(xml: str, forms: dict) -> ProcessDefinition | None:
    content_hash = serialization.sha256(serialization.canonical_json({"bpmn": xml, "forms": forms}))
    found = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.content_hash == content_hash))
    return found or deployment.same_meaning(xml, forms)


def receive():
    """Read and validate an upload, run its dry run and keep it pending; the report page follows."""
    files = [f for key in ("bpmn", "fichiers") for f in request.files.getlist(key) if f and f.filename]
    if not files:
        if _wants_json():
            return jsonify(erreur="Aucun fichier reçu."), 400
        flash("Choisissez un fichier BPMN à déployer.", "erreur")
        return redirect(url_for("admin.index")), 303
    try:
        upload = read_upload(files, current_app.config["MAX_CONTENT_LENGTH"])
    except UploadRefused as exc:
        if _wants_json():
            return jsonify(erreur=str(exc)), 422
        flash(f"{exc} Rien n'a été déployé.", "erreur")
        return redirect(url_for("admin.index")), 303
    active = deployment.active_definition()
    forms = {**active.forms, **upload.forms}  # uploaded forms replace those of the active version
    known = _known(upload.xml, forms)
    if known is not None:
        later = "" if known.id == active.id else " ; c'est une version antérieure, activable depuis la page des versions"
        if known.bpmn_xml != upload.xml:
            message = (f"Ce fichier a le même sens que la version {known.id} (seule la mise en page du diagramme "
                       f"diffère) : rien n'a été déployé{later}.")
        else:
            message = f"Ce contenu est déjà déployé (version {known.id}) : rien n'a été déployé{later}."
        if _wants_json():
            return jsonify(version=known.id, message=message), 200
        flash(message, "info")
        return redirect(url_for("versions.index")), 303
    report = validator.validate(upload.xml, forms, upload.filename, deployment.process_id(),
                                lint=current_app.config["BPMN_LINT"])
    if not report.ok:
        return _refuse(upload.filename, report.lines(), report.problems)
    try:
        scenarios = current_app.extensions["dry_run"](upload.xml, forms, active)
    except Exception:  # noqa: BLE001 - the dry run must never turn an upload into a 500
        current_app.logger.exception("dry run failed")
        scenarios = []
    diff = versions.semantic_diff(active.bpmn_xml, active.forms, upload.xml, forms)
    user = current_user()
    now = clock_mod.app_now()
    db.session.execute(delete(PendingDeployment).where(
        (PendingDeployment.user_id == user.id) | (PendingDeployment.created_at < now - timedelta(hours=PENDING_HOURS))))
    pending = PendingDeployment(token=secrets.token_urlsafe(32), user_id=user.id, filename=upload.filename,
                                bpmn_xml=upload.xml, forms=forms, created_at=now,
                                report={"linted": report.linted, "active": active.id, "diff": diff,
                                        "scenarios": scenarios, "uploaded_forms": sorted(upload.forms)})
    db.session.add(pending)
    db.session.commit()
    if _wants_json():
        return jsonify(jeton=pending.token, rapport=pending.report,
                       confirmer=url_for("deploys.confirm", token=pending.token)), 202
    return redirect(url_for("deploys.report", token=pending.token)), 303


def _pending(token: str) -> PendingDeployment:
    """The caller's own pending deployment; another user's, or an expired one, is not found."""
    pending = db.session.get(PendingDeployment, token[:64])
    user = current_user()
    if (pending is None or pending.user_id != user.id
            or pending.created_at < clock_mod.app_now() - timedelta(hours=PENDING_HOURS)):
        french_abort(404, "Cet essai de déploiement est introuvable ou a expiré : déposez le fichier à nouveau.")
    return pending


@bp.route("/essai/<token>")
@roles_required(*access.ADMINS)
def report(token):
    """The dry-run report of an upload, with « Déployer » and « Abandonner »."""
    pending = _pending(token)
    active = db.session.get(ProcessDefinition, pending.report.get("active"))
    return render_template("owners/admin/essai.html", pending=pending, report=pending.report, active=active,
                           names=versions.element_names(active) if active else {}, types=versions.ELEMENT_TYPES)


@bp.route("/essai/<token>/deployer", methods=["POST"])
@roles_required(*access.ADMINS)
def confirm(token):
    """Deploy a pending upload as a new active version, with the owner's comment."""
    pending = _pending(token)
    comment = (request.form.get("commentaire") or "").strip()[:2000]
    if not comment:
        flash("Indiquez en commentaire ce que change cette version.", "erreur")
        return redirect(url_for("deploys.report", token=pending.token)), 303
    try:
        definition = deployment.deploy_xml(pending.bpmn_xml, actor=current_user().email, forms=pending.forms,
                                           filename=pending.filename, comment=comment)
    except ValidationFailed as exc:
        return _refuse(exc.filename, exc.lines, exc.problems)
    except EngineError as exc:
        flash(exc.message, "erreur")
        return redirect(url_for("admin.index")), 303
    db.session.execute(delete(PendingDeployment).where(PendingDeployment.token == pending.token))
    db.session.commit()
    flash(f"Version {definition.id} déployée : les nouveaux dossiers l'utiliseront.", "succes")
    return redirect(url_for("versions.index")), 303


@bp.route("/essai/<token>/abandonner", methods=["POST"])
@roles_required(*access.ADMINS)
def discard(token):
    """Drop a pending upload: nothing is deployed."""
    pending = _pending(token)
    db.session.execute(delete(PendingDeployment).where(PendingDeployment.token == pending.token))
    db.session.commit()
    flash("Essai abandonné : rien n'a été déployé.", "info")
    return redirect(url_for("admin.index")), 303
