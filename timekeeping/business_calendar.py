"""Working hours and public holidays for the Cellule ACSS and the declaring structures.

Holidays come from the `holidays` package (pinned 0.109). Its France subdivisions are
"57" (Moselle), "6AE" (Alsace: Bas-Rhin 67 and Haut-Rhin 68), "971", "972", "973", "974",
"976" and "PM" (Saint-Pierre-et-Miquelon, which adds no day); every other department
only has the national holidays. All instants are timezone-aware; results are in UTC.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

PARIS = ZoneInfo("Europe/Paris")

# Department -> subdivision code understood by holidays 0.109 for France.
_SUBDIVISIONS = {"57": "57", "67": "6AE", "68": "6AE", "971": "971", "972": "972",
                 "973": "973", "974": "974", "975": "PM", "976": "976"}
# Overseas departments live in their own time zone; their FINESS starts with 3 characters.
_OVERSEAS_TZ = {"971": "America/Guadeloupe", "972": "America/Martinique", "973": "America/Cayenne",
                "974": "Indian/Reunion", "975": "America/Miquelon", "976": "Indian/Mayotte"}
# Shown to people next to a holiday that only exists locally.
_REGION_LABELS = {"57": "Alsace-Moselle", "67": "Alsace-Moselle", "68": "Alsace-Moselle",
                  "971": "Guadeloupe", "972": "Martinique", "973": "Guyane", "974": "La Réunion",
                  "975": "Saint-Pierre-et-Miquelon", "976": "Mayotte"}
# Metropolitan departments 01-95; "20" no longer exists, Corsica is "2A"/"2B".
_METROPOLITAN = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}


def _check_aware(instant: datetime) -> None:
    # A naive datetime would silently be read in the server's zone: refuse it.
    if not isinstance(instant, datetime) or instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {instant!r}")


def _check_department(department: str | None) -> str | None:
    if department is not None and department not in _METROPOLITAN and department not in _OVERSEAS_TZ:
        raise ValueError(f"unknown department {department!r}")
    return department


def department_from_finess(finess: str) -> str:
    """Return the department code ("75", "2A", "971"...) encoded in a 9-character FINESS number."""
    if not isinstance(finess, str):
        raise ValueError(f"FINESS must be a string, got {finess!r}")
    value = finess.strip().upper()
    if len(value) != 9:
        raise ValueError(f"FINESS must have 9 characters: {finess!r}")
    # Overseas first: "97x" would otherwise be read as a (non-existent) department "97".
    department = value[:3] if value[:3] in _OVERSEAS_TZ else value[:2]
    if department not in _METROPOLITAN and department not in _OVERSEAS_TZ:
        raise ValueError(f"FINESS {finess!r} does not start with a known department")
    if not value[len(department):].isdigit():
        raise ValueError(f"FINESS {finess!r} must end with digits")
    return department


def timezone_for_department(department: str | None) -> ZoneInfo:
    """Return the time zone in which a department's structures live."""
    return ZoneInfo(_OVERSEAS_TZ.get(_check_department(department), "Europe/Paris"))


@lru_cache(maxsize=512)
def _holidays_for(subdivision: str | None, year: int) -> holidays.HolidayBase:
    # Building a holidays object computes Easter etc.; cached because this runs on hot paths.
    # expand=False keeps the cached object read-only (no silent growth on other years).
    return holidays.country_holidays("FR", subdiv=subdivision, years=year, language="fr", expand=False)


def _fmt_hour(t: time) -> str:
    return f"{t.hour} h" if t.minute == 0 else f"{t.hour} h {t.minute:02d}"


