"""What runs periodically reads indexes made for it, not the task, timer, dossier and outbox tables: the scheduler's
idle pass, its failed-work alert, and the readiness probe's (and metrics') count of tasks nobody can take.

An idle scheduler sweeps at least once a minute (scheduler.MAX_SLEEP). At 100,000 dossiers its reminder statements
read every open task's row through the worklist index (100-380 ms a pass) and the weak-signal one read the whole
dossier table: migration 0029 gave each its index. These tests capture the statements the code really sends and ask
the database whether the index made for each can serve it: PostgreSQL's plan must name it once sequential and bitmap
scans are priced out (a table's size here must not decide), SQLite must accept the statement forced onto it
(`INDEXED BY`). A partial index serves only a statement whose conditions imply its own; if a constant it relies on
became a bound parameter again, SQLite (and PostgreSQL's generic plans) would ignore it. The readiness count is
checked by the columns it reads, which a covering index must hold.
"""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import event, inspect, select
from sqlalchemy.exc import OperationalError

import scheduler
from knowledge import signals
from models import OutboxMessage, db
from workflow import operations, timers


def _sent(work) -> list[tuple[str, object]]:
    """The (statement, parameters) that `work()` sends."""
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
        db.session.rollback()
    return seen


def _serves(backend: str, index: str, table: str, statement: str, parameters) -> bool:
    """Whether `index` serves a captured statement on `table`.

    PostgreSQL: its plan names the index once sequential and bitmap scans are priced out (the tables are small).
    SQLite has no statistics to choose by, so the statement is sent with `INDEXED BY`, which it refuses (« no query
    solution ») when the index cannot serve it: for a partial index, when the conditions do not imply its own."""
    with db.engine.connect() as conn:
        if backend == "postgresql":
            return index in _postgres_plan(conn, statement, parameters)
        forced = statement.replace(f"FROM {table} ", f"FROM {table} INDEXED BY {index} ", 1)
        assert forced != statement
        try:
            conn.exec_driver_sql("EXPLAIN QUERY PLAN " + forced, parameters).all()
        except OperationalError as refused:
            assert "no query solution" in str(refused)
            return False
        return True


def _postgres_plan(conn, statement: str, parameters) -> str:
    """PostgreSQL's plan with sequential and bitmap scans priced out: an index is read in order, alone if it holds
    every column the statement needs (« Index Only Scan »)."""
    conn.exec_driver_sql("SET enable_seqscan = off")
    conn.exec_driver_sql("SET enable_bitmapscan = off")
    try:
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    finally:
        conn.exec_driver_sql("RESET enable_seqscan")
        conn.exec_driver_sql("RESET enable_bitmapscan")


def _one(sent, *fragments) -> tuple[str, object]:
    matching = [(s, p) for s, p in sent if all(f in " ".join(s.split()) for f in fragments)]
    assert len(matching) == 1, (fragments, [s for s, _ in sent])
    return matching[0]


def test_the_reminder_statements_read_the_tasks_not_yet_reminded(app, backend):
    sent = _sent(lambda: (timers.sweep_reminders(), scheduler.next_due()))
    for fragments in (("SELECT tasks.id FROM tasks", "tasks.due_at <"),
                      ("SELECT tasks.due_at FROM tasks", "tasks.due_at IS NOT NULL")):
        statement, parameters = _one(sent, *fragments, "reminded_at IS NULL")
        assert "tasks.status = 'ready'" in statement  # the constant the partial index's predicate needs
        assert _serves(backend, "ix_tasks_reminder", "tasks", statement, parameters), statement


def test_the_next_timer_wake_reads_the_few_timers_with_a_retry_or_a_lease(app, backend):
    sent = _sent(timers.next_timer_due)
    for column, index in (("next_attempt_at", "ix_timers_retry"), ("claimed_until", "ix_timers_lease")):
        statement, parameters = _one(sent, f"SELECT timers.{column} FROM timers")
        assert _serves(backend, index, "timers", statement, parameters), statement


