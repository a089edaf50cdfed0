"""The SSI numbers of dossiers: one counter row per year, taken in the transaction of the command that numbers.

The increment and the row lock are one statement (UPDATE … RETURNING): a concurrent numbering waits for the lock and
then reads the incremented value, and a rollback gives the number back, so numbers have no hole and no double.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, update

from models import Counter, db
from timekeeping.business_calendar import PARIS

COUNTERS = Counter.__table__
NEXT_VALUE = (update(COUNTERS).where(COUNTERS.c.name == bindparam("_name"))  # built once (row_writes.py says why)
              .values(value=COUNTERS.c.value + 1).returning(COUNTERS.c.value))


def next_number(now: datetime) -> str:
    """The next SSI number of the year as it is in Paris (a declaration at 00:30 on 1 January is the new year's)."""
    year = now.astimezone(PARIS).year
    name = f"dossier-{year}"
    value = db.session.execute(NEXT_VALUE, {"_name": name}).scalar_one_or_none()
    if value is None:  # the year's first number: two at once conflict on the name, and one command fails whole
        db.session.execute(insert(COUNTERS), [{"name": name, "value": 1}])
        value = 1
    return f"SSI-{year}-{value:05d}"
