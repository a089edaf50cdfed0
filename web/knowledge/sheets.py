"""Reflex sheets and the provider directory of the Cellule ACSS (phase 4 task C).

The cell edits (each save of a sheet is a new version); the HFDS and the ARS read; a declarant reads
the sheet versions sent to one of its structure's dossiers, and nothing else here.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import exists, select

from knowledge import providers as directory
from knowledge import sheets as library
from knowledge.rendering import render_markdown
from models import Dossier, Provider, ReflexSheet, SheetDispatch, db
from referentiel import INCIDENT_TYPES, REGIONS, STRUCTURE_KINDS
from timekeeping.clock import app_now
from web import access
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort

bp = Blueprint("knowledge", __name__, url_prefix="/connaissances")
EDITORS = ("acss",)
READERS = ("acss", "hfds", "ars")
SHEET_FIELDS = ("title", "body")
LIST_FIELDS = ("incident_types", "structure_kinds", "audiences")
NOT_FOUND = "Cette fiche réflexe est introuvable ou hors de votre périmètre."


def _sheet_form() -> dict:
    fields = {name: request.form.get(name, "") for name in SHEET_FIELDS}
    fields.update({name: request.form.getlist(name) for name in LIST_FIELDS})
    return fields


def _labels() -> dict:
    return {"incident_types": INCIDENT_TYPES, "structure_kinds": STRUCTURE_KINDS, "audiences": library.AUDIENCES,
            "regions": REGIONS, "qualifications": directory.QUALIFICATIONS}


@bp.route("/fiches")
@roles_required(*READERS, "declarant")
def sheets():
    """The current sheets (for a declarant: the versions sent to its structure's dossiers)."""
    user = current_user()
    if user.role == "declarant":
        sent = (select(SheetDispatch.sheet_id).join(Dossier, Dossier.id == SheetDispatch.dossier_id)
                .where(access.dossier_filter(user)))
        listed = db.session.scalars(select(ReflexSheet).where(ReflexSheet.id.in_(sent))
                                    .order_by(ReflexSheet.title, ReflexSheet.version)).all()
    else:
        listed = library.current_sheets()
    return render_template("knowledge/sheets.html", sheets=listed, can_edit=user.role in EDITORS, **_labels())


def _readable_version(key: str, version: int | None) -> ReflexSheet:
    """The sheet version if the user may read it; the same 404 whether it is missing or not sent to them."""
    user = current_user()
    sheet = library.current_sheet(key) if version is None else library.sheet_version(key, version)
    if sheet is None:
        french_abort(404, NOT_FOUND)
    if user.role == "declarant":
        sent = db.session.scalar(select(exists().where(
            SheetDispatch.sheet_id == sheet.id, SheetDispatch.dossier_id == Dossier.id, access.dossier_filter(user))))
        if not sent:
            french_abort(404, NOT_FOUND)
    return sheet


@bp.route("/fiches/<key>")
@roles_required(*READERS)
def sheet(key):
    """The current version of a sheet."""
    return _show(_readable_version(key, None))


@bp.route("/fiches/<key>/v<int:version>")
@roles_required(*READERS, "declarant")
def sheet_version(key, version):
    """One version of a sheet (what a mail linked to)."""
    return _show(_readable_version(key, version))


def _show(sheet: ReflexSheet):
    user = current_user()
    versions = [] if user.role == "declarant" else db.session.execute(
        select(ReflexSheet.version, ReflexSheet.created_at, ReflexSheet.current).where(ReflexSheet.key == sheet.key)
        .order_by(ReflexSheet.version.desc())).all()
    return render_template("knowledge/sheet.html", sheet=sheet, html=render_markdown(sheet.body), versions=versions,
                           can_edit=user.role in EDITORS, **_labels())


@bp.route("/fiches/nouvelle", methods=["GET", "POST"])
@bp.route("/fiches/<key>/modifier", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit_sheet(key=None):
    """Create a sheet, or save the next version of one."""
    current = library.current_sheet(key) if key else None
    if key and current is None:
        french_abort(404, NOT_FOUND)
    values = _sheet_form() if request.method == "POST" else (
        {name: getattr(current, name) for name in SHEET_FIELDS + LIST_FIELDS} if current else
        {"title": "", "body": "", "incident_types": [], "structure_kinds": [], "audiences": []})
    errors = {}
    if request.method == "POST":
        try:
            saved = library.save_sheet(key, values, current_user(), app_now())
        except library.SheetError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            flash(f"Fiche réflexe enregistrée (version {saved.version}).", "succes")
            return redirect(url_for("knowledge.sheet", key=saved.key))
    status = 422 if errors else 200
    return render_template("knowledge/sheet_form.html", current=current, values=values, errors=errors,
                           preview=render_markdown(values.get("body", "")) if request.method == "POST" else "",
                           **_labels()), status


@bp.route("/prestataires")
@roles_required(*READERS)
def providers():
    """The directory, filtered by region and incident type when chosen."""
    region = request.args.get("region") if request.args.get("region") in REGIONS else ""
    kind = request.args.get("type") if request.args.get("type") in INCIDENT_TYPES else ""
    if region or kind:
        listed = directory.providers_for(region or None, [kind] if kind else [])
        if region:
            listed = [p for p in listed if not p.regions or region in p.regions]
    else:
        listed = directory.all_providers(active_only=current_user().role not in EDITORS)
    return render_template("knowledge/providers.html", providers=listed, chosen={"region": region, "type": kind},
                           can_edit=current_user().role in EDITORS, **_labels())


@bp.route("/prestataires/nouveau", methods=["GET", "POST"])
@bp.route("/prestataires/<int:provider_id>/modifier", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit_provider(provider_id=None):
    """Create or update a provider."""
    current = db.session.get(Provider, provider_id) if provider_id else None
    if provider_id and current is None:
        french_abort(404, "Ce prestataire est introuvable.")
    if request.method == "POST":
        values = {"name": request.form.get("name", ""), "qualification": request.form.get("qualification", ""),
                  "contact": request.form.get("contact", ""), "active": request.form.get("active") == "1",
                  "specialities": request.form.getlist("specialities"), "regions": request.form.getlist("regions")}
    elif current:
        values = {n: getattr(current, n) for n in ("name", "qualification", "contact", "active", "specialities",
                                                   "regions")}
    else:
        values = {"name": "", "qualification": "aucune", "contact": "", "active": True, "specialities": [],
                  "regions": []}
    errors = {}
    if request.method == "POST":
        try:
            directory.save_provider(provider_id, values, current_user(), app_now())
        except directory.ProviderError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            flash("Prestataire enregistré.", "succes")
            return redirect(url_for("knowledge.providers"))
    return render_template("knowledge/provider_form.html", current=current, values=values, errors=errors,
                           **_labels()), 422 if errors else 200