def test_the_weak_signal_window_is_read_by_declaration_date(app, backend, clock):
    now = clock.now()
    sent = _sent(lambda: signals.groups(now - timedelta(days=7), now))
    statement, parameters = _one(sent, "FROM dossiers JOIN structures", "dossiers.declared_at >")
    assert _serves(backend, "ix_dossiers_declared_at", "dossiers", statement, parameters), statement


def test_a_partial_index_refused_where_its_predicate_is_not_implied(app, backend):
    """The check above can fail. SQLite refuses the reminder statement with « ready » bound again, as it was before
    (it matches a partial index's predicate only against constants). PostgreSQL, whose custom plans see a bound
    value, is shown a statement whose constant does not imply the predicate (« completed »): no plan uses the
    index."""
    statement, parameters = _one(_sent(timers.sweep_reminders), "SELECT tasks.id FROM tasks", "reminded_at IS NULL")
    if backend == "sqlite":
        bound = statement.replace("tasks.status = 'ready'", "tasks.status = ?", 1)
        assert not _serves(backend, "ix_tasks_reminder", "tasks", bound, ("ready", *parameters))
    else:
        assert not _serves(backend, "ix_tasks_reminder", "tasks", statement.replace("'ready'", "'completed'", 1),
                           parameters)


def test_the_readiness_count_of_tasks_nobody_can_take_reads_an_index_alone(app):
    """/pret and /metrics count them at each probe and scrape. For every role but the declarant's (the open tasks
    are almost all there) the count's statement reads only columns that ix_tasks_inbox holds, so the database can
    count on the index alone, never reading the task table: at 100,000 dossiers PostgreSQL does (25 ms instead of
    235 ms, docs/reference/benchmarks.md). Which scan a planner picks on this test's handful of rows says nothing
    about that, so the columns are what is checked, against the index as the database describes it."""
    statement, _ = _one(_sent(operations.counts), "SELECT count(*)", "FROM tasks", "tasks.role !=")
    read = set(re.findall(r"\btasks\.(\w+)", statement))
    index = next(i for i in inspect(db.engine).get_indexes("tasks") if i["name"] == "ix_tasks_inbox")
    held = {c for c in index["column_names"] if c}
    assert {"status", "role", "region"} <= read and read <= held, (read, held)
    declarant, _ = _one(_sent(operations.counts), "SELECT count(*)", "FROM tasks", "tasks.role =", "structure_id")
    assert "tasks.role = " in declarant  # the other part: the declarant's open tasks only


def test_the_failed_work_alert_looks_up_only_its_own_message_ids(app, backend, clock):
    """While a dead letter waits for an administrator, every scheduler pass asks which alerts were already queued:
    by their message ids, on the outbox's unique index, not by reading every alert ever sent (no index on kind: the
    whole outbox at each pass). The alert is still queued once."""
    db.session.add(OutboxMessage(kind="notification", recipients=["x@example.fr"], recipient_roles=[],
                                 subject="Perdu", body_text="corps", body_html="", status="dead", attempts=8,
                                 last_error="refusé", created_at=clock.now(), message_id="<perdu@example.fr>"))
    db.session.commit()
    sent = _sent(operations.alert_administrators)
    statement, parameters = _one(sent, "SELECT outbox.message_id FROM outbox")
    assert "outbox.message_id IN" in " ".join(statement.split()) and "outbox.kind" not in statement, statement
    if backend == "postgresql":
        unique = next(c["name"] for c in inspect(db.engine).get_unique_constraints("outbox")
                      if c["column_names"] == ["message_id"])
        assert _serves(backend, unique, "outbox", statement, parameters), statement
    else:  # the unique constraint's index is SQLite's own (sqlite_autoindex_outbox_N): its plan names it
        with db.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                                          parameters))
        assert "INDEX sqlite_autoindex_outbox" in plan and "(message_id=?)" in plan, plan
    queued = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == operations.ALERT_KIND)).all()
    assert len(queued) == 1
    assert operations.alert_administrators() == 0  # found by its id on the next pass: not queued twice
