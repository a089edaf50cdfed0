"""Task targets carried by the process: an ISO 8601 duration counted in working or calendar hours.

A user task of the BPMN carries, in its spiffworkflow properties, `targetDuration` (an ISO 8601
duration such as "PT4H") and `targetCalendar` ("working": the Cellule ACSS's working hours, the
default; "calendar": hours of the clock, nights and week-ends included). The due date of a new
task is its creation instant plus that target. This module parses and applies one target; the
process side (which task carries which target) is read in workflow/targets.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from timekeeping import business_calendar

DURATION_PROPERTY = "targetDuration"
CALENDAR_PROPERTY = "targetCalendar"
CALENDARS = {"working": "heures ouvrées de la Cellule ACSS", "calendar": "heures calendaires"}
DEFAULT_CALENDAR = "working"
# A target longer than this is a typing error (a year of working hours is about 2,000 hours).
MAX_TARGET = timedelta(days=366)
MIN_TARGET = timedelta(minutes=1)

# Years and months have no fixed length: only weeks, days, hours, minutes and seconds are accepted.
_DURATION = re.compile(r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
                       r"(?:T(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?")


class TargetError(ValueError):
    """A target the process cannot use; the message is French and says what to write instead."""


@dataclass(frozen=True)
class Target:
    """How long a task may stay open, and in which hours it is counted."""

    duration: timedelta
    calendar: str = DEFAULT_CALENDAR

    def due(self, created: datetime, department: str | None = None) -> datetime:
        """The due date of a task created at `created` (timezone-aware); in UTC for working hours."""
        if self.calendar == "calendar":
            return created + self.duration
        hours = self.duration.total_seconds() / 3600
        return business_calendar.support_cell_calendar(department).add_working_hours(created, hours)

    def describe(self) -> str:
        """« 4 h (heures ouvrées de la Cellule ACSS) », for people."""
        minutes = int(self.duration.total_seconds() // 60)
        hours, rest = divmod(minutes, 60)
        amount = f"{hours} h {rest:02d}" if hours and rest else (f"{hours} h" if hours else f"{rest} min")
        return f"{amount} ({CALENDARS[self.calendar]})"


def parse_duration(text: str | None) -> timedelta:
    """An ISO 8601 duration (PnW, PnD, PTnH, PTnM, PTnS and their combinations) as a timedelta."""
    value = (text or "").strip().upper()
    match = _DURATION.fullmatch(value)
    if not value or match is None or value in ("P", "PT") or value.endswith("T"):
        raise TargetError(f"« {(text or '')[:40]} » n'est pas une durée ISO 8601 (exemples : PT4H pour 4 heures, PT30M pour "
                          "30 minutes, P2D pour 2 jours ; les années et les mois, de longueur variable, sont exclus)")
    parts = {k: float(v.replace(",", ".")) if v else 0.0 for k, v in match.groupdict().items()}
    try:
        duration = timedelta(**parts)
    except (OverflowError, ValueError):
        raise TargetError(f"la durée « {text[:40]} » dépasse un an") from None
    if duration <= timedelta(0):
        raise TargetError(f"la durée « {text} » est nulle : une échéance doit laisser du temps")
    if duration < MIN_TARGET:
        raise TargetError(f"la durée « {text} » est inférieure à une minute")
    if duration > MAX_TARGET:
        raise TargetError(f"la durée « {text} » dépasse un an")
    return duration


def parse_target(duration: str | None, calendar: str | None) -> Target | None:
    """The target of a task from its two properties; None when it has none; TargetError when unusable."""
    if duration is None:
        if calendar is not None:
            raise TargetError(f"la propriété « {CALENDAR_PROPERTY} » est donnée sans « {DURATION_PROPERTY} »")
        return None
    chosen = (calendar or DEFAULT_CALENDAR).strip()
    if chosen not in CALENDARS:
        raise TargetError(f"le calendrier « {calendar} » est inconnu (« working » pour les heures ouvrées de la "
                          "Cellule ACSS, « calendar » pour les heures calendaires)")
    value = parse_duration(duration)
    if chosen == "working" and ("D" in duration.upper() or "W" in duration.upper()):
        raise TargetError(f"en heures ouvrées, la durée « {duration} » doit s'exprimer en heures ou minutes "
                          "(PT9H pour une journée de 9 h à 18 h de la Cellule ACSS) : un jour ouvré n'a pas 24 heures")
    return Target(value, chosen)
