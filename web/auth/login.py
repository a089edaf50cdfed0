"""Authentication and authorization: login with throttling, logout, and the decorators every blueprint uses."""
from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlsplit

import flask_login
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from flask import Blueprint, abort, flash, g, has_request_context, redirect, render_template, request, session, url_for

from models import User, db
from referentiel import plural
from timekeeping.clock import app_now
from web.auth import login_sessions
from web.auth import login_throttle as throttle
from web.auth.security import error_response, wants_json

bp = Blueprint("auth", __name__)
_hasher = PasswordHasher()

# Verified against when the e-mail is unknown or the account inactive: every path costs one verification.
_DUMMY_HASH = _hasher.hash("compte-inexistant")
# One answer for an unknown e-mail, a wrong password and a suspended account-and-address pair.
GENERIC_FAILURE = ("Adresse électronique ou mot de passe incorrect. Après plusieurs échecs, la connexion à ce "
                   "compte depuis ce poste est suspendue quelques minutes.")


class Throttled(Exception):
    """Too many failed logins from this client address: retry after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def current_user() -> User | None:
    """The logged-in user, or None."""
    if not has_request_context():
        return None
    # Flask-Login keeps the request's user in g once loaded: read it there (pages ask dozens of times).
    user = g.get("_login_user")
    if user is None:
        user = flask_login.current_user._get_current_object()
    # An account loaded by the login session (load_user checked it is active) is the logged-in user; asking it
    # is_authenticated would read it again from the database after each commit of the request.
    if isinstance(user, User):
        return user
    return user if user is not None and user.is_authenticated else None


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


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def check_credentials(email: str, password: str) -> User | None:
    """Check a login attempt under the throttle; the user, None, or Throttled for the client address.

    Every path runs exactly one argon2 verification; the pair (account, address) allows
    LOGIN_MAX_FAILURES attempts per window, claimed before the password is checked.
    """
    now = app_now()
    address, account = throttle.client_address(), (email or "").strip().lower()
    address_key = throttle.key("adresse", address)
    account_key, pair_key = throttle.key("compte", account), throttle.key("paire", account, address)
    delay = throttle.account_delay(throttle.count(account_key, now))
    if not throttle.claim(address_key, throttle.setting("LOGIN_IP_MAX_FAILURES"), now):
        db.session.commit()
        raise Throttled(throttle.retry_after(address_key, now))
    allowed = throttle.claim(pair_key, throttle.setting("LOGIN_MAX_FAILURES"), now)
    db.session.commit()  # the claims are counted before the password is checked, and nothing is held meanwhile
    if delay:
        time.sleep(delay)  # an account under attack from anywhere slows down; it is never refused
    user = db.session.scalar(select(User).where(func.lower(User.email) == account))
    known = user is not None and user.active
    verified = _verify(user.password_hash if known else _DUMMY_HASH, password)
    if verified and known and allowed:
        throttle.release(address_key)
        throttle.reset(pair_key)
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        db.session.commit()
        return user
    throttle.add_failure(account_key, now)
    db.session.commit()
    return None


def _throttled(exc: Throttled, email: str, next_url: str | None):
    message = (f"Trop de tentatives de connexion depuis cette adresse. Réessayez dans "
               f"{plural(max(1, -(-exc.retry_after // 60)), 'minute')}.")
    if wants_json():
        response, status = error_response(429, message)
    else:
        response = render_template("auth/login.html", error=message, email=email, next_url=next_url)
        status = 429
    return response, status, {"Retry-After": str(exc.retry_after)}


def start_session(user: User) -> None:
    """A fresh session on login (no fixation), recorded server-side; the CSRF token is kept."""
    login_sessions.revoke(session.get("_user_id"))
    csrf = session.get("csrf_token")
    session.clear()
    if csrf:
        session["csrf_token"] = csrf
    login_sessions.open_session(user)
    flask_login.login_user(user)
    session.permanent = True


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    """The login form."""
    error = None
    email = ""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            user = check_credentials(email, request.form.get("password", ""))
        except Throttled as exc:
            return _throttled(exc, email, next_url)
        if user is not None:
            start_session(user)
            flash(f"Bienvenue, {user.name}.", "succes")
            return redirect(next_url or home_for(user))
        error = GENERIC_FAILURE
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, email=email, next_url=next_url), status


@bp.route("/deconnexion", methods=["POST"])
def logout():
    """Log out (POST only, protected by the CSRF token): the server-side session ends too."""
    login_sessions.revoke(session.get("_user_id"))
    flask_login.logout_user()
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
