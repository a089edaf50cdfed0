"""Read-only transactions end with COMMIT on PostgreSQL so that psycopg's prepared statements survive them
(models/prepared.py); anything that wrote, or failed, still ends with a real ROLLBACK."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DataError

from cli import scenarios
from models import Structure, db
from test_web_support import ACSS, as_served, login


def _prepared(conn) -> int:
    return conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()


def test_statements_stay_prepared_across_read_only_transactions(app, postgres):
    with db.engine.connect() as conn:
        for _ in range(8):
            conn.execute(select(Structure.name).where(Structure.id == 1)).all()
            conn.rollback()  # what closing a request's session does
        assert _prepared(conn) >= 1


def test_a_statement_is_prepared_at_its_second_execution(app, postgres):
    """A worker runs a few hundred statement texts, many of them rarely: each is prepared at its second execution
    (psycopg's default waits for the sixth), and a connection keeps up to 200 of them (the default 100)."""
    with db.engine.connect() as conn:
        assert conn.connection.dbapi_connection.prepared_max == 200

        def prepared() -> list:
            return conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements "
                                        "WHERE statement LIKE 'SELECT structures.%%'").scalars().all()

        conn.execute(select(Structure.name).where(Structure.id == 1)).all()
        conn.rollback()
        assert prepared() == []
        conn.execute(select(Structure.name).where(Structure.id == 1)).all()
        conn.rollback()
        assert len(prepared()) == 1


def test_a_transaction_that_wrote_is_rolled_back(app, postgres):
    before = db.session.scalar(select(Structure.name).where(Structure.id == 1))
    db.session.remove()
    with db.engine.connect() as conn:
        for _ in range(8):
            conn.execute(select(Structure.name).where(Structure.id == 1)).all()
        conn.execute(text("UPDATE structures SET name = 'Écrit puis annulé' WHERE id = 1"))
        conn.rollback()
        assert conn.execute(select(Structure.name).where(Structure.id == 1)).scalar() == before
        conn.rollback()
    with db.engine.connect() as other:
        assert other.execute(select(Structure.name).where(Structure.id == 1)).scalar() == before


def test_a_write_hidden_in_a_cte_is_a_write(app, postgres):
    """Only statements that begin with SELECT count as reads: a WITH ... UPDATE is rolled back."""
    before = db.session.scalar(select(Structure.name).where(Structure.id == 1))
    db.session.remove()
    with db.engine.connect() as conn:
        conn.execute(text("WITH changed AS (UPDATE structures SET name = 'Par CTE' WHERE id = 1 RETURNING id) "
                          "SELECT count(*) FROM changed")).scalar()
        conn.rollback()
    with db.engine.connect() as other:
        assert other.execute(select(Structure.name).where(Structure.id == 1)).scalar() == before


def test_a_failed_transaction_is_rolled_back_and_the_connection_reused(app, postgres):
    with db.engine.connect() as conn:
        with pytest.raises(DataError):
            conn.execute(text("SELECT 1 / 0")).scalar()
        conn.rollback()
        assert conn.execute(text("SELECT 2")).scalar() == 2


def test_pages_keep_their_statements_prepared(app, postgres):
    """Through the application as served: each request closes its session, and the inbox's statements are
    still prepared on the pool's connection afterwards."""
    served = as_served(app)
    client = served.test_client()
    login(client, ACSS)
    for _ in range(8):
        assert client.get("/boite").status_code == 200
    with served.app_context():
        statements = db.session.connection().exec_driver_sql(
            "SELECT statement FROM pg_prepared_statements").scalars().all()
        db.session.remove()
        db.engine.dispose()
    assert any("FROM tasks" in statement for statement in statements), statements


def test_the_inbox_is_planned_once_per_connection(app, postgres, clock):
    """The inbox's statements carry their values in their text (models/kept.planned_once), so PostgreSQL keeps one
    plan for them instead of planning them again at every page: with parameters, their generic plan looked
    costlier than the custom ones and every execution was planned anew."""
    scenarios.run("grave_acss", clock, until="p2_ouvrir")  # a task to list: the page's one statement
    served = as_served(app)
    client = served.test_client()
    login(client, ACSS)
    for _ in range(20):  # prepared at its second run (models/prepared.py); PostgreSQL then plans it five times
        assert client.get("/boite").status_code == 200
    with served.app_context():
        plans = db.session.connection().exec_driver_sql(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%FROM tasks%%'").all()
        db.session.remove()
        db.engine.dispose()
    inbox = [(generic, custom) for statement, generic, custom in plans if "tasks.status = 'ready'" in statement]
    assert len(inbox) == 1, plans  # the page's rows with its counts, in one statement
    for generic, custom in inbox:
        assert generic >= 5 and custom <= 5, plans
