"""Authentication and authorization: login with throttling, logout, and the decorators every blueprint uses."""
from __future__ import annotations

from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from flask import Blueprint, abort, flash, has_request_context, redirect, render_template, request, session, url_for

from models import User, db
from timekeeping.clock import app_now

bp = Blueprint("auth", __name__)
_hasher = PasswordHasher()

MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
# Verified against when the e-mail is unknown, so a wrong address costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("compte-inexistant")


def current_user() -> User | None:
    """The logged-in user, or None."""
    if not has_request_context():
        return None
    # Cached per request (not in `g`, which outlives a request when an app context is already pushed).
    environ = request.environ
    if "signalement.user" not in environ:
        user_id = session.get("user_id")
        user = db.session.get(User, user_id) if user_id else None
        environ["signalement.user"] = user if user is not None and user.active else None
    return environ["signalement.user"]


def login_required(view):
    """Refuse anonymous access (401; pages then redirect to the login form)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            abort(401)
        return view(*args, **kwargs)
    return wrapped


def roles_required(*roles):
    """Refuse users whose role is not one of `roles` (403)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                abort(401)
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)



def _safe_next(target: str | None) -> str | None:
    """Only local paths are followed after login (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: User) -> str:
    """Where a user lands after login."""
    if user.role in ("auditeur",):
        return url_for("dossiers.index")
    if user.role in ("admin", "responsable_processus"):
        return url_for("admin.index")
    return url_for("inbox.index")


def check_credentials(email: str, password: str) -> tuple[User | None, str | None]:
    """Check a login attempt with throttling; return (user, None) or (None, French message)."""
    now = app_now()
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    generic = "Adresse électronique ou mot de passe incorrect."
    if user is None or not user.active:
        try:
            _hasher.verify(_DUMMY_HASH, password or "-")
        except VerificationError:
            pass
        return None, generic
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        return None, (f"Trop de tentatives infructueuses : le compte est temporairement bloqué. "
                      f"Réessayez dans {minutes} minute(s).")
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            db.session.commit()
            return None, (f"Trop de tentatives infructueuses : le compte est bloqué pendant {LOCK_MINUTES} minutes.")
        db.session.commit()
        return None, generic
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    db.session.commit()
    return user, None


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    """The login form."""
    error = None
    email = ""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "POST":
        email = request.form.get("email", "")
        user, error = check_credentials(email, request.form.get("password", ""))
        if user is not None:
            csrf = session.get("csrf")
            session.clear()  # a fresh session on login: no fixation
            if csrf:
                session["csrf"] = csrf
            session["user_id"] = user.id
            session.permanent = True
            request.environ.pop("signalement.user", None)
            flash(f"Bienvenue, {user.name}.", "succes")
            return redirect(next_url or home_for(user))
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, email=email, next_url=next_url), status


@bp.route("/deconnexion", methods=["POST"])
def logout():
    """Log out (POST only, protected by the CSRF token)."""
    session.clear()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
def home():
    """Entry point: the login form or the user's landing page."""
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    return redirect(home_for(user))
