"""Observatory statistics over the dossiers a reader may see, in the spirit of the sector's annual report.

Every figure is computed over the dossiers matching the caller's visibility condition (web/access.py's
`dossier_filter`, passed in as SQL) and the filters; declarations count from their declaration date
(Paris time). Single-valued dimensions are SQL aggregates; months (local time), incident types and data
impacts (JSON lists) and working-hour durations are counted from the few columns they need.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Text, cast, func, or_, select

from knowledge.statistics_durations import spread, working_hours_between
from knowledge.statistics_facts import DATA_IMPACTS, ORIGINS
from models import Dossier, DossierFacts, Structure, db
from referentiel import CARE_IMPACTS, INCIDENT_TYPES, REGIONS, STRUCTURE_KINDS
from timekeeping.business_calendar import support_cell_calendar

PARIS = ZoneInfo("Europe/Paris")
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]
CARE_LABELS = {"aucun": "Aucun impact sur les soins", **{k: v[0].upper() + v[1:] for k, v in CARE_IMPACTS.items()}}
UNKNOWN = "Non renseigné"
CLOSED_STATES = ("clôturé", "en cours de déclaration")
COUNT = "Nombre de dossiers"


@dataclass(frozen=True)
class Filters:
    """What the reader asked for: a period of declaration dates (inclusive, Paris), a region, a kind."""

    start: date
    end: date
    region: str | None = None
    kind: str | None = None

    def label(self) -> str:
        """The filters in French, for titles and the report."""
        parts = [f"déclarations du {self.start:%d/%m/%Y} au {self.end:%d/%m/%Y}"]
        parts.append(f"région {self.region}" if self.region else "toutes régions")
        parts.append(STRUCTURE_KINDS[self.kind] if self.kind else "tous types de structure")
        return ", ".join(parts)


@dataclass
class Indicator:
    """One table of the report: rows of (code, label, values...) under `columns`; `chart` says how to draw it."""

    key: str
    title: str
    columns: list[str]
    rows: list[tuple] = field(default_factory=list)
    note: str = ""
    chart: str = "bar"          # bar | line | none
    unit: str = ""
    chart_columns: tuple = (0,)  # which value columns the chart draws

    def chart_data(self) -> dict:
        """What the page's script draws: the row labels and one series per charted column."""
        return {"type": self.chart, "unit": self.unit, "labels": [row[1] for row in self.rows],
                "series": [{"name": self.columns[i], "values": [row[2 + i] for row in self.rows]}
                           for i in self.chart_columns]}


@dataclass
class Report:
    """The observatory for one reader and one set of filters."""

    filters: Filters
    total: int
    indicators: list[Indicator]

    def indicator(self, key: str) -> Indicator:
        """The indicator with this key."""
        return next(i for i in self.indicators if i.key == key)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(timezone.utc)


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months, (year, month) = [], (start.year, start.month)
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _grouped(column, conditions, outer=None) -> dict:
    query = select(column, func.count()).select_from(Dossier)
    if outer is not None:
        query = query.outerjoin(*outer)
    return dict(db.session.execute(query.where(*conditions).group_by(column)).all())


def _per_month(conditions, filters: Filters) -> Indicator:
    if db.engine.dialect.name == "postgresql":  # counted by the database, in Paris months (its time zone data)
        month = func.date_trunc("month", func.timezone("Europe/Paris", Dossier.declared_at))
        counts = {(at.year, at.month): n for at, n in db.session.execute(
            select(month, func.count()).select_from(Dossier).where(*conditions).group_by(month))}
    else:  # SQLite knows no time zone: each declaration date is read and placed in its Paris month here
        counts = Counter((local.year, local.month) for local in (
            at.astimezone(PARIS) for at in db.session.scalars(select(Dossier.declared_at).where(*conditions))))
    rows = [(f"{y}-{m:02d}", f"{MONTHS[m - 1]} {y}", counts.get((y, m), 0)) for y, m in _months(filters.start, filters.end)]
    return Indicator("mois", "Déclarations par mois", [COUNT], rows, chart="line")


def _lists(column, conditions, *others, outer=None) -> list[tuple]:
    """(the JSON list of `column`, the `others`..., how many dossiers share them): the dossiers grouped by the
    list's stored text, so each distinct list is read and parsed once, not once per dossier."""
    stored = cast(column, Text)
    query = select(stored, *others, func.count()).select_from(Dossier)
    if outer is not None:
        query = query.outerjoin(*outer)
    return [(json.loads(text_) if text_ is not None else None, *rest)
            for text_, *rest in db.session.execute(query.where(*conditions).group_by(stored, *others))]


def _by_type(conditions) -> Indicator:
    counts = Counter()
    for types, n in _lists(Dossier.incident_types, conditions):
        counts.update(dict.fromkeys({t for t in (types if isinstance(types, list) else []) if isinstance(t, str)}, n))
    rows = [(code, label, counts.get(code, 0)) for code, label in INCIDENT_TYPES.items()]
    rows += [(code, f"{code} (type hors référentiel)", n) for code, n in sorted(counts.items()) if code not in INCIDENT_TYPES]
    return Indicator("type", "Déclarations par type d'incident", [COUNT], rows,
                     note="Un incident peut relever de plusieurs types : la somme dépasse le nombre de déclarations.")


def _labelled(key: str, title: str, counts: dict, labels: dict, note: str = "") -> Indicator:
    rows = [(code, label, counts.get(code, 0)) for code, label in labels.items()]
    rows += [(str(code), str(code), n) for code, n in counts.items() if code is not None and code not in labels]
    if counts.get(None):
        rows.append(("", UNKNOWN, counts[None]))
    return Indicator(key, title, [COUNT], rows, note=note)


