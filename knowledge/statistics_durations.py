"""Durations for the observatory: working hours between two instants and their quartiles."""
from __future__ import annotations

import statistics
from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta
from functools import lru_cache

from timekeeping.business_calendar import BusinessCalendar

# A dossier open longer than this is counted at this bound (keeps one odd row from costing seconds).
MAX_DAYS = 3 * 366


def _day_hours(calendar: BusinessCalendar, day: date, start: datetime, end: datetime) -> float:
    if not calendar.is_working_day(day):
        return 0.0
    # Opening and closing in local time, compared as aware instants: DST days count right.
    opening = datetime.combine(day, calendar.opening, tzinfo=calendar.tz)
    closing = datetime.combine(day, calendar.closing, tzinfo=calendar.tz)
    return max(0.0, (min(closing, end) - max(opening, start)).total_seconds()) / 3600


def _working_days(calendar: BusinessCalendar, first: date, last: date) -> int:
    """Working days from `first` to `last` inclusive: weekdays by arithmetic, less the weekday holidays."""
    if last < first:
        return 0
    weeks, extra = divmod((last - first).days + 1, 7)
    tail = first + timedelta(days=weeks * 7)
    weekdays = weeks * 5 + sum((tail + timedelta(days=i)).weekday() < 5 for i in range(extra))
    holidays = sum(bisect_right(days, last) - bisect_left(days, first)
                   for days in (_weekday_holidays(calendar, year) for year in range(first.year, last.year + 1)))
    return weekdays - holidays


@lru_cache(maxsize=512)
def _weekday_holidays(calendar: BusinessCalendar, year: int) -> tuple:
    # Sorted, so that the holidays of a span are counted by bisection (thousands of spans per report).
    return tuple(d for d in calendar.holidays_between(date(year, 1, 1), date(year, 12, 31)) if d.weekday() < 5)


def working_hours_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Hours of the calendar's opening time between two aware instants (0 when end is not after start)."""
    if end <= start:
        return 0.0
    end = min(end, start + timedelta(days=MAX_DAYS))
    first, last = start.astimezone(calendar.tz).date(), end.astimezone(calendar.tz).date()
    if first == last:
        return _day_hours(calendar, first, start, end)
    # The first and last days partly, every working day between them in full (opening hours are local).
    daily = (datetime.combine(first, calendar.closing) - datetime.combine(first, calendar.opening)).total_seconds() / 3600
    return (_day_hours(calendar, first, start, end) + _day_hours(calendar, last, start, end)
            + daily * _working_days(calendar, first + timedelta(days=1), last - timedelta(days=1)))


def spread(values: list[float]) -> tuple[int, float | None, float | None, float | None]:
    """(count, first quartile, median, third quartile), rounded to a tenth; None without values."""
    if not values:
        return 0, None, None, None
    if len(values) == 1:
        only = round(values[0], 1)
        return 1, only, only, only
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return len(values), round(q1, 1), round(median, 1), round(q3, 1)
