"""The journal of a dossier on its fiche de suivi (notes, attachments, indicators, links), the attachment
download, and the search of dossiers by indicator.

Every route reads the dossier through web/access.py (the same 404 for a missing or foreign dossier) and
writes through the cases/ services, whose events extend the dossier's audit chain. Attachments are only
ever served as downloads with a safe type, `nosniff` and a sandboxing CSP: never rendered inline.
"""
from __future__ import annotations

import functools

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import select

from cases import attachments, journal, links, observables
from engine.errors import EngineError
from models import Dossier, JournalEntry, Observable, User, db
from referentiel import OBSERVABLE_KINDS
from web import access
from web.auth.login import current_user, login_required
from web.auth.security import french_abort
from web.casework.dossiers import render_fiche

bp = Blueprint("journal", __name__)
UPLOAD_ENDPOINT = "journal.add_attachment"
DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
SEARCH_LIMIT = 200


@bp.record_once
def _install_upload_limit(state):
    # Flask-WTF's CSRF check reads the form before any view: the upload route's larger limit must be
    # set before it, so this runs first among the application's before_request functions.
    state.app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)


def _upload_limit():
    if request.endpoint == UPLOAD_ENDPOINT:
        request.max_content_length = attachments.max_bytes() + 256 * 1024


def writable_dossier(user: User, dossier_id: int) -> Dossier:
    """The dossier, if the user may write in its journal (404 if they cannot read it, else 403); pages and API."""
    dossier = access.readable_dossier(user, dossier_id)
    if not access.can_write_journal(user, dossier):
        french_abort(403, "Votre rôle permet de consulter ce dossier, pas d'écrire dans son journal.")
    return dossier


def _writable(dossier_id: int) -> tuple[User, Dossier]:
    """The logged-in user and the dossier, if they may write in its journal."""
    user = current_user()
    return user, writable_dossier(user, dossier_id)


def _back(dossier: Dossier, message: str):
    flash(message, "succes")
    return redirect(url_for("dossiers.show", dossier_id=dossier.id, _anchor="journal"), 303)


# The text fields each journal form sends back: what was typed is shown again beside the error.
KEPT_FIELDS = {"note": ("type", "texte"), "piece": ("commentaire",), "indicateur": ("type", "valeur", "commentaire"),
               "lien": ("numero", "motif")}


def answered_on_the_fiche(form: str):
    """A journal form's refusal (EngineError 4xx) is the fiche again, with the error next to that form and what
    was typed kept, under the refusal's status; never a bare error page."""
    def wrap(view):
        @functools.wraps(view)
        def answer(dossier_id):
            try:
                return view(dossier_id)
            except EngineError as exc:
                if exc.status >= 500:
                    raise
                db.session.rollback()
                user, dossier = _writable(dossier_id)
                kept = {name: request.form.get(name, "") for name in KEPT_FIELDS[form]}
                return render_fiche(dossier, user, {"form": form, "error": exc.message, "values": kept},
                                    exc.status)
        return answer
    return wrap


@bp.route("/dossiers/<int:dossier_id>/journal/notes", methods=["POST"])
@login_required
@answered_on_the_fiche("note")
def add_note(dossier_id):
    """Add a note (note, appel, courriel, décision)."""
    user, dossier = _writable(dossier_id)
    journal.add_note(dossier, user=user, kind=request.form.get("type", "note"), text=request.form.get("texte", ""))
    return _back(dossier, "Note ajoutée au journal du dossier.")


@bp.route("/dossiers/<int:dossier_id>/journal/pieces", methods=["POST"])
@login_required
@answered_on_the_fiche("piece")
def add_attachment(dossier_id):
    """Attach a file (size limit, type from content)."""
    user, dossier = _writable(dossier_id)
    upload = request.files.get("fichier")
    if upload is None or not upload.filename:
        raise EngineError("Choisissez un fichier à joindre.", 400)
    entry = journal.add_attachment(dossier, user=user, stream=upload.stream, filename=upload.filename,
                                   comment=request.form.get("commentaire", ""))
    return _back(dossier, f"Pièce jointe « {entry.file_name} » ajoutée au journal du dossier.")


@bp.route("/dossiers/<int:dossier_id>/journal/indicateurs", methods=["POST"])
@login_required
@answered_on_the_fiche("indicateur")
def add_observable(dossier_id):
    """Add an indicator (validated and normalized for its kind)."""
    user, dossier = _writable(dossier_id)
    if not access.sees_internal_work(user):  # declarants give theirs in the declaration form
        french_abort(403, "Les indicateurs se déclarent dans le formulaire de déclaration.")
    kind = request.form.get("type", "")
    if kind not in OBSERVABLE_KINDS:
        raise EngineError("Choisissez le type de l'indicateur.", 422)
    row = observables.add(dossier, kind, request.form.get("valeur", ""), user=user,
                          source="analyste",
                          comment=request.form.get("commentaire", ""))
    return _back(dossier, f"Indicateur « {row.normalized} » enregistré.")


