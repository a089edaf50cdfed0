"""Deploying a version from the web (an upload, or the modeller's draft sent to the same address): upload (a
BPMN with its forms, or one zip) -> the gate's validator and dry run (workflow/gate.py) -> report (validator,
semantic difference, named scenarios side by side) kept as a pending deployment -> « Déployer » with a comment
and each changed scenario path accepted one by one. Nothing is deployed before that confirmation, never when a
scenario fails; a pending deployment belongs to its uploader.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import (Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for)
from sqlalchemy import delete

from engine.errors import EngineError
from models import PendingDeployment, ProcessDefinition, db
from referentiel import plural
from timekeeping import clock as clock_mod
from validation.problems import ValidationFailed
from web import access
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort
from web.owners.uploads import UploadRefused, read_upload
from workflow import deployment, gate, versions

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
    known = deployment.known_version(upload.xml, forms)
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
    verdict = gate.examine(upload.xml, forms, upload.filename, active)
    if verdict.problems:
        return _refuse(upload.filename, verdict.validation.lines(), verdict.problems)
    pending = _keep(upload.filename, upload.xml, forms, verdict, active, sorted(upload.forms))
    db.session.commit()
    if _wants_json():
        return jsonify(jeton=pending.token, rapport=pending.report,
                       confirmer=url_for("deploys.confirm", token=pending.token)), 202
    return redirect(url_for("deploys.report", token=pending.token)), 303


def _keep(filename: str, xml: str, forms: dict, verdict: gate.Verdict, active: ProcessDefinition,
          uploaded: list) -> PendingDeployment:
    """Keep the upload and its report as the user's one pending deployment (the caller commits)."""
    user = current_user()
    now = clock_mod.app_now()
    db.session.execute(delete(PendingDeployment).where(
        (PendingDeployment.user_id == user.id) | (PendingDeployment.created_at < now - timedelta(hours=PENDING_HOURS))))
    report = {**verdict.report(), "diff": versions.semantic_diff(active.bpmn_xml, active.forms, xml, forms),
              "uploaded_forms": uploaded}
    pending = PendingDeployment(token=secrets.token_urlsafe(32), user_id=user.id, filename=filename, bpmn_xml=xml,
                                forms=forms, created_at=now, report=report)
    db.session.add(pending)
    return pending


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
    verdict = gate.Verdict.from_report(pending.filename, pending.report)
    return render_template("owners/admin/essai.html", pending=pending, report=pending.report, active=active,
                           names=versions.element_names(active) if active else {}, types=versions.ELEMENT_TYPES,
                           blocking=verdict.blocking_lines(), differing=[s["nom"] for s in verdict.differing])


@bp.route("/essai/<token>/deployer", methods=["POST"])
@roles_required(*access.ADMINS)
def confirm(token):
    """Deploy a pending upload as a new active version, with the owner's comment."""
    pending = _pending(token)
    comment = (request.form.get("commentaire") or "").strip()[:2000]
    if not comment:
        flash("Indiquez en commentaire ce que change cette version.", "erreur")
        return redirect(url_for("deploys.report", token=pending.token)), 303
    verdict = gate.Verdict.from_report(pending.filename, pending.report)
    active = gate.current_active()
    if active is not None and verdict.active_id != active.id:
        # Another version became active since the dry run: compare again, and let the owner read it again.
        pending.report = {**pending.report, **gate.examine(pending.bpmn_xml, pending.forms, pending.filename,
                                                           active).report(),
                          "diff": versions.semantic_diff(active.bpmn_xml, active.forms, pending.bpmn_xml,
                                                         pending.forms)}
        db.session.commit()
        flash(f"La version active a changé depuis l'essai (c'est maintenant la version {active.id}) : l'essai a "
              "été refait, relisez-le avant de déployer.", "erreur")
        return redirect(url_for("deploys.report", token=pending.token)), 303
    try:
        definition = gate.deploy(pending.bpmn_xml, pending.forms, pending.filename, current_user().email, comment,
                                 request.form.getlist("accepter"), verdict)
    except ValidationFailed as exc:
        return _refuse(exc.filename, exc.lines, exc.problems)
    except gate.GateRefused as exc:
        if _wants_json():
            return jsonify(erreur="Version non déployée.", raisons=exc.lines), 422
        flash("Rien n'a été déployé :", "erreur")
        for line in exc.lines:
            flash(line[:1].upper() + line[1:] + ".", "erreur")
        return redirect(url_for("deploys.report", token=pending.token)), 303
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