class BusinessCalendar:
    """Working hours (interpreted in `tz`) plus national and departmental public holidays."""

    def __init__(self, department: str | None = None, opening: time = time(9),
                 closing: time = time(18), tz: str | ZoneInfo = "Europe/Paris"):
        if opening >= closing:
            raise ValueError("opening must be before closing")
        self.department = _check_department(department)
        self.subdivision = _SUBDIVISIONS.get(department) if department else None
        self.opening, self.closing = opening, closing
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)

    def __repr__(self) -> str:
        return (f"BusinessCalendar({self.department!r}, {self.opening}, {self.closing}, "
                f"{self.tz.key!r})")

    def holiday_name(self, d: date) -> str | None:
        """Return the French name of the public holiday on `d`, or None."""
        return _holidays_for(self.subdivision, d.year).get(d)

    def is_working_day(self, d: date) -> bool:
        """Tell whether `d` is a weekday that is not a public holiday."""
        if isinstance(d, datetime):  # a datetime is a date: refuse the ambiguity
            raise ValueError("is_working_day takes a date; use is_working_time for instants")
        return d.weekday() < 5 and d not in _holidays_for(self.subdivision, d.year)

    def _at(self, d: date, t: time) -> datetime:
        # zoneinfo picks the right offset for that local date, so DST is handled here.
        return datetime.combine(d, t, tzinfo=self.tz).astimezone(timezone.utc)

    def is_working_time(self, instant: datetime) -> bool:
        """Tell whether `instant` falls in opening hours (opening inclusive, closing exclusive)."""
        _check_aware(instant)
        local = instant.astimezone(self.tz)
        return self.is_working_day(local.date()) and self.opening <= local.time() < self.closing

    def _next_working_date(self, d: date) -> date:
        # Bounded loop: no calendar has a year of consecutive non-working days.
        for _ in range(366):
            if self.is_working_day(d):
                return d
            d += timedelta(days=1)
        raise RuntimeError("no working day within a year")

    def next_working_instant(self, instant: datetime) -> datetime:
        """Return `instant` if open, else the next opening; always in UTC."""
        _check_aware(instant)
        if self.is_working_time(instant):
            return instant.astimezone(timezone.utc)
        local = instant.astimezone(self.tz)
        d = local.date()
        if not (self.is_working_day(d) and local.time() < self.opening):
            d = self._next_working_date(d + timedelta(days=1))
        return self._at(d, self.opening)

    def add_working_hours(self, instant: datetime, hours: float) -> datetime:
        """Add `hours` of working time to `instant`, skipping closed periods; result in UTC."""
        _check_aware(instant)
        if hours < 0:
            raise ValueError("hours must be >= 0")
        remaining = timedelta(hours=hours)
        current = self.next_working_instant(instant)
        while True:
            # Arithmetic in UTC: a day's length is correct even on DST changes.
            day_end = self._at(current.astimezone(self.tz).date(), self.closing)
            available = day_end - current
            # Landing exactly on closing keeps the deadline on that day (end of day).
            if remaining <= available:
                return current + remaining
            remaining -= available
            current = self.next_working_instant(day_end)

    def add_working_days(self, instant: datetime, days: int) -> datetime:
        """Same local time on the Nth next working day, clamped into opening hours; in UTC."""
        _check_aware(instant)
        if days < 0:
            raise ValueError("days must be >= 0")
        local = instant.astimezone(self.tz)
        d = self._next_working_date(local.date())  # days=0: today if working, else next one
        for _ in range(days):
            d = self._next_working_date(d + timedelta(days=1))
        # Clamp to [opening, closing]: a deadline at closing means "end of that day".
        t = min(max(local.time(), self.opening), self.closing)
        return self._at(d, t)

    def holidays_between(self, start: date, end: date) -> dict[date, str]:
        """Return the public holidays from `start` to `end` inclusive, in date order."""
        if end < start:
            raise ValueError("end must not be before start")
        found: dict[date, str] = {}
        for year in range(start.year, end.year + 1):
            found.update((d, n) for d, n in _holidays_for(self.subdivision, year).items()
                         if start <= d <= end)
        return dict(sorted(found.items()))


@lru_cache(maxsize=128)
def support_cell_calendar(department: str | None) -> BusinessCalendar:
    """Return the Cellule ACSS calendar: 9h-18h Paris time, holidays of `department`."""
    # Cached: a calendar is immutable and asked for on every escalation check.
    return BusinessCalendar(department, time(9), time(18), PARIS)


def _department(finess: str | None) -> str | None:
    return department_from_finess(finess) if finess else None


def is_off_hours(instant: datetime, finess: str | None) -> bool:
    """Tell whether the Cellule ACSS is closed or the structure's local day is not worked."""
    _check_aware(instant)
    department = _department(finess)
    cell = support_cell_calendar(department)
    # The structure's own local date decides weekend/holiday for it. With today's zones
    # (UTC-4..UTC+4) it equals the Paris date during 9h-18h Paris, so this only matters
    # if the hours or zones change; kept because it is the rule the process states.
    local_date = instant.astimezone(timezone_for_department(department)).date()
    return not cell.is_working_time(instant) or not cell.is_working_day(local_date)


def describe(instant: datetime, finess: str | None) -> str:
    """Explain in French why `instant` is (or is not) off hours for the structure."""
    _check_aware(instant)
    department = _department(finess)
    cell = support_cell_calendar(department)

    def day_reason(d: date) -> str | None:
        name = cell.holiday_name(d)
        if name:
            # Name the region when the day is not a national holiday.
            local_only = d not in _holidays_for(None, d.year)
            region = _REGION_LABELS.get(department) if local_only else None
            return f"jour férié ({name}, {region})" if region else f"jour férié ({name})"
        return "week-end" if d.weekday() >= 5 else None

    local_reason = day_reason(instant.astimezone(timezone_for_department(department)).date())
    if local_reason:
        return local_reason
    paris = instant.astimezone(PARIS)
    paris_reason = day_reason(paris.date())
    if paris_reason:
        return f"{paris_reason} (heure de Paris)"
    if paris.time() < cell.opening:
        return f"avant {_fmt_hour(cell.opening)} (heure de Paris)"
    if paris.time() >= cell.closing:
        return f"après {_fmt_hour(cell.closing)} (heure de Paris)"
    return "heures ouvrées"


_WEEKDAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"]


def next_opening(instant: datetime, finess: str | None) -> datetime:
    """When the Cellule ACSS next works for the structure: `instant` itself in working hours, else its next
    opening (a day that is worked in Paris and in the structure's own calendar); in UTC."""
    _check_aware(instant)
    cell = support_cell_calendar(_department(finess))
    candidate = cell.next_working_instant(instant)
    for _ in range(366):  # bounded: no calendar has a year of closed days
        if not is_off_hours(candidate, finess):
            return candidate
        local = candidate.astimezone(cell.tz)
        candidate = cell.next_working_instant(datetime.combine(local.date() + timedelta(days=1), time(0),
                                                               tzinfo=cell.tz))
    raise RuntimeError("no opening within a year")


def french_moment(instant: datetime) -> str:
    """« lundi 9 mars à 9 h » in Paris time (the day named, the hour as people say it)."""
    _check_aware(instant)
    local = instant.astimezone(PARIS)
    day = "1er" if local.day == 1 else str(local.day)
    return f"{_WEEKDAYS[local.weekday()]} {day} {_MONTHS[local.month - 1]} à {_fmt_hour(local.time())}"
