"""CSRF (Flask-WTF), login sessions (Flask-Login), security headers, request limits and French error
pages (never a stack trace)."""
from __future__ import annotations

from datetime import timedelta

import flask_login
from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, SecurityError, default_exceptions

from engine.errors import EngineError
from models import db
from web.auth.login_sessions import login_manager

csrf = CSRFProtect()
RESCUED_MESSAGE = ("Le jeton de sécurité du formulaire avait expiré : rien n'a été validé, mais votre saisie est "
                   "conservée ci-dessous. Vérifiez-la puis validez de nouveau.")
SESSION_ENDED_KEPT = ("Votre session a pris fin : reconnectez-vous. Votre saisie est conservée et vous sera rendue "
                      "après la connexion.")
CSRF_MESSAGE = ("Le formulaire a expiré ou ne provient pas de ce site (jeton de sécurité absent ou invalide). "
                "Rechargez la page et recommencez.")
# Assets may be cached; every other response may carry personal data and is never stored.
CACHEABLE_ENDPOINTS = {"static", "vendor"}
# The database is unreachable, restarting, or did not answer in time (statement or lock timeout, no free
# connection): the request may succeed in a moment, so 503 with Retry-After, never a 500.
UNAVAILABLE = (OperationalError, InterfaceError, PendingRollbackError, PoolTimeout)
UNAVAILABLE_MESSAGE = ("La base de données ne répond pas pour le moment : rien n'a été enregistré par cette "
                       "requête. Réessayez dans quelques instants.")
RETRY_AFTER_S = 5

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
API_PREFIX = "/api/"

MESSAGES = {
    400: ("Requête invalide", "La requête n'a pas pu être traitée. Rechargez la page et recommencez."),
    401: ("Connexion nécessaire", "Connectez-vous pour accéder à cette page."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page ou à ce dossier avec votre rôle."),
    404: ("Page introuvable", "La page ou le dossier demandé n'existe pas."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible de cette manière."),
    409: ("Conflit", "Le dossier a été modifié entre-temps. Rechargez la page pour voir son état actuel."),
    413: ("Envoi trop volumineux", "Les données envoyées sont trop volumineuses."),
    422: ("Données invalides", "Les données envoyées ne sont pas valides."),
    429: ("Trop de tentatives", "Trop de tentatives : patientez avant de recommencer."),
    500: ("Erreur interne", "Une erreur inattendue est survenue. L'équipe d'exploitation a été informée ; "
                            "réessayez plus tard."),
    502: ("Service indisponible", "Un service nécessaire au traitement n'a pas répondu. Réessayez plus tard."),
    503: ("Service indisponible", "Le service est momentanément indisponible."),
}

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def _fresh_request_state():
    """Forget what Flask-Login and Flask-WTF cached in `g`: in tests an app context (and its `g`)
    outlives a request, and the user or token of the previous request must not leak into this one."""
    g.pop("_login_user", None)
    g.pop("csrf_token", None)


def _refuse_nul():
    """A NUL character in the address, the query or a form field is refused (400) before any view:
    no text field can hold one, and PostgreSQL refuses it in a query parameter."""
    texts = [request.path, *request.args.keys(), *request.args.values()]
    if request.method in UNSAFE_METHODS:
        texts += [*request.form.keys(), *request.form.values()]
    if any("\x00" in text for text in texts):
        return error_response(400, "La requête contient un caractère nul (\\0), qui n'est admis dans aucun champ.")
    return None


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


UNKNOWN_HOST = "Adresse inconnue : cette plateforme ne répond que sur son adresse publique.\n"


def _refuse_unknown_host():
    """A Host outside TRUSTED_HOSTS (PUBLIC_URL's host): 400 at once, before any session, form or link work."""
    if isinstance(request.routing_exception, SecurityError):
        return current_app.response_class(UNKNOWN_HOST, status=400, mimetype="text/plain")
    return None


def wants_json() -> bool:
    """True for API callers (JSON accepted and preferred over HTML)."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.path.startswith("/api/") or (best == "application/json"
                                                and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"])


def is_api() -> bool:
    """True for the JSON API's addresses, whose errors are RFC 9457 problem details."""
    return request.path == API_PREFIX.rstrip("/") or request.path.startswith(API_PREFIX)


def problem(status: int, detail: str | None = None, errors: dict | None = None, headers: dict | None = None):
    """An RFC 9457 problem details response (`application/problem+json`), French title and detail;
    `errors` maps fields to the same French messages as the HTML forms (422)."""
    title, message = MESSAGES.get(status, MESSAGES[500] if status >= 500 else MESSAGES[400])
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail or message,
            "instance": request.path}
    if errors is not None:
        body["errors"] = [{"field": field, "detail": text} for field, text in sorted(errors.items())]
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(status: int, detail: str | None = None, headers: dict | None = None):
    """A French error page (problem details on the API, JSON for other programs) with the given status."""
    title, message = MESSAGES.get(status, MESSAGES[500] if status >= 500 else MESSAGES[400])
    if is_api():
        return problem(status, detail, headers=headers)
    if wants_json():
        return jsonify({"erreur": title, "message": detail or message, "statut": status}), status
    return render_template("errors/error.html", status=status, title=title, message=detail or message), status


def init_app(app):
    """Install the CSRF check, the security headers and the error handlers."""
    # Secure cookies everywhere but in tests and the debug server (SECURE_COOKIES overrides).
    secure = app.config.get("SECURE_COOKIES")
    app.config["SESSION_COOKIE_SECURE"] = bool(secure if secure is not None
                                               else not (app.config.get("TESTING") or app.debug))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config.get("SESSION_HOURS", 8))
    app.config.setdefault("WTF_CSRF_ENABLED", app.config.get("CSRF_ENABLED", True))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    app.before_request(_refuse_unknown_host)
    app.before_request(_fresh_request_state)
    app.before_request(_refuse_nul)
    csrf.init_app(app)  # its check runs after the NUL check; templates keep calling csrf_token()
    login_manager.init_app(app, add_context_processor=False)  # templates call current_user() (web.auth)
    app.after_request(_headers)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        kept = _rescue(csrf_failed=True)
        if kept and not wants_json():
            if current_user_id() is None:
                return redirect(url_for("auth.login", next=kept, conservee=1))
            flash(RESCUED_MESSAGE, "avertissement")
            return redirect(kept)
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        if isinstance(getattr(exc, "original_exception", None), UNAVAILABLE):
            return unavailable()  # raised outside the view (a response hook): still the database's 503
        if exc.code == 413:
            return too_large()
        if exc.code == 401 and is_api():
            return error_response(401, exc.description if getattr(exc, "french", False) else None)
        if exc.code == 401:
            kept = _rescue()  # a form posted after the session ended: its values wait in the owner's draft
            if wants_json():
                return error_response(401, SESSION_ENDED_KEPT if kept else None)
            if kept:
                return redirect(url_for("auth.login", next=kept, conservee=1))
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        detail = exc.description if getattr(exc, "french", False) else None
        # 405 keeps its Allow header (RFC 9110); the API's 401 gets WWW-Authenticate in problem().
        allow = dict(exc.get_headers()).get("Allow") if exc.code == 405 else None
        return error_response(exc.code or 500, detail, headers={"Allow": allow} if allow else None)

    @app.errorhandler(EngineError)
    def engine_error(exc):
        return error_response(exc.status, exc.message)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PendingRollbackError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc):
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path,
                           str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return unavailable()

    @app.errorhandler(Exception)
    def unexpected(exc):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)


