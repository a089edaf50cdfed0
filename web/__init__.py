"""Web layer: one subpackage per audience (auth, declaration, casework, owners, administration, knowledge, audit)
and the JSON API (api/), over the shared visibility model (access.py) and form rendering (forms.py)."""
import re
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import abort, current_app, send_from_directory, url_for
from markupsafe import Markup, escape
from werkzeug.routing import BaseConverter, IntegerConverter

from models import Structure, db
from referentiel import QUALIFICATIONS, ROLES, plural, priority_markers
from web import (administration, api, audit, auth, casework, declaration, entered, knowledge, metrics, observability,
                 owners, read_pages)
from web.auth import security, sso
from web.auth.login import current_user
from web.declaration import drafts

# One package per audience (DESIGN.md, « Layout »), each listing its blueprints; registered in this order.
AUDIENCES = (auth, administration, declaration, casework, owners, audit, knowledge)

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
VENDOR = {"bpmn-js": NODE_MODULES / "bpmn-js" / "dist", "chart.js": NODE_MODULES / "chart.js" / "dist"}
PARIS = ZoneInfo("Europe/Paris")

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


def format_datetime(value, with_time: bool = True) -> str:
    """An instant shown in Paris time, French style."""
    if value is None:
        return ""
    local = value.astimezone(PARIS)
    return local.strftime("%d/%m/%Y à %H:%M") if with_time else local.strftime("%d/%m/%Y")


SENTINEL_ID = 2_147_483_647  # the largest id an address takes (DatabaseId): never a real one in a pattern


def link_to(endpoint: str, argument: str):
    """A function value -> url_for(endpoint, **{argument: value}) for an address with one variable part (a
    number or a task's UUID), built with one url_for: a list of a hundred rows links each row without a hundred
    url_for calls. The value is percent-encoded as werkzeug's converters do."""
    prefix, _, suffix = url_for(endpoint, **{argument: SENTINEL_ID}).partition(str(SENTINEL_ID))
    encode = BaseConverter(current_app.url_map).to_url

    def link(value) -> str:
        text = str(value)  # a number or a UUID is written as it is; anything else as the converter quotes it
        return f"{prefix}{text if _UNRESERVED(text) else encode(value)}{suffix}"
    return link


# Characters that percent-encoding leaves as they are in any part of an address (RFC 3986's unreserved ones).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+").fullmatch


def french_number(value) -> str:
    """An integer written the French way, thousands apart by a narrow no-break space: « 32 111 »."""
    return f"{value:,}".replace(",", "\u202f") if isinstance(value, int) else str(value)


def dossier_markers(dossier) -> list:
    """A dossier's priority markers (referentiel.priority_markers) from its synced columns; the B3 decision
    is the analysts' work, not shown to declarants."""
    user = current_user()
    analyst = user is not None and user.role != "declarant"
    return priority_markers(bool(dossier.urgent_help), dossier.care_impact, bool(dossier.health_impact) and analyst,
                            bool(dossier.off_hours))


def markers(dossier, with_qualification: bool = False, empty: str = "") -> Markup:
    """A dossier's priority markers as a list in words (the colour only repeats them); `with_qualification` adds the
    qualification (the inbox shows it in its own column); `empty` is shown when there is no marker.

    A function rather than a Jinja macro: lists show it on each of their rows, and the few combinations of markers
    are written once per process (_marker_list)."""
    qualification = dossier.qualification if with_qualification else None
    return _marker_list(tuple(dossier_markers(dossier)), with_qualification, qualification, empty)


@lru_cache(maxsize=512)
def _marker_list(found: tuple, with_qualification: bool, qualification: str | None, empty: str) -> Markup:
    if not (found or with_qualification):
        return escape(empty)
    items = [f'<li class="etiquette etiquette-{escape(code)}">{escape(label)}</li>' for code, label in found]
    if with_qualification:
        items.append(f'<li class="etiquette etiquette-{escape(qualification or "aucune")}">'
                     f'{escape(QUALIFICATIONS.get(qualification, "Non qualifié"))}</li>')
    return Markup(f'<ul class="marqueurs" aria-label="Priorité du dossier">{"".join(items)}</ul>')


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