def _data_impact(conditions) -> Indicator:
    counts = Counter()
    for impacts, personal, n in _lists(DossierFacts.data_impact, conditions, DossierFacts.personal_data,
                                       outer=(DossierFacts, DossierFacts.dossier_id == Dossier.id)):
        counts.update(dict.fromkeys(set(impacts if isinstance(impacts, list) else []) & DATA_IMPACTS.keys(), n))
        counts["aucune"] += n if impacts == [] else 0
        counts["personnelles"] += n if personal is True else 0
    rows = [(code, label, counts.get(code, 0)) for code, label in DATA_IMPACTS.items()]
    rows += [("aucune", "Aucune atteinte aux données", counts["aucune"]),
             ("personnelles", "Données à caractère personnel concernées", counts["personnelles"])]
    return Indicator("donnees", "Impact sur les données", [COUNT], rows,
                     note="Une déclaration peut porter atteinte à plusieurs propriétés des données.")


def _shares(conditions, total: int) -> Indicator:
    urgent, off_hours = db.session.execute(select(
        func.count().filter(Dossier.urgent_help.is_(True)), func.count().filter(Dossier.off_hours.is_(True)))
        .where(*conditions)).one()
    pct = (lambda n: round(100 * n / total, 1) if total else 0.0)
    rows = [("aide_urgente", "Demandes d'aide urgente", urgent, pct(urgent)),
            ("hors_heures", "Déclarations hors heures ouvrées", off_hours, pct(off_hours))]
    return Indicator("parts", "Demandes urgentes et déclarations hors heures ouvrées", [COUNT, "Part (%)"], rows,
                     note="Part calculée sur l'ensemble des déclarations de la sélection.")


def _durations(conditions) -> Indicator:
    qualified, closed = [], []  # both read in one pass over the dossiers that have either
    for declared, qualified_at, closed_at, department in db.session.execute(
            select(Dossier.declared_at, Dossier.qualified_at, Dossier.closed_at, Structure.department)
            .join(Structure, Structure.id == Dossier.structure_id)
            .where(*conditions, or_(Dossier.qualified_at.is_not(None), Dossier.closed_at.is_not(None)))):
        calendar = support_cell_calendar(department)
        if qualified_at is not None:
            qualified.append(working_hours_between(calendar, declared, qualified_at))
        if closed_at is not None:
            closed.append(working_hours_between(calendar, declared, closed_at))
    rows = [("qualification", "Délai de qualification", *spread(qualified)),
            ("cloture", "Délai de clôture", *spread(closed))]
    return Indicator("delais", "Délais de qualification et de clôture (heures ouvrées)",
                     ["Dossiers concernés", "1er quartile", "Médiane", "3e quartile"], rows, unit="heures ouvrées",
                     chart_columns=(1, 2, 3),
                     note=("Heures ouvrées de la Cellule ACSS (lundi-vendredi, 9 h-18 h, heure de Paris, jours fériés "
                           "du département de la structure) entre la déclaration et la dernière décision de "
                           "qualification, ou la clôture."))


def _open_by_phase(scope, filters: Filters) -> Indicator:
    # A snapshot of the current workload: open dossiers whatever their declaration date.
    conditions = [scope, Dossier.state.not_in(CLOSED_STATES), *_place(filters)]
    counts = _grouped(Dossier.phase, conditions)
    rows = [(phase or "", phase or "Sans phase en cours", n) for phase, n in sorted(counts.items(), key=lambda i: i[0] or "~")]
    return Indicator("phases", "Dossiers ouverts par phase, à ce jour", [COUNT], rows,
                     note="Tous les dossiers non clôturés de la sélection de régions et de structures, quelle que soit la période.")


def _place(filters: Filters) -> list:
    conditions = []
    if filters.region:
        conditions.append(Dossier.region == filters.region)
    if filters.kind:
        conditions.append(Dossier.structure_kind == filters.kind)
    return conditions


def compute(scope, filters: Filters) -> Report:
    """The report for the dossiers matching `scope` (the reader's visibility, SQL) and the filters."""
    conditions = [scope, Dossier.declared_at.is_not(None), Dossier.declared_at >= _utc(filters.start),
                  Dossier.declared_at < _utc(filters.end + timedelta(days=1)), *_place(filters)]
    total = db.session.scalar(select(func.count()).select_from(Dossier).where(*conditions)) or 0
    regions = {r: r for r in ([filters.region] if filters.region else REGIONS)}
    facts = (DossierFacts, DossierFacts.dossier_id == Dossier.id)
    indicators = [
        _per_month(conditions, filters),
        _by_type(conditions),
        _labelled("structure", "Déclarations par type de structure", _grouped(Dossier.structure_kind, conditions),
                  STRUCTURE_KINDS),
        _labelled("region", "Déclarations par région", _grouped(Dossier.region, conditions), regions),
        _labelled("origine", "Origine de l'incident", _grouped(DossierFacts.origin, conditions, facts), ORIGINS,
                  note="Origine confirmée par l'analyse des causes quand elle existe, sinon origine déclarée."),
        _labelled("soins", "Impact sur les soins", _grouped(Dossier.care_impact, conditions), CARE_LABELS),
        _data_impact(conditions),
        _shares(conditions, total),
        _durations(conditions),
        _open_by_phase(scope, filters),
    ]
    return Report(filters, total, indicators)


def french_number(value) -> str:
    """« 1 234 », « 12,5 » (a no-break space between thousands, a decimal comma); « - » for no value."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", "\u00a0").replace(".", ",")
    return f"{int(value):,}".replace(",", "\u00a0")
