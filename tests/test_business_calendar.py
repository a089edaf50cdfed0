"""Tests for business_calendar: real dates, real holidays (holidays==0.109), real time zones."""
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import holidays
import pytest

from timekeeping import business_calendar as bc
from timekeeping.business_calendar import BusinessCalendar

PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc
FINESS_PARIS = "750712184"
FINESS_MOSELLE = "570000123"
FINESS_GUADELOUPE = "971000123"
FINESS_REUNION = "974000123"


def paris(*args):
    return datetime(*args, tzinfo=PARIS)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- FINESS and departments -------------------------------------------------------------

@pytest.mark.parametrize("finess, department", [
    ("750712184", "75"), ("010000024", "01"), ("950000000", "95"),
    ("2A0000123", "2A"), ("2b0000123", "2B"), (" 570000123 ", "57"),
    ("971000123", "971"), ("972000123", "972"), ("973000123", "973"),
    ("974000123", "974"), ("975000123", "975"), ("976000123", "976"),
])
def test_department_from_finess(finess, department):
    assert bc.department_from_finess(finess) == department


@pytest.mark.parametrize("finess", [
    "", "75071218", "7507121840", "AB0712184", "200000000", "000000000", "960000000",
    "977000000", "2C0000123", "75071218A", "2A000012B", None, 750712184,
])
def test_department_from_finess_rejects_malformed(finess):
    with pytest.raises(ValueError):
        bc.department_from_finess(finess)


@pytest.mark.parametrize("department, zone", [
    ("75", "Europe/Paris"), ("2A", "Europe/Paris"), ("57", "Europe/Paris"), (None, "Europe/Paris"),
    ("971", "America/Guadeloupe"), ("972", "America/Martinique"), ("973", "America/Cayenne"),
    ("974", "Indian/Reunion"), ("975", "America/Miquelon"), ("976", "Indian/Mayotte"),
])
def test_timezone_for_department(department, zone):
    assert bc.timezone_for_department(department) == ZoneInfo(zone)


def test_unknown_department_is_refused():
    with pytest.raises(ValueError):
        bc.timezone_for_department("99")
    with pytest.raises(ValueError):
        BusinessCalendar("20")


def test_subdivision_codes_exist_in_pinned_package():
    # Guards against a package upgrade renaming France's subdivisions.
    assert set(bc._SUBDIVISIONS.values()) <= set(holidays.France.subdivisions)
    assert BusinessCalendar("67").subdivision == "6AE"
    assert BusinessCalendar("975").subdivision == "PM"
    assert BusinessCalendar("75").subdivision is None


# --- Ordinary days, weekends, national holidays -------------------------------------------

def test_ordinary_weekday_is_working():
    cal = BusinessCalendar("75")
    assert cal.is_working_day(date(2026, 3, 4))  # Wednesday
    assert cal.is_working_time(paris(2026, 3, 4, 10, 0))
    assert not bc.is_off_hours(paris(2026, 3, 4, 10, 0), FINESS_PARIS)
    assert bc.describe(paris(2026, 3, 4, 10, 0), FINESS_PARIS) == "heures ouvrées"


@pytest.mark.parametrize("day", [date(2026, 3, 7), date(2026, 3, 8)])
def test_weekend_is_not_working(day):
    cal = BusinessCalendar("75")
    assert not cal.is_working_day(day)
    noon = datetime.combine(day, time(12), tzinfo=PARIS)
    assert not cal.is_working_time(noon)
    assert bc.is_off_hours(noon, FINESS_PARIS)
    assert bc.describe(noon, FINESS_PARIS) == "week-end"


@pytest.mark.parametrize("day", [
    date(2026, 7, 14), date(2026, 5, 14), date(2026, 5, 25),  # 14 July, Ascension, Whit Monday
    date(2027, 5, 6), date(2027, 5, 17), date(2027, 3, 29), date(2026, 11, 11),
])
@pytest.mark.parametrize("department", [None, "75", "57", "2A", "971", "974"])
def test_national_holidays_everywhere(day, department):
    assert day.weekday() < 5
    assert not BusinessCalendar(department).is_working_day(day)


def test_national_holiday_names_and_dates_from_package():
    cal = BusinessCalendar("75")
    assert cal.holidays_between(date(2026, 5, 13), date(2026, 5, 26)) == {
        date(2026, 5, 14): "Ascension", date(2026, 5, 25): "Lundi de Pentecôte"}
    assert cal.holidays_between(date(2027, 5, 1), date(2027, 5, 31)) == {
        date(2027, 5, 1): "Fête du Travail", date(2027, 5, 6): "Ascension",
        date(2027, 5, 8): "Fête de la Victoire", date(2027, 5, 17): "Lundi de Pentecôte"}
    assert cal.is_working_day(date(2026, 5, 13)) and cal.is_working_day(date(2026, 5, 15))
    assert bc.describe(paris(2026, 7, 14, 10), FINESS_PARIS) == "jour férié (Fête nationale)"


