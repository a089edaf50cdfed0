"""Administration of structures and accounts (administrator), and the password-link pages (everyone).

Every change goes through `accounts/` (checks in French, journaled in the chained account journal);
a deactivated account's sessions end at once; a password link is single-use and expires.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from accounts import finess, journal, passwords, structures, users
from models import AccountEvent, PasswordLink, Structure, User, db
from referentiel import REGIONS, ROLES, STRUCTURE_KINDS, plural
from timekeeping.clock import app_now
from web.casework.inbox import forget_structure_choices
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort

bp = Blueprint("accounts", __name__)
PAGE = 50
MAX_IMPORT_BYTES = 900 * 1024   # under MAX_CONTENT_LENGTH; a whole national extract goes through the CLI


def _actor() -> str:
    return current_user().email


def _get(model, ident: int):
    row = db.session.get(model, ident)
    if row is None:
        french_abort(404, "Cette page n'existe pas.")
    return row


def _commit_or_conflict() -> bool:
    """Commit; a concurrent change of the same rows (or of the journal's tip) is refused, never a 500."""
    try:
        db.session.commit()
        forget_structure_choices()  # a new or renamed structure is offered at once in this process's inboxes
        return True
    except IntegrityError:
        db.session.rollback()
        flash("Une autre modification a été enregistrée au même moment : rechargez la page et recommencez.", "erreur")
        return False


@bp.route("/admin/structures")
@roles_required("admin")
def structure_list():
    """Structures, searchable by name, FINESS, town or région."""
    query = (request.args.get("q") or "").strip()[:100]
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    stmt = select(Structure)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(Structure.name).like(like), Structure.finess_et.like(like.upper()),
                              Structure.finess_ej.like(like.upper()), func.lower(Structure.city).like(like),
                              func.lower(Structure.region).like(like)))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(Structure.name).limit(PAGE).offset((page - 1) * PAGE)).all()
    return render_template("administration/accounts/structures.html", rows=rows, total=total, query=query, page=page,
                           pages=max(1, -(-total // PAGE)), kinds=STRUCTURE_KINDS, plural=plural)


@bp.route("/admin/structures/nouvelle", methods=["GET", "POST"])
@bp.route("/admin/structures/<int:structure_id>", methods=["GET", "POST"])
@roles_required("admin")
def structure_edit(structure_id: int | None = None):
    """Create or change a structure (FINESS EJ/ET with their keys; the région follows the département)."""
    structure = _get(Structure, structure_id) if structure_id else None
    errors, values = {}, request.form if request.method == "POST" else None
    if request.method == "POST":
        saved, errors = structures.save(request.form, _actor(), structure)
        if not errors and _commit_or_conflict():
            flash("Structure enregistrée.", "succes")
            return redirect(url_for("accounts.structure_edit", structure_id=saved.id))
    history = journal.history("structure", structure.id) if structure else []
    return render_template("administration/accounts/structure.html", structure=structure, errors=errors, values=values,
                           kinds=STRUCTURE_KINDS, history=history), (422 if errors else 200)


@bp.route("/admin/structures/<int:structure_id>/etat", methods=["POST"])
@roles_required("admin")
def structure_state(structure_id: int):
    """Close or reopen a structure."""
    structure = _get(Structure, structure_id)
    structures.set_active(structure, request.form.get("actif") == "1", _actor())
    if _commit_or_conflict():
        flash("Structure rouverte." if structure.active else "Structure fermée : elle n'est plus proposée.", "succes")
    return redirect(url_for("accounts.structure_edit", structure_id=structure.id))


@bp.route("/admin/structures/import", methods=["POST"])
@roles_required("admin")
def structure_import():
    """Import a FINESS extract (the published semicolon-separated layout)."""
    upload = request.files.get("fichier")
    raw = upload.read(MAX_IMPORT_BYTES + 1) if upload else b""
    if not raw:
        flash("Choisissez le fichier de l'extraction FINESS.", "erreur")
        return redirect(url_for("accounts.structure_list")), 303
    if len(raw) > MAX_IMPORT_BYTES:
        flash("Fichier trop volumineux pour la page (900 Kio au plus) : importez l'extraction complète avec "
              "la commande « flask comptes import-finess ».", "erreur")
        return redirect(url_for("accounts.structure_list")), 303
    report = finess.import_extract(raw, _actor())
    if not _commit_or_conflict():
        return redirect(url_for("accounts.structure_list")), 303
    return render_template("administration/accounts/import.html", report=report, plural=plural)


@bp.route("/admin/comptes")
@roles_required("admin")
def user_list():
    """Accounts with their role, scope and state."""
    query = (request.args.get("q") or "").strip()[:100]
    stmt = select(User)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    rows = db.session.scalars(stmt.order_by(User.role, User.name).limit(500)).all()
    names = {s.id: s.name for s in db.session.scalars(select(Structure).where(
        Structure.id.in_({u.structure_id for u in rows if u.structure_id})))}
    return render_template("administration/accounts/users.html", rows=rows, roles=ROLES, structures=names, query=query)


@bp.route("/admin/comptes/nouveau", methods=["GET", "POST"])
@bp.route("/admin/comptes/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def user_edit(user_id: int | None = None):
    """Create an account (an invitation link is mailed) or change one (role or scope change ends its sessions)."""
    user = _get(User, user_id) if user_id else None
    errors, values = {}, request.form if request.method == "POST" else None
    if request.method == "POST":
        saved, errors = users.save(request.form, _actor(), user)
        if not errors:
            if user is None:
                passwords.issue(saved, "invitation", _actor(), current_app.config["MAIL_DOMAIN"])
            if _commit_or_conflict():
                flash("Compte créé : un lien pour choisir son mot de passe lui a été envoyé." if user is None
                      else "Compte enregistré.", "succes")
                return redirect(url_for("accounts.user_edit", user_id=saved.id))
    choices = db.session.execute(select(Structure.id, Structure.name, Structure.finess_et)
                                 .where(Structure.active).order_by(Structure.name)).all()
    history = journal.history("user", user.id) if user else []
    return render_template("administration/accounts/user.html", user=user, errors=errors, values=values, roles=ROLES,
                           region_options=[(region, region) for region in REGIONS],
                           structure_options=[(row.id, f"{row.name} ({row.finess_et})") for row in choices],
                           history=history), (422 if errors else 200)


@bp.route("/admin/comptes/<int:user_id>/etat", methods=["POST"])
@roles_required("admin")
def user_state(user_id: int):
    """Deactivate (sessions end at once) or re-activate an account; an administrator cannot lock themself out."""
    user = _get(User, user_id)
    active = request.form.get("actif") == "1"
    if not active and user.id == current_user().id:
        flash("Vous ne pouvez pas désactiver votre propre compte.", "erreur")
        return redirect(url_for("accounts.user_edit", user_id=user.id)), 303
    users.set_active(user, active, _actor())
    if _commit_or_conflict():
        flash("Compte réactivé." if active else "Compte désactivé : ses sessions sont terminées.", "succes")
    return redirect(url_for("accounts.user_edit", user_id=user.id)), 303


@bp.route("/admin/comptes/<int:user_id>/lien", methods=["POST"])
@roles_required("admin")
def user_link(user_id: int):
    """Mail a password-reset link to an account."""
    user = _get(User, user_id)
    if not user.active:
        flash("Réactivez d'abord ce compte.", "erreur")
    else:
        passwords.issue(user, "reinitialisation", _actor(), current_app.config["MAIL_DOMAIN"])
        if _commit_or_conflict():
            flash(f"Lien de réinitialisation envoyé à {user.email}.", "succes")
    return redirect(url_for("accounts.user_edit", user_id=user.id)), 303


@bp.route("/admin/journal-des-comptes")
@roles_required("admin")
def account_journal():
    """The latest changes to structures and accounts, and whether the chain is intact."""
    rows = db.session.scalars(select(AccountEvent).order_by(AccountEvent.id.desc()).limit(200)).all()
    return render_template("administration/accounts/journal.html", rows=rows, problems=journal.verify())


@bp.route("/mot-de-passe/<token>", methods=["GET", "POST"])
def set_password(token: str):
    """Choose a password through an invitation or reset link (single use, expiring)."""
    link = passwords.pending(token)
    if link is None:
        return render_template("administration/accounts/password.html", invalid=True), 410
    error = None
    if request.method == "POST":
        if request.form.get("password") != request.form.get("confirmation"):
            error = "Les deux saisies ne sont pas identiques."
        else:
            user, error = passwords.use(token, request.form.get("password") or "")
            if user is not None:
                db.session.commit()
                flash("Mot de passe enregistré : vous pouvez vous connecter.", "succes")
                return redirect(url_for("auth.login")), 303
    return render_template("administration/accounts/password.html", invalid=False, error=error,
                           purpose=link.purpose), (422 if error else 200)


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
def forgotten():
    """Ask for a reset link; the answer is the same whether the address is known or not (no enumeration)."""
    if request.method == "POST":
        email = (request.form.get("email") or "").strip().lower()[:255]
        user = db.session.scalar(select(User).where(func.lower(User.email) == email, User.active))
        if user is not None and _recent_link(user) is None:
            passwords.issue(user, "reinitialisation", user.email, current_app.config["MAIL_DOMAIN"])
            _commit_or_conflict()
        return render_template("administration/accounts/forgotten.html", sent=True)
    return render_template("administration/accounts/forgotten.html", sent=False)


def _recent_link(user: User):
    """A link issued to the account in the last five minutes (one request per five minutes at most)."""
    return db.session.scalar(select(PasswordLink.id).where(PasswordLink.user_id == user.id,
                                                           PasswordLink.created_at > app_now() - timedelta(minutes=5)))
