"""The observatory page and its exports (CSV, PDF) for the Cellule ACSS, the HFDS and the ARS (their region)."""
from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, Response, render_template, request

from knowledge import statistics, statistics_export
from referentiel import REGIONS, STRUCTURE_KINDS, slugify
from timekeeping.clock import app_now
from web import access
from web.auth.login import current_user, roles_required
from web.auth.security import french_abort

bp = Blueprint("statistics", __name__, url_prefix="/statistiques")
READERS = ("acss", "hfds", "ars")
MAX_YEARS = 10
FILTER_KEYS = ("annee", "du", "au", "region", "type_structure")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BadFilter(Exception):
    """A filter of the address that cannot be applied: its status and French message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        if not DATE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise BadFilter(400, f"La date « {raw[:20]} » n'est pas valide : utilisez le format AAAA-MM-JJ.") from None


def _period(today: date) -> tuple[date, date]:
    start, end = _date("du"), _date("au")
    if start or end:
        start, end = start or date(today.year, 1, 1), end or today
    else:
        raw = request.args.get("annee", "").strip() or str(today.year)
        if not (raw.isdigit() and len(raw) == 4 and 2000 <= int(raw) <= 2100):
            raise BadFilter(400, "L'année doit être un nombre entre 2000 et 2100.")
        start, end = date(int(raw), 1, 1), date(int(raw), 12, 31)
    if end < start:
        raise BadFilter(400, "La date de fin précède la date de début de la période.")
    if (end - start).days > MAX_YEARS * 366:
        raise BadFilter(400, f"La période ne peut dépasser {MAX_YEARS} ans.")
    return start, end


def filters_from_request(user) -> statistics.Filters:
    """The filters of the query string, checked; an ARS is held to its region (403 if another is asked)."""
    start, end = _period(app_now().astimezone(statistics.PARIS).date())
    region = request.args.get("region", "").strip() or None
    if user.role == "ars":
        if region is not None and region != user.region:
            raise BadFilter(403, f"Vos statistiques sont limitées à votre région ({user.region}).")
        region = user.region
    elif region is not None and region not in REGIONS:
        raise BadFilter(400, "Cette région n'existe pas.")
    kind = request.args.get("type_structure", "").strip() or None
    if kind is not None and kind not in STRUCTURE_KINDS:
        raise BadFilter(400, "Ce type de structure n'existe pas.")
    return statistics.Filters(start, end, region, kind)


def _report():
    """The report of the address's filters; a bad filter is a French 4xx (for the exports)."""
    user = current_user()
    try:
        return user, statistics.compute(access.dossier_filter(user), filters_from_request(user))
    except BadFilter as exc:
        french_abort(exc.status, exc.message)


def _filename(report: statistics.Report, extension: str) -> str:
    filters = report.filters
    parts = ["statistiques", f"{filters.start:%Y%m%d}-{filters.end:%Y%m%d}",
             slugify(filters.region or ""), filters.kind or ""]
    return "-".join(p for p in parts if p) + f".{extension}"


@bp.route("")
@roles_required(*READERS)
def index():
    """The observatory page: filters, figures and charts, each with its table."""
    user = current_user()
    try:
        report = statistics.compute(access.dossier_filter(user), filters_from_request(user))
    except BadFilter as exc:  # answered on the page, in French, with the filters as typed to correct them
        typed = {key: request.args.get(key, "")[:40] for key in FILTER_KEYS if request.args.get(key)}
        return render_template("knowledge/statistics/index.html", report=None, user=user, regions=REGIONS,
                               kinds=STRUCTURE_KINDS, number=statistics.french_number, query=typed,
                               error=exc.message), exc.status
    return render_template("knowledge/statistics/index.html", report=report, user=user, regions=REGIONS,
                           kinds=STRUCTURE_KINDS, number=statistics.french_number, query=_query())


def _query() -> dict:
    """The (already checked) filters to carry into the export links; nothing else from the address."""
    return {key: request.args[key].strip() for key in FILTER_KEYS if request.args.get(key, "").strip()}


@bp.route("/export.csv")
@roles_required(*READERS)
def export_csv():
    """Every figure of the page in one long-format CSV (UTF-8 with BOM, `;`)."""
    _user, report = _report()
    return Response(statistics_export.to_csv(report).encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{_filename(report, "csv")}"'})


@bp.route("/rapport.pdf")
@roles_required(*READERS)
def export_pdf():
    """The printable report of the page's figures."""
    user, report = _report()
    reader = f"{user.name} ({'ARS ' + user.region if user.role == 'ars' else user.role.upper()})"
    return Response(statistics_export.to_pdf(report, reader, app_now()), mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{_filename(report, "pdf")}"'})