def test_holidays_between_spans_years_and_checks_order():
    got = BusinessCalendar("57").holidays_between(date(2025, 12, 20), date(2026, 1, 2))
    assert got == {date(2025, 12, 25): "Noël", date(2025, 12, 26): "Saint-Étienne",
                   date(2026, 1, 1): "Jour de l'an"}
    assert len(BusinessCalendar("75").holidays_between(date(2026, 1, 1), date(2026, 12, 31))) == 11
    assert len(BusinessCalendar("57").holidays_between(date(2026, 1, 1), date(2026, 12, 31))) == 13
    with pytest.raises(ValueError):
        BusinessCalendar().holidays_between(date(2026, 2, 1), date(2026, 1, 1))


# --- Alsace-Moselle ---------------------------------------------------------------------

@pytest.mark.parametrize("day", [
    date(2026, 4, 3), date(2027, 3, 26),    # Good Friday
    date(2025, 12, 26), date(2028, 12, 26),  # 26 December on a Friday / Tuesday
])
def test_alsace_moselle_extra_days(day):
    for department in ("57", "67", "68"):
        assert not BusinessCalendar(department).is_working_day(day), department
    for department in ("75", "54", "2B", None):
        assert BusinessCalendar(department).is_working_day(day), department


def test_good_friday_off_hours_in_moselle_only():
    instant = paris(2026, 4, 3, 10, 0)
    assert bc.is_off_hours(instant, FINESS_MOSELLE)
    assert not bc.is_off_hours(instant, FINESS_PARIS)
    assert bc.describe(instant, FINESS_MOSELLE) == "jour férié (Vendredi saint, Alsace-Moselle)"
    assert bc.describe(instant, FINESS_PARIS) == "heures ouvrées"


# --- Overseas ---------------------------------------------------------------------------

@pytest.mark.parametrize("department, day", [
    ("971", date(2026, 5, 27)), ("972", date(2026, 5, 22)), ("973", date(2026, 6, 10)),
    ("974", date(2027, 12, 20)), ("976", date(2026, 4, 27)),
])
def test_overseas_abolition_of_slavery(department, day):
    assert not BusinessCalendar(department).is_working_day(day)
    assert BusinessCalendar("75").is_working_day(day)
    others = {"971", "972", "973", "974", "976"} - {department}
    assert all(BusinessCalendar(o).is_working_day(day) for o in others)


def test_guadeloupe_holiday_off_hours_and_description():
    instant = paris(2026, 5, 27, 10, 0)  # Wednesday
    assert bc.is_off_hours(instant, FINESS_GUADELOUPE)
    assert not bc.is_off_hours(instant, FINESS_PARIS)
    assert bc.describe(instant, FINESS_GUADELOUPE) == \
        "jour férié (Abolition de l'esclavage, Guadeloupe)"


def test_saint_pierre_et_miquelon_has_national_holidays_only():
    cal = BusinessCalendar("975")
    year = cal.holidays_between(date(2026, 1, 1), date(2026, 12, 31))
    assert year == BusinessCalendar(None).holidays_between(date(2026, 1, 1), date(2026, 12, 31))


def test_saturday_in_guadeloupe_is_sunday_in_paris():
    instant = paris(2026, 5, 31, 0, 30)  # Sunday 00:30 Paris
    assert instant == utc(2026, 5, 30, 22, 30)
    local = instant.astimezone(bc.timezone_for_department("971"))
    assert (local.date(), local.hour, local.minute) == (date(2026, 5, 30), 18, 30)  # Saturday
    assert bc.is_off_hours(instant, FINESS_GUADELOUPE)
    assert bc.describe(instant, FINESS_GUADELOUPE) == "week-end"


def test_late_friday_evening_paris_is_working_afternoon_in_guadeloupe():
    instant = paris(2026, 5, 29, 23, 0)  # Friday 23:00 Paris = Friday 17:00 Guadeloupe
    local_cal = BusinessCalendar("971", tz=bc.timezone_for_department("971"))
    assert local_cal.is_working_time(instant)  # the structure itself is still open
    assert bc.is_off_hours(instant, FINESS_GUADELOUPE)  # but the Cellule ACSS is closed
    assert bc.describe(instant, FINESS_GUADELOUPE) == "après 18 h (heure de Paris)"