@bp.route("/dossiers/<int:dossier_id>/journal/liens", methods=["POST"])
@login_required
@answered_on_the_fiche("lien")
def add_link(dossier_id):
    """Link this dossier to another one the user also reads."""
    user, dossier = _writable(dossier_id)
    number = request.form.get("numero", "").strip().upper()[:32]
    other = db.session.scalar(select(Dossier).where(Dossier.number == number, access.dossier_filter(user)))
    if other is None:
        raise EngineError("Dossier à lier introuvable ou hors de votre périmètre.", 404)
    links.add_link(dossier, other, user=user, reason=request.form.get("motif", ""))
    return _back(dossier, f"Dossier lié à {other.number}.")


@bp.route("/dossiers/<int:dossier_id>/journal/retirer", methods=["POST"])
@login_required
def remove(dossier_id):
    """Mark a note, attachment, indicator or link « retiré » (a new event of the chain, never a delete)."""
    user, dossier = _writable(dossier_id)
    target, reason = request.form.get("cible"), request.form.get("motif", "")
    try:
        ident = int(request.form.get("id", ""))
    except ValueError:
        ident = 0
    if not 0 < ident < 2**31:  # an INTEGER column: anything else names no row (and PostgreSQL would refuse it)
        raise EngineError("Élément à retirer invalide.", 400)
    if target == "entree":
        entry = db.session.scalar(select(JournalEntry).where(JournalEntry.id == ident,
                                                             JournalEntry.dossier_id == dossier.id,
                                                             access.journal_entry_filter(user)))
        if entry is None:
            french_abort(404, access.NOT_FOUND)
        journal.remove_entry(entry, user=user, reason=reason)
    elif target == "observable":
        row = db.session.scalar(select(Observable).where(Observable.id == ident, Observable.dossier_id == dossier.id,
                                                         access.observable_filter(user)))
        if row is None:
            french_abort(404, access.NOT_FOUND)
        observables.remove(row, user=user, reason=reason)
    elif target == "lien" and access.sees_links(user):
        link = next((l for l, _ in links.links_of(dossier, access.dossier_filter(user)) if l.id == ident), None)
        if link is None:
            french_abort(404, access.NOT_FOUND)
        links.remove_link(link, user=user)
    else:
        raise EngineError("Élément à retirer invalide.", 400)
    return _back(dossier, "Élément retiré du journal (il reste dans l'historique du dossier).")


@bp.route("/dossiers/<int:dossier_id>/pieces/<int:entry_id>")
@login_required
def download(dossier_id, entry_id):
    """Download an attachment: always as a file, with a safe type and no inline rendering."""
    user = current_user()
    dossier = access.readable_dossier(user, dossier_id)
    entry = db.session.scalar(select(JournalEntry).where(
        JournalEntry.id == entry_id, JournalEntry.dossier_id == dossier.id, JournalEntry.kind == "piece_jointe",
        JournalEntry.removed_at.is_(None), access.journal_entry_filter(user)))
    if entry is None:
        french_abort(404, access.NOT_FOUND)
    path = attachments.path_of(entry.file_sha256)
    if not path.is_file():
        french_abort(404, "Le fichier de cette pièce jointe est introuvable sur le serveur.")
    mimetype = entry.file_type if any(entry.file_type == t for t, _ in attachments.ALLOWED.values()) \
        else attachments.OCTET_STREAM
    response = send_file(path, mimetype=mimetype, as_attachment=True, download_name=entry.file_name,
                         conditional=False, etag=False, max_age=0)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@bp.route("/indicateurs")
@login_required
def search():
    """Search the dossiers the user reads by indicator (normalized before matching)."""
    user = current_user()
    if not access.can_search_observables(user):
        french_abort(403, "La recherche par indicateur est réservée aux analystes.")
    value = request.args.get("valeur", "").strip()[:observables.MAX_INPUT]
    kind = request.args.get("type") if request.args.get("type") in OBSERVABLE_KINDS else None
    results, understood = [], []
    if value:
        understood = observables.candidates(value, kind)
        results = observables.search(value, visible=access.dossier_filter(user), kind=kind, limit=SEARCH_LIMIT)
    status = 422 if value and not understood else 200
    return render_template("casework/journal/search.html", value=value, kind=kind, kinds=OBSERVABLE_KINDS,
                           understood=understood, results=results, limit=SEARCH_LIMIT), status
