"""The core tables: structures, users, process definitions and instances, dossiers, tasks, audit, outbox."""
from __future__ import annotations

from datetime import datetime, timezone

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, and_, false, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes stored as UTC on both SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


# session.info key holding the earliest due instant (timer, message, task) written by the current
# transaction: the scheduler reads it after commit to wake its sweep early (scheduler._after_commit).
WAKE_KEY = "scheduler_wake"


def note_due(session, instant) -> None:
    """Record that this transaction writes a row due at `instant` (None is ignored)."""
    if instant is None:
        return
    known = session.info.get(WAKE_KEY)
    session.info[WAKE_KEY] = min(instant, known) if known else instant


db = SQLAlchemy(model_class=Base)


def database_key() -> tuple:
    """The current application's database, for what a process remembers per database (kept workflows, the
    stored template set): by engine and name, since an engine's id alone may be reused after it is gone."""
    engine = db.engine
    return id(engine), engine.url.host, engine.url.database


class ProcessDefinition(db.Model):
    """A deployed version of a BPMN process with its forms, identified by content hash."""

    __tablename__ = "process_definitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(120), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Large and immutable: loaded only when read (commands use the parsed copy cached by content hash).
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    forms: Mapped[dict] = mapped_column(JSON, default=dict, deferred=True)
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str | None] = mapped_column(String(120))


class Structure(db.Model):
    """A health structure that must declare incidents (one site, FINESS ET)."""

    __tablename__ = "structures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    finess_ej: Mapped[str] = mapped_column(String(9))
    finess_et: Mapped[str] = mapped_column(String(9), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(80), index=True)
    department: Mapped[str] = mapped_column(String(3))
    city: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(40), default="", server_default="")
    oiv: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")


class User(UserMixin, db.Model):
    """A person who logs in; role and scope (region or structure) decide what they see."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(40), index=True)
    region: Mapped[str | None] = mapped_column(String(80))
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id"))
    phone: Mapped[str] = mapped_column(String(40), default="")
    title: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    # The server-side session (LoginSession.id) this object was logged in or loaded with (not a column).
    login_session_id = None

    def get_id(self) -> str | None:
        """Flask-Login's identifier: the login session record, so that revoking it ends the session."""
        return self.login_session_id

    @property
    def is_active(self) -> bool:
        """Flask-Login's view of the account: a deactivated account cannot log in."""
        return bool(self.active)


class ProcessInstance(db.Model):
    """The live SpiffWorkflow state of one dossier, pinned to its process definition."""

    __tablename__ = "process_instances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    state_json: Mapped[str] = mapped_column(Text)
    state_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    # Which compaction rules the engine applied to this instance (engine/compaction.py's ENGINE_REVISION when
    # started): replay applies the same ones, so that history written by any release still verifies.
    engine_revision: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class Dossier(db.Model):
    """The business view of an instance: the fields people search and filter on."""

    __tablename__ = "dossiers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), unique=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    region: Mapped[str] = mapped_column(String(80), index=True)
    structure_kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(255), default="")
    incident_types: Mapped[list] = mapped_column(JSON, default=list)
    qualification: Mapped[str | None] = mapped_column(String(40), index=True)
    health_impact: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(60), index=True)
    phase: Mapped[str] = mapped_column(String(60), default="")
    off_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    # The markers of priority synced at command time (workflow/sync.py): urgent help asked, the declarant's
    # impact on care (referentiel.CARE_IMPACTS), and their weighted sum (referentiel.priority_score).
    urgent_help: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    care_impact: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    military: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # The national body the armées chose to inform (hfds|acss) and whether their synthesis is
    # « Diffusion restreinte »: synced when the armées' task completes, read by web/access.py in SQL.
    addressed_to: Mapped[str | None] = mapped_column(String(40))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    declarant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Indexed for the weak-signal sweep, which reads the dossiers declared in its window at every pass.
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # The dossiers the national bodies' worklists leave out (military ones not addressed to them), read
    # from the index alone (web/access.inbox_scope).
    __table_args__ = (Index("ix_dossiers_hidden", "military", "addressed_to", "id"),)


class TaskRow(db.Model):
    """A materialized user task, so the inbox is one indexed query and never a tree walk."""

    __tablename__ = "tasks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    spec_name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(40))
    form: Mapped[str | None] = mapped_column(String(255))
    ui_form: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="ready")
    region: Mapped[str] = mapped_column(String(80))
    structure_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the assignment of the mining export
    # The dossier's priority, copied on its open tasks so that the inbox orders on the task table alone.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by the engine when it opens the task on a dossier that is not a military hospital's (a dossier never
    # changes kind): the national worklists then need not check the task against the military dossiers hidden
    # from them (web/access.inbox_scope). False, the default, only means "check it against the dossier".
    civil: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        # Inboxes of the national roles (no region): counted and ordered by due date on the index alone;
        # dossier_id last so that the few hidden dossiers (web/access.inbox_scope) are excluded there too.
        # Every worklist index ends with dossier_id and civil: what the visibility check reads (inbox_scope).
        Index("ix_tasks_worklist", "status", "role", "due_at", "created_at", "id", "claimed_by", "dossier_id",
              "civil"),
        # The inbox's « plus récentes » / « plus anciennes » orders, read in order from the index.
        Index("ix_tasks_recent", "status", "role", "created_at", "id", "dossier_id", "civil"),
        # « Prises par moi »: a user's claimed tasks, counted on the index alone without reading the worklist.
        Index("ix_tasks_claimed", "status", "claimed_by", "role", "dossier_id", "civil"),
    )


