"""Every table of the application. The schema itself is owned by the Alembic migrations.

`models.core` holds the tables of the process (structures, users, definitions, instances, dossiers,
tasks, audit, outbox); each capability that adds tables keeps them in its own module here. Importing
`models` registers them all, and `from models import X` works for any of them.
"""
from models.core import *  # noqa: F401,F403
from models.core import UTCDateTime, WAKE_KEY, db, note_due  # noqa: F401  (named for readers and linters)
from models.casework import Observable  # noqa: F401
from models.platform import SchedulerHeartbeat  # noqa: F401