def test_friday_evening_in_paris_is_already_saturday_in_reunion():
    instant = paris(2026, 5, 29, 22, 30)  # Saturday 00:30 in La Réunion (UTC+4)
    assert instant.astimezone(bc.timezone_for_department("974")).date() == date(2026, 5, 30)
    assert bc.describe(instant, FINESS_REUNION) == "week-end"
    assert bc.describe(instant, FINESS_PARIS) == "après 18 h (heure de Paris)"


def test_reunion_local_date_holiday_while_paris_is_still_sunday():
    instant = paris(2027, 12, 19, 21, 30)  # Monday 20 Dec 00:30 in La Réunion
    assert bc.describe(instant, FINESS_REUNION) == \
        "jour férié (Abolition de l'esclavage, La Réunion)"
    assert bc.describe(instant, FINESS_PARIS) == "week-end"
    assert bc.is_off_hours(paris(2027, 12, 20, 10), FINESS_REUNION)
    assert not bc.is_off_hours(paris(2027, 12, 20, 10), FINESS_PARIS)


# --- Around opening and closing ---------------------------------------------------------

@pytest.mark.parametrize("hh, mm, ss, open_", [
    (8, 59, 59, False), (9, 0, 0, True), (17, 59, 0, True), (17, 59, 59, True),
    (18, 0, 0, False), (18, 1, 0, False), (8, 59, 0, False),
])
def test_minutes_around_opening_and_closing(hh, mm, ss, open_):
    instant = paris(2026, 3, 4, hh, mm, ss)  # Wednesday, CET
    assert BusinessCalendar("75").is_working_time(instant) is open_
    assert bc.is_off_hours(instant, FINESS_PARIS) is (not open_)
    assert bc.is_off_hours(instant, None) is (not open_)


def test_describe_before_and_after_hours():
    assert bc.describe(paris(2026, 3, 4, 8, 59), FINESS_PARIS) == "avant 9 h (heure de Paris)"
    assert bc.describe(paris(2026, 3, 4, 18, 0), None) == "après 18 h (heure de Paris)"
    assert bc.describe(paris(2026, 3, 4, 18, 1), FINESS_PARIS) == "après 18 h (heure de Paris)"


def test_opening_checked_against_explicit_utc():
    cal = BusinessCalendar()
    assert cal.is_working_time(utc(2026, 3, 4, 8, 0))       # 9:00 CET
    assert not cal.is_working_time(utc(2026, 3, 4, 7, 59))
    assert not cal.is_working_time(utc(2026, 3, 4, 17, 0))  # 18:00 CET
    assert cal.is_working_time(utc(2026, 7, 15, 15, 59))    # 17:59 CEST


# --- Daylight saving --------------------------------------------------------------------

def test_monday_after_spring_forward_opens_at_7_utc():
    cal = BusinessCalendar()
    assert cal.is_working_time(utc(2026, 3, 30, 7, 0))  # 9:00 CEST
    assert not cal.is_working_time(utc(2026, 3, 30, 6, 59))
    assert cal.is_working_time(utc(2026, 3, 27, 8, 0))  # Friday before: 9:00 CET
    assert not cal.is_working_time(utc(2026, 3, 27, 7, 30))
    # 2027: the change night is Easter night; Monday 29 March is Easter Monday.
    assert not cal.is_working_time(utc(2027, 3, 29, 8, 0))
    assert cal.is_working_time(utc(2027, 3, 30, 7, 0))
    assert not cal.is_working_time(utc(2027, 3, 30, 6, 59))


def test_monday_after_fall_back_opens_at_8_utc():
    cal = BusinessCalendar()
    assert cal.is_working_time(utc(2026, 10, 26, 8, 0))  # 9:00 CET
    assert not cal.is_working_time(utc(2026, 10, 26, 7, 59))
    assert not cal.is_working_time(utc(2026, 10, 26, 7, 0))
    assert cal.is_working_time(utc(2026, 10, 23, 7, 0))  # Friday before: 9:00 CEST


def test_add_working_hours_across_spring_forward():
    cal = BusinessCalendar("75")
    assert cal.add_working_hours(utc(2026, 3, 27, 16, 0), 2) == utc(2026, 3, 30, 8, 0)
    # 2027: Friday 17:00 CET + 2 h: 1 h Friday, Easter Monday skipped, Tuesday 10:00 CEST.
    assert cal.add_working_hours(paris(2027, 3, 26, 17), 2) == utc(2027, 3, 30, 8, 0)
    # Moselle also skips Good Friday.
    moselle = BusinessCalendar("57")
    assert moselle.add_working_hours(paris(2027, 3, 25, 17), 2) == utc(2027, 3, 30, 8, 0)