def unavailable():
    """The 503 answer when the database failed: the session's transaction is dropped and the page is drawn
    as for an anonymous visitor (the header would otherwise load the user again, from the database that
    just failed); Retry-After on every kind of answer."""
    try:
        db.session.rollback()
    except Exception:  # a dead connection may fail even to roll back: the pool replaces it next time
        db.session.remove()
    g._login_user = login_manager.anonymous_user()
    response = current_app.make_response(error_response(503, UNAVAILABLE_MESSAGE))
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _rescue(csrf_failed: bool = False) -> str | None:
    """Keep a refused form's values (the registered `form_rescue`, web/declaration/drafts.py); its address, or None."""
    rescue = current_app.extensions.get("form_rescue")
    try:
        return rescue(csrf_failed) if rescue is not None else None
    except Exception:  # keeping a copy must never turn a clear refusal into a 500
        current_app.logger.exception("form rescue failed on %s", request.path)
        return None


def current_user_id():
    """The logged-in user's id, or None (without importing web.auth, which imports this module)."""
    user = flask_login.current_user
    return user.id if user is not None and user.is_authenticated else None


def too_large():
    """The 413 answer: a request larger than MAX_CONTENT_LENGTH, or a form field or part count over the
    form limits, refused before it is read."""
    limit, field = request.max_content_length or 0, request.max_form_memory_size or 0
    return error_response(413, f"Les données envoyées sont trop volumineuses (au plus {limit // 1024} Kio par "
                               f"envoi et {field // 1024} Kio par champ).")


def french_abort(status: int, message: str):
    """Abort with a French message shown on the error page."""
    exc = default_exceptions[status](description=message)
    exc.french = True
    raise exc
