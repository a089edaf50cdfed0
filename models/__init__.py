"""Every table of the application. The schema itself is owned by the Alembic migrations.

`models.core` holds the tables of the process (structures, users, definitions, instances, dossiers,
tasks, audit, outbox, timers); each capability that adds tables keeps them in its own module here. Importing
`models` registers them all, and `from models import X` works for any of them.
"""
from models.core import *  # noqa: F401,F403
from models.core import UTCDateTime, WAKE_KEY, database_key, db, note_due  # noqa: F401  (named for readers and linters)
from models.casework import Observable  # noqa: F401
from models.accounts import AccountEvent, LoginSession, LoginThrottle, PasswordLink, UserIdentity  # noqa: F401
from models.modeller import ModellerDraft  # noqa: F401
from models.statistics import DossierFacts  # noqa: F401
from models.api import ApiIdempotency, ApiToken  # noqa: F401
from models.versions import ActiveVersion, DeploymentEvent, PendingDeployment, ScenarioAcceptance  # noqa: F401
from models.journal import DossierLink, JournalEntry  # noqa: F401
from models.knowledge import (KnowledgeEntry, KnowledgeEvent, Provider, ReflexSheet, Retex,  # noqa: F401
                              SheetDispatch, WeakSignalAlert)
from models.platform import MailTemplateSet, SchedulerHeartbeat  # noqa: F401