def test_add_working_hours_across_fall_back():
    cal = BusinessCalendar("75")
    result = cal.add_working_hours(paris(2026, 10, 23, 17, 30), 1)
    assert result == utc(2026, 10, 26, 8, 30)  # Monday 9:30 CET
    assert result.tzinfo == UTC
    assert cal.next_working_instant(utc(2026, 10, 24, 12)) == utc(2026, 10, 26, 8, 0)


def test_add_working_hours_over_weekend_and_holiday():
    cal = BusinessCalendar("75")
    # Friday 10 July 17:00 + 12 h: 1 h Friday, 9 h Monday 13, 14 July off, 2 h Wednesday.
    assert cal.add_working_hours(paris(2026, 7, 10, 17), 12) == paris(2026, 7, 15, 11)
    assert cal.add_working_hours(paris(2026, 7, 13, 16), 4) == utc(2026, 7, 15, 9, 0)
    assert cal.add_working_hours(paris(2026, 7, 11, 10), 1.5) == paris(2026, 7, 13, 10, 30)


def test_add_working_hours_edges():
    cal = BusinessCalendar("75")
    # Ending exactly at closing keeps the deadline on that day.
    assert cal.add_working_hours(paris(2026, 3, 4, 9), 9) == paris(2026, 3, 4, 18)
    assert cal.add_working_hours(paris(2026, 3, 4, 9), 9.5) == paris(2026, 3, 5, 9, 30)
    assert cal.add_working_hours(paris(2026, 3, 4, 20), 0) == paris(2026, 3, 5, 9)
    with pytest.raises(ValueError):
        cal.add_working_hours(paris(2026, 3, 4, 9), -1)


def test_next_working_instant():
    cal = BusinessCalendar("75")
    assert cal.next_working_instant(paris(2026, 3, 4, 10)) == utc(2026, 3, 4, 9, 0)
    assert cal.next_working_instant(paris(2026, 3, 4, 7)) == paris(2026, 3, 4, 9)
    assert cal.next_working_instant(paris(2026, 3, 6, 18)) == paris(2026, 3, 9, 9)
    assert cal.next_working_instant(paris(2026, 5, 13, 19)) == paris(2026, 5, 15, 9)


# --- Working days -----------------------------------------------------------------------

def test_add_working_days_over_ascension_bridge():
    cal = BusinessCalendar("75")
    wed = paris(2026, 5, 13, 10)
    assert cal.add_working_days(wed, 1) == utc(2026, 5, 15, 8, 0)  # Friday, bridge worked
    assert cal.add_working_days(wed, 2) == utc(2026, 5, 18, 8, 0)  # Monday
    assert cal.add_working_days(paris(2027, 5, 5, 10), 1) == paris(2027, 5, 7, 10)
    assert cal.add_working_days(paris(2027, 5, 5, 10), 2) == paris(2027, 5, 10, 10)


def test_add_working_days_clamps_and_handles_dst():
    cal = BusinessCalendar("75")
    assert cal.add_working_days(paris(2026, 5, 13, 20), 1) == paris(2026, 5, 15, 18)
    assert cal.add_working_days(paris(2026, 5, 13, 7), 1) == paris(2026, 5, 15, 9)
    assert cal.add_working_days(paris(2026, 5, 16, 10), 0) == paris(2026, 5, 18, 10)
    assert cal.add_working_days(paris(2026, 10, 23, 10), 1) == utc(2026, 10, 26, 9, 0)
    with pytest.raises(ValueError):
        cal.add_working_days(paris(2026, 5, 13, 10), -1)


# --- Contracts --------------------------------------------------------------------------

def test_naive_datetimes_are_refused():
    naive = datetime(2026, 3, 4, 10)
    cal = BusinessCalendar()
    for call in (cal.is_working_time, cal.next_working_instant,
                 lambda i: cal.add_working_hours(i, 1), lambda i: cal.add_working_days(i, 1),
                 lambda i: bc.is_off_hours(i, FINESS_PARIS), lambda i: bc.describe(i, None)):
        with pytest.raises(ValueError):
            call(naive)


def test_calendars_and_holidays_are_cached():
    assert bc.support_cell_calendar("57") is bc.support_cell_calendar("57")
    assert bc._holidays_for("57", 2026) is bc._holidays_for("57", 2026)
    cell = bc.support_cell_calendar("974")
    assert (cell.opening, cell.closing, cell.tz) == (time(9), time(18), PARIS)
    with pytest.raises(ValueError):
        BusinessCalendar(opening=time(18), closing=time(9))
