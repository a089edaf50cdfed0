"""Web layer: one subpackage per audience (auth, declaration, casework, owners, administration, knowledge, audit)
and the JSON API (api/), over the shared visibility model (access.py) and form rendering (forms.py)."""
from pathlib import Path

from flask import abort, current_app, send_from_directory
from werkzeug.routing import IntegerConverter

from models import Structure, db
from referentiel import ROLES, plural
from web import (administration, api, audit, auth, casework, declaration, entered, knowledge, metrics, observability,
                 owners, read_pages)
from web.auth import security, sso
from web.auth.login import current_user
from web.cells import format_datetime, link_to, markers
from web.declaration import drafts

# One package per audience (DESIGN.md, « Layout »), each listing its blueprints; registered in this order.
AUDIENCES = (auth, administration, declaration, casework, owners, audit, knowledge)

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
VENDOR = {"bpmn-js": NODE_MODULES / "bpmn-js" / "dist", "chart.js": NODE_MODULES / "chart.js" / "dist"}

SEARCH = ("journal.search", "Recherche par indicateur")
# Navigation per role: (endpoint, label); endpoints that another blueprint has not defined yet are skipped.
NAVIGATION = {
    "declarant": [("declare.start", "Déclarer un incident"), ("inbox.index", "Mes tâches"),
                  ("dossiers.index", "Dossiers de ma structure"), ("knowledge.sheets", "Fiches réflexes reçues"),
                  ("retex.community", "Retours d'expérience")],
    "ars": [("inbox.index", "Mes tâches"), ("dossiers.index", "Dossiers de la région"), SEARCH,
            ("knowledge.sheets", "Fiches réflexes"), ("retex.index", "Retex"), ("signals.index", "Signaux faibles"),
            ("statistics.index", "Statistiques")],
    "acss": [("inbox.index", "Mes tâches"), ("dossiers.index", "Dossiers"), SEARCH, ("knowledge.sheets", "Fiches réflexes"),
             ("knowledge.providers", "Prestataires"), ("retex.index", "Retex"), ("signals.index", "Signaux faibles"),
             ("statistics.index", "Statistiques")],
    "hfds": [("inbox.index", "Mes tâches"), ("dossiers.index", "Dossiers"), SEARCH, ("knowledge.sheets", "Fiches réflexes"),
             ("retex.index", "Retex"), ("signals.index", "Signaux faibles"), ("statistics.index", "Statistiques")],
    "dgs": [("inbox.index", "Mes tâches"), ("dossiers.index", "Dossiers"), SEARCH],
    "armees": [("inbox.index", "Mes tâches"), ("dossiers.index", "Dossiers des hôpitaux des armées"), SEARCH],
    "auditeur": [("dossiers.index", "Dossiers"), ("audit.index", "Audit"), SEARCH],
    "responsable_processus": [("admin.index", "Administration"), ("versions.index", "Versions du processus"),
                              ("modeller.index", "Modeleur")],
    "admin": [("admin.index", "Administration"), ("versions.index", "Versions du processus"),
              ("accounts.user_list", "Comptes"), ("accounts.structure_list", "Structures"),
              ("outbox.index", "Messages sortants"), ("operations.index", "Exploitation")],
}
API_TOKENS = ("api_tokens.index", "Jetons d'API")  # every role: a token acts as its owner, within their scope


def nav_items(user) -> list:
    """Navigation links for a user's role (menus only: every route checks rights itself)."""
    return [(endpoint, label) for endpoint, label in NAVIGATION.get(user.role, []) + [API_TOKENS]
            if endpoint in current_app.view_functions]


def french_number(value) -> str:
    """An integer written the French way, thousands apart by a narrow no-break space: « 32 111 »."""
    return f"{value:,}".replace(",", "\u202f") if isinstance(value, int) else str(value)


class DatabaseId(IntegerConverter):
    """`<int:...>` in addresses, bounded by what an INTEGER column holds (PostgreSQL: 32 bits): a
    larger number is an unknown page (404), not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def init_app(app):
    """Register the blueprints, the security layer and the template helpers."""
    app.url_map.converters["int"] = DatabaseId  # before any route is added
    observability.init_app(app)  # first: its request id must exist before any check can answer early
    metrics.init_app(app)        # then the request timer and /metrics (its own access check)
    security.init_app(app)
    read_pages.init_app(app)  # after the security checks that answer early, before the login session is read
    sso.init_app(app)
    for audience in AUDIENCES:
        for blueprint in audience.BLUEPRINTS:
            app.register_blueprint(blueprint)
    app.extensions["form_rescue"] = drafts.rescue_post  # called by the 401 and CSRF handlers (web/auth/security.py)
    api.init_app(app)
    app.jinja_env.globals.update(
        current_user=current_user, nav_items=nav_items, role_label=lambda role: ROLES.get(role, role),
        user_structure=lambda user: db.session.get(Structure, user.structure_id) if user.structure_id else None,
        now=lambda: app.extensions["clock"].now(), markers=markers, link_to=link_to,
        context_list=entered.context_list)
    app.jinja_env.filters["dt"] = format_datetime
    app.jinja_env.filters["nombre"] = french_number  # {{ 32111|nombre }}: « 32 111 »
    app.jinja_env.filters["pluriel"] = plural  # {{ n|pluriel('dossier') }}: « 7 dossiers »
    app.jinja_env.globals.pop("config", None)  # Flask's default; secrets never enter a template context

    @app.route("/vendor/<package>/<path:filename>")
    def vendor(package, filename):
        """Front-end packages installed from the npm registry by the setup command (never committed)."""
        folder = VENDOR.get(package)
        if folder is None or not folder.is_dir():
            abort(404)
        return send_from_directory(folder, filename, max_age=86400)