# The inbox's default order, priority (highest first) then due date (none last), read in order from the index so
# that the first page stops after 25 entries (PostgreSQL: an ascending due_at is NULLS LAST): for the national
# roles, and per region (an ARS, a national body filtering on a region), where it is also what is counted.
Index("ix_tasks_priority", TaskRow.status, TaskRow.role, TaskRow.priority.desc(), TaskRow.due_at, TaskRow.created_at,
      TaskRow.id, TaskRow.claimed_by, TaskRow.dossier_id, TaskRow.civil)
Index("ix_tasks_inbox", TaskRow.status, TaskRow.role, TaskRow.region, TaskRow.priority.desc(), TaskRow.due_at,
      TaskRow.created_at, TaskRow.id, TaskRow.claimed_by, TaskRow.dossier_id, TaskRow.civil)
# The reminder sweep's open tasks not yet reminded, in due-date order (workflow/timers.py): the few it can concern,
# where the worklist index led to every open task's row (100-380 ms at 100,000 dossiers, at each pass of an idle
# scheduler). Partial, so the statements that use it spell the same predicate with constants (TASK_READY there).
REMINDER_PENDING = and_(TaskRow.status == "ready", TaskRow.reminded_at.is_(None))
Index("ix_tasks_reminder", TaskRow.due_at, postgresql_where=REMINDER_PENDING, sqlite_where=REMINDER_PENDING)


class Draft(db.Model):
    """A form saved half-filled, resumed later by the same user."""

    __tablename__ = "drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("task_id", "user_id"),)


class AuditEvent(db.Model):
    """One command on one instance; append-only and hash-chained (DESIGN.md decision 4)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    actor_role: Mapped[str] = mapped_column(String(40), default="")
    command: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    service_results: Mapped[list] = mapped_column(JSON, default=list)
    visited: Mapped[list] = mapped_column(JSON, default=list)
    states: Mapped[list] = mapped_column(JSON, default=list)
    state_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (UniqueConstraint("instance_id", "seq"),)


class OutboxMessage(db.Model):
    """A notification to deliver after commit (DESIGN.md decision 2)."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id"), index=True)
    event_seq: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(60))
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    recipient_roles: Mapped[list] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(255))
    # A command queues a message with its template context and the hash of the template set it was
    # written for (mail/notifications.py); the bodies are rendered from that pinned set when the
    # sender delivers it, and stored then. Rows written already rendered have no template set.
    stored_text: Mapped[str] = mapped_column("body_text", Text, default="")
    stored_html: Mapped[str] = mapped_column("body_html", Text, default="")
    template_set: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How far the last SMTP attempt got (mailer.STAGES): only "data" is committed before the step
    # that could make the server accept the message; the others are written with its outcome.
    smtp_stage: Mapped[str | None] = mapped_column(String(20))

    # (row) -> (text, html) from its pinned templates; installed by mail.notifications (a higher layer).
    renderer = None

    @property
    def rendered(self) -> bool:
        """Whether the bodies are stored (sent, or written rendered) rather than still to render."""
        return not self.template_set or bool(self.stored_text)

    def bodies(self) -> tuple[str, str]:
        """Plain-text and HTML bodies to show: the stored ones, else rendered now from the pinned templates
        (a message that cannot be rendered says so; the sender makes it a dead letter with the reason)."""
        if self.rendered:
            return self.stored_text, self.stored_html
        try:
            return OutboxMessage.renderer(self)
        except Exception as exc:
            return f"Ce message ne peut pas être affiché : {exc}.\n", ""

    @property
    def body_text(self) -> str:
        return self.bodies()[0]

    @body_text.setter
    def body_text(self, value: str) -> None:
        self.stored_text = value

    @property
    def body_html(self) -> str:
        return self.bodies()[1]

    @body_html.setter
    def body_html(self, value: str) -> None:
        self.stored_html = value


class Timer(db.Model):
    """A BPMN timer waiting in an instance, as a due row the scheduler can claim."""

    __tablename__ = "timers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    spec_name: Mapped[str] = mapped_column(String(120))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id"),
        Index("ix_timers_due", "status", "due_at"),
        # The scheduler's next wake (workflow/timers.next_timer_due): the earliest retry and the earliest lease
        # among the few timers that have one, not every pending timer's row (7-12 ms at 100,000 dossiers).
        Index("ix_timers_retry", "status", "next_attempt_at", postgresql_where=text("next_attempt_at IS NOT NULL"),
              sqlite_where=text("next_attempt_at IS NOT NULL")),
        Index("ix_timers_lease", "status", "claimed_until", postgresql_where=text("claimed_until IS NOT NULL"),
              sqlite_where=text("claimed_until IS NOT NULL")),
    )


class Counter(db.Model):
    """Named counters (dossier numbers per year), incremented under a row lock."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKey(db.Model):
    """A client's key for starting a declaration: a retry with the same key returns the same dossier."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(64))
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("user_id", "key"),)

