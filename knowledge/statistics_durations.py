"""Durations for the observatory: working hours between two instants and their quartiles."""
from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from timekeeping.business_calendar import BusinessCalendar

# A dossier open longer than this is counted at this bound (keeps one odd row from costing seconds).
MAX_DAYS = 3 * 366


def working_hours_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Hours of the calendar's opening time between two aware instants (0 when end is not after start)."""
    if end <= start:
        return 0.0
    end = min(end, start + timedelta(days=MAX_DAYS))
    day, last = start.astimezone(calendar.tz).date(), end.astimezone(calendar.tz).date()
    seconds = 0.0
    while day <= last:
        if calendar.is_working_day(day):
            # Opening and closing in local time, compared as aware instants: DST days count right.
            opening = datetime.combine(day, calendar.opening, tzinfo=calendar.tz)
            closing = datetime.combine(day, calendar.closing, tzinfo=calendar.tz)
            seconds += max(0.0, (min(closing, end) - max(opening, start)).total_seconds())
        day += timedelta(days=1)
    return seconds / 3600


def spread(values: list[float]) -> tuple[int, float | None, float | None, float | None]:
    """(count, first quartile, median, third quartile), rounded to a tenth; None without values."""
    if not values:
        return 0, None, None, None
    if len(values) == 1:
        only = round(values[0], 1)
        return 1, only, only, only
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return len(values), round(q1, 1), round(median, 1), round(q3, 1)
